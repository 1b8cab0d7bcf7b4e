#pragma once
// Builds what a run needs from its config: datasets, loaders, model, optimizer, schedule, loss.
// One place maps config keys onto the option structs of data/, layers/ and optim/.

#include "apps/config.hpp"
#include "data/dataset.hpp"
#include "data/loader.hpp"
#include "layers/models.hpp"
#include "layers/module.hpp"
#include "optim/optimizer.hpp"
#include "optim/schedule.hpp"

#include <memory>
#include <string>
#include <vector>

namespace lowbit::app {

// Fills every built-in registry once (datasets, models, optimizers, schedules, quantizers).
void register_builtins();

// Checks what the schema alone cannot (quantizer names and roles, bits, model.activation) after
// loading the config's plugins: load_config and parse_config call it.
void check_config(const Config& config);

// Loads plugin shared libraries (layers/plugin.hpp) after the built-ins, so a plugin cannot take a
// built-in name. A file already loaded, or stood in for by a loaded one of the same file name, is
// skipped. Relative paths are against the working directory.
void load_plugins(const std::vector<std::string>& paths);

// Loads the plugins a checkpoint's stored config lists, before the config is read; a missing one is
// an error naming the file the checkpoint needs and suggesting --plugin.
void load_checkpoint_plugins(const std::string& checkpoint);

// What a run records as its `plugins`: every --plugin path, then the config's entries, each as the
// absolute file loaded for it, without repeats.
std::vector<std::string> recorded_plugins(const std::vector<std::string>& config_plugins,
                                          const std::vector<std::string>& cli_plugins);

// Sets the OpenMP (and so OpenBLAS) thread count from train.threads / OMP_NUM_THREADS; returns it.
int configure_threads(const TrainConfig& train);

struct Datasets {
  std::shared_ptr<const data::Dataset> train, test;
  data::ChannelStats stats;  // normalisation statistics (config or the train split's)
};
Datasets load_datasets(const DataConfig& config, std::uint64_t seed);

// Training loader: shuffle, augmentation from the config, normalisation.
std::unique_ptr<data::DataLoader> make_train_loader(const Config& config, const Datasets& d);
// Evaluation loader over any split: no shuffle, no augmentation, normalisation only.
std::unique_ptr<data::DataLoader> make_eval_loader(const Config& config, const Datasets& d,
                                                   std::shared_ptr<const data::Dataset> split);

layers::ModelSpec model_spec(const Config& config, const data::Dataset& dataset);
layers::ModulePtr build_model(const Config& config, const data::Dataset& dataset);

// A checkpoint's config (with data.root replaced when `data_root` is not empty), its datasets
// and its model with the trained weights loaded. The checkpoint's plugins must be loaded first.
struct TrainedModel {
  Config config;
  Datasets data;
  layers::ModulePtr model;
};
TrainedModel load_trained_model(const std::string& checkpoint, const std::string& data_root = "");

// Per layer: weight/input bits, parameters, MACs, float vs packed bytes (quant/summary.hpp).
std::string model_summary(layers::Module& model, const data::Dataset& dataset);

// Parameter groups from the model (quant::make_param_groups) and the configured optimizer.
std::unique_ptr<optim::Optimizer> make_optimizer(const OptimConfig& config, layers::Module& model);
std::unique_ptr<optim::LrSchedule> make_schedule(const Config& config, std::int64_t steps_per_epoch);

// The configured loss on a batch: logits (N, C), labels (N) i64 -> scalar.
core::Tensor compute_loss(const TrainConfig& config, const core::Tensor& logits,
                          const core::Tensor& labels);

}  // namespace lowbit::app
