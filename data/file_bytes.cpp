#include "data/file_bytes.hpp"

#include "core/error.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace lowbit::data {

namespace {

// Closes a gzFile on scope exit.
struct GzCloser {
  gzFile file;
  ~GzCloser() {
    if (file != nullptr) gzclose_r(file);
  }
};

}  // namespace

bool is_regular_file(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  if (dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

std::vector<std::uint8_t> read_file_maybe_gz(const std::string& path) {
  core::check(is_regular_file(path), "{} does not exist or is not a regular file", path);
  std::error_code ec;
  const auto on_disk = std::filesystem::file_size(path, ec);
  gzFile file = gzopen(path.c_str(), "rb");
  core::check(file != nullptr, "cannot open {}: {}", path, std::strerror(errno));
  GzCloser closer{file};
  gzbuffer(file, 1 << 17);

  std::vector<std::uint8_t> bytes;
  // Compressed IDX files expand about 2x; start there and grow geometrically.
  bytes.resize(ec ? (1u << 20) : static_cast<std::size_t>(on_disk) * 2 + 4096);
  std::size_t used = 0;
  while (true) {
    if (used == bytes.size()) bytes.resize(bytes.size() * 2);
    const std::size_t want = std::min<std::size_t>(bytes.size() - used, 1u << 30);
    const int got = gzread(file, bytes.data() + used, static_cast<unsigned>(want));
    if (got < 0) {
      int err = 0;
      const char* msg = gzerror(file, &err);
      core::fail("cannot read {}: {} (corrupt gzip data?)", path, msg);
    }
    if (got == 0) break;
    used += static_cast<std::size_t>(got);
  }
  int err = 0;
  const char* msg = gzerror(file, &err);
  core::check(err == Z_OK, "cannot read {}: {} (truncated or corrupt gzip file?)", path, msg);
  bytes.resize(used);
  // The guess may overshoot (uncompressed files); give back a large surplus.
  if (bytes.capacity() - used > used / 8) bytes.shrink_to_fit();
  return bytes;
}

}  // namespace lowbit::data
