#include "apps/run_control.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <string_view>
#include <utility>
#include <vector>

namespace lowbit::app {
namespace {

namespace fs = std::filesystem;

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

}  // namespace

StopSignals::StopSignals() {
  g_stop_signal.store(0);
  previous_int_ = std::signal(SIGINT, on_stop_signal);
  previous_term_ = std::signal(SIGTERM, on_stop_signal);
}

StopSignals::~StopSignals() {
  std::signal(SIGINT, previous_int_);
  std::signal(SIGTERM, previous_term_);
}

bool StopSignals::requested() const { return g_stop_signal.load() != 0; }

void write_text_atomically(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp);
    core::check(out.good(), "cannot write '{}'", tmp.string());
    out << text;
    core::check(out.good(), "cannot write '{}' (disk full?)", tmp.string());
  }
  fs::rename(tmp, path);
}

std::string checkpoint_name(std::int64_t epoch) { return fmt::format("epoch-{:03}.ckpt", epoch); }

void prune_checkpoints(const fs::path& dir, std::int64_t keep) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    constexpr std::string_view prefix = "epoch-", suffix = ".ckpt";
    if (name.size() <= prefix.size() + suffix.size() || !name.starts_with(prefix) || !name.ends_with(suffix)) {
      continue;
    }
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(digits), entry.path());
  }
  std::sort(found.begin(), found.end());
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < found.size(); ++i) {
    fs::remove(found[i].second);
  }
}

std::int64_t debug_kill_step() {
  const char* env = std::getenv("LOWBIT_DEBUG_KILL_AT_STEP");
  return env != nullptr ? std::atoll(env) : -1;
}

void maybe_debug_kill(std::int64_t step) {
  static const std::int64_t kill_at = debug_kill_step();
  if (step == kill_at) std::raise(SIGKILL);
}

}  // namespace lowbit::app
