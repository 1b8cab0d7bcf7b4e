#pragma once
// Training checkpoints: the whole state of a run in one lowbit binary file (core/io.hpp:
// magic "LOWBCKPT", per-section CRC32, atomic replace), so a resumed run continues exactly.
//
// Sections:
//   meta        u32 layout version, i64 epoch, i64 step, f64 best accuracy, i64 best epoch,
//               running train totals (f64 loss sum, i64 correct, i64 seen), string model summary line
//   config      string: the effective config as YAML
//   model       the model's state dict (layers/state_io.hpp)
//   model_rngs  generators owned by layers (Dropout, stochastic quantizers)
//   optimizer   the optimizer's full state
//   loader      the training loader's position (next batch to deliver)
//   metrics     the metric history (apps/metrics.hpp)

#include "apps/config.hpp"
#include "apps/metrics.hpp"
#include "core/io.hpp"
#include "data/loader.hpp"
#include "layers/module.hpp"
#include "optim/optimizer.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::app {

inline constexpr std::string_view kCheckpointMagic = "LOWBCKPT";
inline constexpr std::uint32_t kCheckpointVersion = 1;

// Counters of the run besides the big state objects.
struct RunProgress {
  std::int64_t epoch = 0;  // epoch in progress (== loader position epoch)
  std::int64_t step = 0;   // optimizer steps done
  double best_accuracy = -1.0;
  std::int64_t best_epoch = -1;
  // Train metrics accumulated since the last logged row.
  double loss_sum = 0.0;
  std::int64_t correct = 0;
  std::int64_t seen = 0;
};

struct TrainingState {
  layers::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  data::DataLoader* loader = nullptr;
  RunProgress progress;
  std::vector<MetricRow> history;
};

void save_checkpoint(const std::string& path, const Config& config, const TrainingState& state);

// The sections every checkpoint starts with (meta, config), for loops that keep other state after
// them (EBP's fields): written and read in one place.
void write_checkpoint_head(core::BinaryWriter& out, const Config& config, const RunProgress& progress);
RunProgress read_checkpoint_progress(const core::BinaryReader& in);

// Reads only the stored config (to rebuild the model before loading the rest).
Config read_checkpoint_config(const std::string& path);

// Loads everything into `state` (whose model/optimizer/loader are built from a compatible config).
// Errors name the file and what does not match.
void load_checkpoint(const std::string& path, TrainingState& state);

// Loads only the model weights (evaluate, export).
void load_checkpoint_model(const std::string& path, layers::Module& model);

// train.init_from: loads the model weights of `path` non-strictly. Entries the model lacks (a
// quantized run's quantizer buffers) are skipped and entries the checkpoint lacks (quantizer
// buffers of a float checkpoint) keep their initial values; a dtype or shape mismatch is an error
// naming the key. Returns the counts for the run's log.
struct InitReport {
  std::size_t loaded = 0;
  std::vector<std::string> missing;     // in the model, not in the checkpoint
  std::vector<std::string> unexpected;  // in the checkpoint, not in the model
  std::string summary(const std::string& path) const;
};
InitReport init_model_from(const std::string& path, layers::Module& model);

// Keys whose values differ between two configs and that make a checkpoint unusable for a resume
// (model, data, optimizer, schedule, and the train keys that shape the run). Empty: compatible.
std::vector<std::string> incompatible_keys(const Config& stored, const Config& current);

}  // namespace lowbit::app
