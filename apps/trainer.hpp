#pragma once
// The training loop: builds a run from its config, resumes it when asked, trains with periodic
// evaluation, metrics, progress and checkpoints, and stops cleanly on SIGINT/SIGTERM or a
// non-finite loss.

#include "apps/config.hpp"

#include <string>

namespace lowbit::app {

struct TrainRequest {
  Config config;
  std::string config_path;  // names the run when train.name is empty
  std::string resume;       // "": fresh run; "auto": last.ckpt of the run directory if present; or a path
  std::string run_dir;      // "": train.out_dir / run name
};

// Exit codes of a run.
inline constexpr int kExitDone = 0;
inline constexpr int kExitNonFiniteLoss = 3;
inline constexpr int kExitInterrupted = 130;

std::string run_directory(const TrainRequest& request);

// The checkpoint a run resumes from: "" for a fresh run (or --resume auto with no last.ckpt in
// run_dir yet); a --resume path that does not exist is an error.
std::string resume_path(const TrainRequest& request, const std::string& run_dir);

// Trains; returns one of the exit codes above. Errors (bad data, bad checkpoint) throw core::Error.
int run_training(const TrainRequest& request);

}  // namespace lowbit::app
