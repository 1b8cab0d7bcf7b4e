#pragma once
// Progress of a long loop: a live line rewritten in place on a terminal, plain periodic lines
// (every `plain_interval_s` seconds) when the output is a file or a pipe.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lowbit::app {

struct ProgressState {
  std::int64_t epoch = 0, epochs = 0;
  std::int64_t step_in_epoch = 0, steps_per_epoch = 0;
  std::int64_t steps_left = 0;  // in the whole run, for the ETA
  double loss = 0.0, accuracy = 0.0, images_per_second = 0.0, steps_per_second = 0.0;
};

class Progress {
 public:
  explicit Progress(std::FILE* out = stderr, double plain_interval_s = 15.0);
  void update(const ProgressState& s);
  // Ends the live line (if any) and prints `text` on its own line.
  void line(const std::string& text);
  bool interactive() const { return interactive_; }

 private:
  std::FILE* out_;
  bool interactive_;
  bool live_line_open_ = false;
  double plain_interval_s_;
  std::chrono::steady_clock::time_point last_print_{};
};

std::string format_duration(double seconds);  // "1h02m", "3m05s", "42s"

// Seconds per step, exponentially smoothed, for the live line's speed and ETA.
class StepTimer {
 public:
  void add(double step_seconds) {
    smoothed_ = smoothed_ == 0.0 ? step_seconds : 0.9 * smoothed_ + 0.1 * step_seconds;
  }
  double steps_per_second() const { return smoothed_ > 0 ? 1.0 / smoothed_ : 0.0; }

 private:
  double smoothed_ = 0.0;
};

// The live line of a training step: epoch (0-based) of `epochs`, the batch's index in its epoch,
// steps left in the run, the running loss and accuracy, the speed of `timer` at `batch_size`.
inline ProgressState step_progress(std::int64_t epoch, std::int64_t epochs, std::int64_t batch_index,
                                   std::int64_t steps_per_epoch, std::int64_t steps_left, double loss,
                                   double accuracy, const StepTimer& timer, std::int64_t batch_size) {
  ProgressState ps;
  ps.epoch = epoch + 1;
  ps.epochs = epochs;
  ps.step_in_epoch = batch_index + 1;
  ps.steps_per_epoch = steps_per_epoch;
  ps.steps_left = steps_left;
  ps.loss = loss;
  ps.accuracy = accuracy;
  ps.steps_per_second = timer.steps_per_second();
  ps.images_per_second = ps.steps_per_second * static_cast<double>(batch_size);
  return ps;
}

}  // namespace lowbit::app
