// BinaryWriter: streams section records to a temp file and renames it into place on commit().
// The file layout is documented in core/io.hpp.

#include "core/io.hpp"

#include "core/error.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace lowbit::core {

namespace {

std::atomic<std::uint64_t> g_temp_counter{0};

// A small stack buffer for the fixed-layout parts of the file (header, record heads, trailer).
struct Packer {
  std::uint8_t bytes[4 + kMaxSectionName + 8] = {};
  std::size_t size = 0;
  void raw(const void* p, std::size_t n) {
    std::memcpy(bytes + size, p, n);
    size += n;
  }
  template <typename T>
  void le(T v) {  // the platform is little-endian (static_assert in io.hpp)
    raw(&v, sizeof(v));
  }
};

// zlib's crc32 continues `crc` over [p, p+n). A null `p` would reset it, so empty input is skipped.
std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  return n == 0 ? crc : static_cast<std::uint32_t>(::crc32_z(crc, p, n));
}

}  // namespace

BinaryWriter::BinaryWriter(std::string path, std::string_view magic, std::uint32_t version)
    : path_(std::move(path)) {
  check(magic.size() == kMagicBytes, "BinaryWriter('{}'): magic must be exactly {} bytes, got {}",
        path_, kMagicBytes, magic.size());
  check(version >= 1, "BinaryWriter('{}'): format version must be >= 1", path_);
  temp_path_ = fmt::format("{}.tmp.{}.{}", path_, ::getpid(), g_temp_counter++);
  fd_ = ::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  check(fd_ >= 0,
        "cannot create '{}' (temporary file for '{}'): {}. HINT: check that the directory exists "
        "and is writable",
        temp_path_, path_, std::strerror(errno));
  Packer header;
  header.raw(magic.data(), magic.size());
  header.le<std::uint32_t>(version);
  header.le<std::uint32_t>(crc32_of(header.bytes, header.size));
  try {
    write_all(header.bytes, header.size);
  } catch (...) {
    discard();
    throw;
  }
}

BinaryWriter::~BinaryWriter() { discard(); }

void BinaryWriter::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !temp_path_.empty()) ::unlink(temp_path_.c_str());
}

void BinaryWriter::require_writable(const char* what) const {
  check(!committed_, "BinaryWriter('{}'): {} after commit()", path_, what);
  check(!failed_, "BinaryWriter('{}'): {} after an earlier write failed", path_, what);
}

void BinaryWriter::require_open_section(const char* what) const {
  require_writable(what);
  check(in_section_, "BinaryWriter('{}'): {} outside a section. HINT: call begin_section first",
        path_, what);
}

void BinaryWriter::write_all(const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t r = ::write(fd_, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      failed_ = true;
      fail("writing '{}' failed: {}. HINT: check free disk space; '{}' was left as it was",
           temp_path_, std::strerror(errno), path_);
    }
    done += static_cast<std::size_t>(r);
  }
  offset_ += n;
}

void BinaryWriter::begin_section(std::string name) {
  require_writable("begin_section");
  check(!in_section_, "BinaryWriter('{}'): begin_section('{}') while section '{}' is open", path_,
        name, section_name_);
  check(!name.empty() && name.size() <= kMaxSectionName,
        "BinaryWriter('{}'): section name '{}' must be 1 to {} bytes long", path_, name,
        kMaxSectionName);
  for (const std::string& n : names_) {
    check(n != name, "BinaryWriter('{}'): section '{}' written twice", path_, name);
  }
  in_section_ = true;
  section_name_ = std::move(name);
  section_.clear();
}

void BinaryWriter::end_section() {
  require_open_section("end_section");
  Packer head;
  head.le<std::uint32_t>(static_cast<std::uint32_t>(section_name_.size()));
  head.raw(section_name_.data(), section_name_.size());
  head.le<std::uint64_t>(section_.size());
  std::uint32_t crc = crc32_of(head.bytes, head.size);
  crc = crc32_of(section_.data(), section_.size(), crc);
  write_all(head.bytes, head.size);
  write_all(section_.data(), section_.size());
  write_all(&crc, sizeof(crc));
  names_.push_back(std::move(section_name_));
  section_name_.clear();
  section_.clear();
  section_.shrink_to_fit();
  in_section_ = false;
}

void BinaryWriter::write_section(std::string name, std::span<const std::uint8_t> payload) {
  begin_section(std::move(name));
  put_raw(payload.data(), payload.size());
  end_section();
}

void BinaryWriter::put_u8(std::uint8_t v) { put_raw(&v, 1); }
void BinaryWriter::put_u32(std::uint32_t v) { put_raw(&v, sizeof(v)); }
void BinaryWriter::put_u64(std::uint64_t v) { put_raw(&v, sizeof(v)); }
void BinaryWriter::put_i64(std::int64_t v) { put_raw(&v, sizeof(v)); }
void BinaryWriter::put_f32(float v) { put_raw(&v, sizeof(v)); }
void BinaryWriter::put_f64(double v) { put_raw(&v, sizeof(v)); }

void BinaryWriter::put_string(std::string_view s) {
  put_u64(s.size());
  put_raw(s.data(), s.size());
}

void BinaryWriter::put_bytes(std::span<const std::uint8_t> bytes) {
  put_u64(bytes.size());
  put_raw(bytes.data(), bytes.size());
}

void BinaryWriter::put_raw(const void* data, std::size_t n) {
  require_open_section("put");
  if (n == 0) return;
  const auto* p = static_cast<const std::uint8_t*>(data);
  section_.insert(section_.end(), p, p + n);
}

void BinaryWriter::commit() {
  require_writable("commit");
  check(!in_section_, "BinaryWriter('{}'): commit() while section '{}' is open", path_,
        section_name_);
  Packer trailer;
  trailer.le<std::uint32_t>(0);
  trailer.le<std::uint32_t>(static_cast<std::uint32_t>(names_.size()));
  trailer.le<std::uint64_t>(offset_ + kFileTrailerBytes);
  trailer.le<std::uint32_t>(crc32_of(trailer.bytes, trailer.size));
  write_all(trailer.bytes, trailer.size);

  if (::fsync(fd_) != 0) {
    failed_ = true;
    fail("fsync of '{}' failed: {}. HINT: '{}' was left as it was", temp_path_,
         std::strerror(errno), path_);
  }
  const int rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0) {
    failed_ = true;
    fail("closing '{}' failed: {}. HINT: '{}' was left as it was", temp_path_,
         std::strerror(errno), path_);
  }
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    failed_ = true;
    fail("cannot rename '{}' to '{}': {}", temp_path_, path_, std::strerror(errno));
  }
  committed_ = true;
  // Make the rename itself durable.
  std::filesystem::path dir = std::filesystem::path(path_).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    const int drc = ::fsync(dfd);
    const int err = errno;
    ::close(dfd);
    check(drc == 0, "fsync of directory '{}' failed after writing '{}': {}", dir.string(), path_,
          std::strerror(err));
  }
}

}  // namespace lowbit::core
