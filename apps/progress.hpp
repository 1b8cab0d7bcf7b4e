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

}  // namespace lowbit::app
