#include "apps/metrics.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace lowbit::app {
namespace {

constexpr const char* kCsvHeader = "kind,epoch,step,lr,loss,accuracy,images_per_second\n";

std::string csv_line(const MetricRow& r) {
  return fmt::format("{},{},{},{:.6g},{:.6f},{:.6f},{:.1f}\n", r.kind, r.epoch, r.step, r.lr, r.loss,
                     r.accuracy, r.images_per_second);
}

std::string json_line(const MetricRow& r) {
  return fmt::format(
      "{{\"kind\":\"{}\",\"epoch\":{},\"step\":{},\"lr\":{:.6g},\"loss\":{:.6f},\"accuracy\":{:.6f},"
      "\"images_per_second\":{:.1f}}}\n",
      r.kind, r.epoch, r.step, r.lr, r.loss, r.accuracy, r.images_per_second);
}

void append_text(const std::string& path, const std::string& text) {
  std::FILE* f = std::fopen(path.c_str(), "a");
  core::check(f != nullptr, "cannot write '{}': {}", path, std::strerror(errno));
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

}  // namespace

MetricsLog::MetricsLog(std::string run_dir, std::vector<MetricRow> history)
    : run_dir_(std::move(run_dir)), history_(std::move(history)) {
  rewrite_files();
}

void MetricsLog::rewrite_files() const {
  std::string csv = kCsvHeader, json;
  for (const auto& r : history_) {
    csv += csv_line(r);
    json += json_line(r);
  }
  for (const auto& [name, text] : {std::pair{"metrics.csv", csv}, std::pair{"metrics.jsonl", json}}) {
    const std::string path = (std::filesystem::path(run_dir_) / name).string();
    std::FILE* f = std::fopen(path.c_str(), "w");
    core::check(f != nullptr, "cannot write '{}': {}", path, std::strerror(errno));
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
}

void MetricsLog::append(const MetricRow& row) {
  history_.push_back(row);
  append_text((std::filesystem::path(run_dir_) / "metrics.csv").string(), csv_line(row));
  append_text((std::filesystem::path(run_dir_) / "metrics.jsonl").string(), json_line(row));
}

// Encoding: per row, kind as u8 length + bytes, then epoch, step (i64) and four f64.
std::vector<std::uint8_t> MetricsLog::encode(std::span<const MetricRow> rows) {
  std::vector<std::uint8_t> out;
  auto put = [&out](const void* p, std::size_t n) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    out.insert(out.end(), b, b + n);
  };
  for (const auto& r : rows) {
    const auto len = static_cast<std::uint8_t>(std::min<std::size_t>(r.kind.size(), 255));
    put(&len, 1);
    put(r.kind.data(), len);
    put(&r.epoch, 8);
    put(&r.step, 8);
    for (double v : {r.lr, r.loss, r.accuracy, r.images_per_second}) put(&v, 8);
  }
  return out;
}

std::vector<MetricRow> MetricsLog::decode(std::span<const std::uint8_t> bytes) {
  std::vector<MetricRow> rows;
  std::size_t pos = 0;
  auto get = [&](void* p, std::size_t n) {
    core::check(pos + n <= bytes.size(), "metrics history is truncated at byte {}", pos);
    std::memcpy(p, bytes.data() + pos, n);
    pos += n;
  };
  while (pos < bytes.size()) {
    MetricRow r;
    std::uint8_t len = 0;
    get(&len, 1);
    r.kind.resize(len);
    get(r.kind.data(), len);
    get(&r.epoch, 8);
    get(&r.step, 8);
    for (double* v : {&r.lr, &r.loss, &r.accuracy, &r.images_per_second}) get(v, 8);
    rows.push_back(std::move(r));
  }
  return rows;
}

}  // namespace lowbit::app
