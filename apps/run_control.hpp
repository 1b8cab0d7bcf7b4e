#pragma once
// What every training loop (trainer.cpp, distill.cpp, ebp_trainer.cpp) shares to stop cleanly and
// write its files safely: SIGINT/SIGTERM capture, atomic text files, numbered checkpoint pruning,
// and the test hook that kills the process at a known step.

#include <cstdint>
#include <filesystem>
#include <string>

namespace lowbit::app {

// Installs SIGINT/SIGTERM handlers for its lifetime (restoring the previous ones); requested()
// turns true once either signal arrives, so the loop can save and exit at a step boundary.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  bool requested() const;

 private:
  void (*previous_int_)(int);
  void (*previous_term_)(int);
};

// Writes `text` to path.tmp and renames it over `path`.
void write_text_atomically(const std::filesystem::path& path, const std::string& text);

// "epoch-NNN.ckpt".
std::string checkpoint_name(std::int64_t epoch);
// Keeps the newest `keep` numbered checkpoints (epoch-NNN.ckpt) in `dir`.
void prune_checkpoints(const std::filesystem::path& dir, std::int64_t keep);

// LOWBIT_DEBUG_KILL_AT_STEP=N: the step after which a loop SIGKILLs itself (tests of resuming after
// kill -9); -1 when unset.
std::int64_t debug_kill_step();
// SIGKILLs the process when `step` is the debug kill step.
void maybe_debug_kill(std::int64_t step);

}  // namespace lowbit::app
