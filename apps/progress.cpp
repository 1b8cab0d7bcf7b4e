#include "apps/progress.hpp"

#include <fmt/format.h>

#include <cmath>
#include <unistd.h>

namespace lowbit::app {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<std::int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}s", s);
}

Progress::Progress(std::FILE* out, double plain_interval_s)
    : out_(out), interactive_(isatty(fileno(out)) != 0), plain_interval_s_(plain_interval_s) {}

void Progress::update(const ProgressState& s) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  const bool last_step = s.step_in_epoch == s.steps_per_epoch;
  if (interactive_ ? since < 0.2 && !last_step : since < plain_interval_s_ && !last_step) return;
  last_print_ = now;
  const double eta = s.steps_per_second > 0 ? static_cast<double>(s.steps_left) / s.steps_per_second : -1;
  const std::string text = fmt::format(
      "epoch {}/{}  step {}/{}  loss {:.4f}  acc {:.2f}%  {:.0f} img/s  ETA {}", s.epoch, s.epochs,
      s.step_in_epoch, s.steps_per_epoch, s.loss, 100.0 * s.accuracy, s.images_per_second,
      format_duration(eta));
  if (interactive_) {
    fmt::print(out_, "\r\033[K{}", text);
    live_line_open_ = true;
  } else {
    fmt::print(out_, "{}\n", text);
  }
  std::fflush(out_);
}

void Progress::line(const std::string& text) {
  if (live_line_open_) fmt::print(out_, "\r\033[K");
  live_line_open_ = false;
  fmt::print(out_, "{}\n", text);
  std::fflush(out_);
}

}  // namespace lowbit::app
