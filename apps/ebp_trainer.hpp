#pragma once
// Expectation BackPropagation runs (methods.md 3a; quant/ebp.hpp): `train` with optim.name: ebp
// trains a fully connected binary-weight network (model.name: mlp, model.hidden) by EBP's
// analytic, parameter-free update instead of gradients. There is no learning rate, optimizer,
// schedule, loss or quantizer to set: a config that sets any of those keys away from its default
// is rejected, naming the keys (a silently ignored optim.lr would suggest it tunes something).
//
// The run behaves like any other: run directory, progress line, metrics.csv (kind "train": the
// online mean-field NLL and EBP-P accuracy of each batch before its update; "test": EBP-D, the
// deterministic binary network W = sign(h); "test_ebp_p": EBP-P, the posterior-averaged output),
// checkpoints last/best/epoch-NNN (best by EBP-D), --resume auto, SIGINT saves and exits.
//
// Checkpoint: a lowbit checkpoint file (magic LOWBCKPT, apps/checkpoint.hpp) with the sections
//   meta     u32 layout 1, i64 epoch, i64 step, f64 best accuracy, i64 best epoch, f64 loss sum,
//            i64 correct, i64 seen (the layout of an ordinary checkpoint's meta)
//   config   the effective config as YAML (so read_checkpoint_config works on it)
//   ebp      u32 layout 1, u64 layer count, per layer: i64 in, i64 out, vector<f32> h (out x in,
//            row-major), vector<f32> b
//   loader   the training loader's position
//   metrics  the metric history

#include "apps/trainer.hpp"

#include <cstdint>
#include <string>

namespace lowbit::app {

bool is_ebp_config(const Config& config);
// Rejects what EBP cannot honour (another model, quantizers, learning-rate keys, ...).
void check_ebp_config(const Config& config);

// Trains an EBP run; returns one of the exit codes of trainer.hpp.
int run_ebp_training(const TrainRequest& request);

// True when `checkpoint` was written by an EBP run (its config has optim.name: ebp).
bool is_ebp_checkpoint(const std::string& checkpoint);

struct EbpEvalResult {
  double accuracy_deterministic = 0.0;  // EBP-D
  double accuracy_probabilistic = 0.0;  // EBP-P
  double nll = 0.0;                     // mean-field -sum_k log Phi(y_k z_k), mean per example
  std::int64_t count = 0;
};

// `evaluate` of an EBP checkpoint on `split` ("test" or "train"); data_root as in evaluate.
EbpEvalResult evaluate_ebp_checkpoint(const std::string& checkpoint, const std::string& split,
                                      const std::string& data_root, std::int64_t threads);
// Prints it for the evaluate app (text or JSON); returns the process exit code.
int report_ebp_evaluation(const std::string& checkpoint, const std::string& split,
                          const std::string& data_root, std::int64_t threads, bool json);

}  // namespace lowbit::app
