#pragma once
// Metric history of a run: one row per logged step or evaluation, appended to metrics.csv and
// metrics.jsonl in the run directory and kept in memory (checkpoints store it; the plot reads it).

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace lowbit::app {

struct MetricRow {
  std::string kind;  // "train" (running averages since the last row) or "test"
  std::int64_t epoch = 0;
  std::int64_t step = 0;  // global optimizer steps done
  double lr = 0.0;
  double loss = 0.0;
  double accuracy = 0.0;  // fraction in [0, 1]
  double images_per_second = 0.0;
};

class MetricsLog {
 public:
  // Opens (appends to) run_dir/metrics.csv and metrics.jsonl. Rows already in `history` (from a
  // checkpoint) are rewritten so the files match the resumed state exactly.
  MetricsLog(std::string run_dir, std::vector<MetricRow> history);
  void append(const MetricRow& row);
  const std::vector<MetricRow>& history() const { return history_; }

  static std::vector<std::uint8_t> encode(std::span<const MetricRow> rows);
  static std::vector<MetricRow> decode(std::span<const std::uint8_t> bytes);

 private:
  void rewrite_files() const;
  std::string run_dir_;
  std::vector<MetricRow> history_;
};

}  // namespace lowbit::app
