#include "tests/data/data_test_util.hpp"

#include "core/error.hpp"

#include <fmt/format.h>

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

namespace lowbit::test {

namespace fs = std::filesystem;

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const fs::path p = fs::temp_directory_path() / ("lowbit_data_test_" + std::to_string(::getpid()) +
                                                  "_" + std::to_string(counter.fetch_add(1)));
  fs::remove_all(p);
  fs::create_directories(p);
  path_ = p.string();
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes, bool gzip) {
  fs::create_directories(fs::path(path).parent_path());
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    core::check(f != nullptr, "cannot create {}", path);
    const int wrote =
        bytes.empty() ? 0 : gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
    core::check(wrote == static_cast<int>(bytes.size()), "gzwrite failed on {}", path);
    return;
  }
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  core::check(static_cast<bool>(out), "cannot write {}", path);
}

std::vector<std::uint8_t> idx_bytes(std::uint32_t magic, const std::vector<std::uint32_t>& dims,
                                    const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out;
  auto put = [&](std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(v >> shift));
  };
  put(magic);
  for (std::uint32_t d : dims) put(d);
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

IndexDataset::IndexDataset(std::int64_t n, std::int64_t classes, data::ItemShape shape,
                           std::int64_t fail_index, std::int64_t delay_us)
    : n_(n), classes_(classes), shape_(shape), fail_index_(fail_index), delay_us_(delay_us) {
  for (std::int64_t k = 0; k < classes; ++k) names_.push_back(fmt::format("c{}", k));
}

void IndexDataset::get(std::int64_t index, float* image_out, std::int64_t& label) const {
  check_index(index);
  if (delay_us_ > 0) std::this_thread::sleep_for(std::chrono::microseconds(delay_us_));
  core::check(index != fail_index_, "index_dataset: example {} is unreadable", index);
  std::fill(image_out, image_out + shape_.numel(), value_of(index));
  label = index % classes_;
}

}  // namespace lowbit::test
