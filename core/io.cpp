#include "core/io.hpp"

#include "core/error.hpp"
#include "core/strings.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <utility>

namespace lowbit::core {

namespace {

template <typename T>
T load_le(const std::uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  return v;
}

// zlib's crc32 continues `crc` over [p, p+n). A null `p` would reset it, so empty input is skipped.
std::uint32_t crc32_of(const std::uint8_t* p, std::size_t n, std::uint32_t crc = 0) {
  return n == 0 ? crc : static_cast<std::uint32_t>(::crc32_z(crc, p, n));
}

// Printable form of bytes for messages: ASCII as is, everything else as \xNN.
std::string escape(std::span<const std::uint8_t> bytes) {
  std::string out;
  for (std::uint8_t c : bytes) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out;
}

std::string escape(std::string_view s) {
  return escape(std::span(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()));
}

std::vector<std::uint8_t> read_whole_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  check(fd >= 0, "cannot open '{}': {}. HINT: check the path", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("cannot read '{}': not a regular file. HINT: check the path", path);
  }
  std::vector<std::uint8_t> data(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  for (;;) {
    if (got == data.size()) data.resize(data.size() + 4096);  // grew since fstat, or EOF probe
    const ssize_t r = ::read(fd, data.data() + got, data.size() - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      const int err = errno;
      ::close(fd);
      fail("reading '{}' failed at byte offset {}: {}", path, got, std::strerror(err));
    }
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// SectionReader

SectionReader::SectionReader(std::string path, std::string name,
                             std::span<const std::uint8_t> payload, std::uint64_t file_offset)
    : path_(std::move(path)),
      name_(std::move(name)),
      payload_(payload),
      file_offset_(file_offset) {}

void SectionReader::need(std::size_t n, const char* what) const {
  if (remaining() >= n) [[likely]] return;
  fail("file '{}', section '{}': reading {} needs {} bytes at byte offset {} (offset {} in the "
       "section), but only {} remain in the section. HINT: the writer and the reader of this "
       "section disagree on its layout",
       path_, name_, what, n, file_offset_ + pos_, pos_, remaining());
}

void SectionReader::get_raw(void* out, std::size_t n) {
  need(n, "raw bytes");
  if (n > 0) std::memcpy(out, payload_.data() + pos_, n);
  pos_ += n;
}

std::span<const std::uint8_t> SectionReader::get_span(std::size_t n) {
  need(n, "raw bytes");
  const auto s = payload_.subspan(pos_, n);
  pos_ += n;
  return s;
}

void SectionReader::skip(std::size_t n) {
  need(n, "skipped bytes");
  pos_ += n;
}

std::uint8_t SectionReader::get_u8() {
  need(1, "u8");
  return payload_[pos_++];
}

void SectionReader::read_fixed(void* out, std::size_t n, const char* what) {
  need(n, what);
  std::memcpy(out, payload_.data() + pos_, n);
  pos_ += n;
}

std::uint32_t SectionReader::get_u32() { return read_le<std::uint32_t>("u32"); }
std::uint64_t SectionReader::get_u64() { return read_le<std::uint64_t>("u64"); }
std::int64_t SectionReader::get_i64() { return read_le<std::int64_t>("i64"); }
float SectionReader::get_f32() { return read_le<float>("f32"); }
double SectionReader::get_f64() { return read_le<double>("f64"); }

std::size_t SectionReader::get_count(std::size_t elem_size, const char* what) {
  const std::size_t at = pos_;
  const std::uint64_t n = get_u64();
  if (elem_size != 0 && n > remaining() / elem_size) {
    fail("file '{}', section '{}': {} at byte offset {} declares {} elements of {} bytes, but only "
         "{} bytes remain in the section. HINT: the writer and the reader of this section disagree "
         "on its layout",
         path_, name_, what, file_offset_ + at, n, elem_size, remaining());
  }
  return static_cast<std::size_t>(n);
}

std::string SectionReader::get_string() {
  const std::size_t n = get_count(1, "string");
  const auto s = get_span(n);
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

std::vector<std::uint8_t> SectionReader::get_bytes() {
  const std::size_t n = get_count(1, "byte array");
  const auto s = get_span(n);
  return std::vector<std::uint8_t>(s.begin(), s.end());
}

void SectionReader::expect_end() const {
  check(at_end(),
        "file '{}', section '{}': {} unread bytes remain after offset {} of {}. HINT: the writer "
        "and the reader of this section disagree on its layout",
        path_, name_, remaining(), pos_, payload_.size());
}

void SectionReader::fail_format(const std::string& message) const {
  fail("file '{}', section '{}': {}", path_, name_, message);
}

// ---------------------------------------------------------------------------------------------
// BinaryReader

BinaryReader::BinaryReader(std::string path, std::string_view magic,
                           std::uint32_t max_supported_version, std::string_view kind)
    : path_(std::move(path)) {
  check(magic.size() == kMagicBytes, "BinaryReader('{}'): magic must be exactly {} bytes, got '{}'",
        path_, kMagicBytes, escape(magic));
  data_ = read_whole_file(path_);
  parse(magic, max_supported_version, kind);
}

void BinaryReader::parse(std::string_view magic, std::uint32_t max_version, std::string_view kind) {
  const std::string kind_name =
      kind.empty() ? fmt::format("'{}'", escape(magic)) : std::string(kind);
  const std::size_t size = data_.size();
  const std::uint8_t* d = data_.data();
  // Throws the truncation error when fewer than n bytes remain at `pos`.
  auto need = [&](std::size_t pos, std::size_t n, const std::string& what) {
    if (size - pos >= n) return;
    fail("file '{}' is truncated: it ends at byte offset {}, inside {} (bytes [{}, {})). HINT: the "
         "file was cut short (interrupted copy or write, full disk); use an intact copy",
         path_, size, what, pos, pos + n);
  };

  const std::size_t prefix = std::min(size, kMagicBytes);
  if (prefix > 0 && std::memcmp(d, magic.data(), prefix) != 0) {
    fail("'{}' is not a lowbit {} file: it starts with '{}', expected magic '{}'. HINT: check the "
         "path and the kind of file this command expects",
         path_, kind_name, escape(std::span(d, prefix)), escape(magic));
  }
  need(0, kFileHeaderBytes, "the file header");
  const auto header_crc = load_le<std::uint32_t>(d + 12);
  const std::uint32_t header_computed = crc32_of(d, 12);
  check(header_crc == header_computed,
        "file '{}' is corrupted: the header checksum does not match (stored {:08x}, computed "
        "{:08x}). HINT: use an intact copy of the file",
        path_, header_crc, header_computed);
  version_ = load_le<std::uint32_t>(d + 8);
  check(version_ >= 1 && version_ <= max_version,
        "file '{}' has {} format version {}, but this build of lowbit reads versions 1 to {}. "
        "HINT: the file was written by a newer lowbit; upgrade lowbit or re-create the file with "
        "this version",
        path_, kind_name, version_, max_version);

  std::size_t pos = kFileHeaderBytes;
  for (;;) {
    const std::size_t rec = pos;
    need(rec, 4, fmt::format("the header of section #{} or the end marker", entries_.size() + 1));
    const auto name_len = load_le<std::uint32_t>(d + rec);
    if (name_len == 0) break;  // end marker
    check(name_len <= kMaxSectionName,
          "file '{}' is corrupted at byte offset {}: section #{} claims a {}-byte name (at most "
          "{}). HINT: use an intact copy of the file",
          path_, rec, entries_.size() + 1, name_len, kMaxSectionName);
    need(rec, 12 + name_len, fmt::format("the header of section #{}", entries_.size() + 1));
    std::string name(reinterpret_cast<const char*>(d + rec + 4), name_len);
    const auto payload_len = load_le<std::uint64_t>(d + rec + 4 + name_len);
    const std::size_t payload_at = rec + 12 + name_len;
    const std::size_t left = size - payload_at;
    if (payload_len > left || left - payload_len < 4) {
      fail("file '{}' is truncated or corrupted: section '{}' at byte offset {} declares {} "
           "payload bytes (+4 checksum bytes), but the file ends at byte offset {}. HINT: use an "
           "intact copy of the file",
           path_, escape(name), rec, payload_len, size);
    }
    const std::size_t crc_at = payload_at + static_cast<std::size_t>(payload_len);
    const auto stored = load_le<std::uint32_t>(d + crc_at);
    const std::uint32_t computed = crc32_of(d + rec, crc_at - rec);
    check(stored == computed,
          "file '{}' is corrupted: section '{}' (bytes [{}, {})) fails its CRC32 check (stored "
          "{:08x}, computed {:08x}). HINT: use an intact copy of the file",
          path_, escape(name), rec, crc_at + 4, stored, computed);
    check(!index_.contains(name), "file '{}' is corrupted: section '{}' appears twice", path_,
          escape(name));
    index_.emplace(name, entries_.size());
    entries_.push_back({std::move(name), payload_at, payload_len});
    pos = crc_at + 4;
  }

  need(pos, kFileTrailerBytes, "the end marker");
  const auto trailer_crc = load_le<std::uint32_t>(d + pos + 16);
  const std::uint32_t trailer_computed = crc32_of(d + pos, 16);
  check(trailer_crc == trailer_computed,
        "file '{}' is corrupted: the end marker at byte offset {} fails its checksum (stored "
        "{:08x}, computed {:08x}). HINT: use an intact copy of the file",
        path_, pos, trailer_crc, trailer_computed);
  const auto count = load_le<std::uint32_t>(d + pos + 4);
  const auto total = load_le<std::uint64_t>(d + pos + 8);
  check(count == entries_.size() && total == pos + kFileTrailerBytes,
        "file '{}' is corrupted: the end marker at byte offset {} records {} sections and {} "
        "bytes, but the file holds {} sections before it. HINT: use an intact copy of the file",
        path_, pos, count, total, entries_.size());
  check(size == pos + kFileTrailerBytes,
        "file '{}' is corrupted: {} unexpected bytes follow the end marker (which ends at byte "
        "offset {}). HINT: use an intact copy of the file",
        path_, size - pos - kFileTrailerBytes, pos + kFileTrailerBytes);
}

bool BinaryReader::has_section(std::string_view name) const { return index_.contains(name); }

std::vector<std::string> BinaryReader::section_names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const Entry& e : entries_) out.push_back(e.name);
  return out;
}

const BinaryReader::Entry& BinaryReader::find(std::string_view name) const {
  const auto it = index_.find(name);
  if (it != index_.end()) return entries_[it->second];
  const std::vector<std::string> names = section_names();
  const std::string guess = closest_match(name, names);
  fail("file '{}' has no section '{}'{}; sections: {}. HINT: the file may have been written by a "
       "different version or for another purpose",
       path_, name, guess.empty() ? std::string() : fmt::format(" (did you mean '{}'?)", guess),
       names.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(names, ", ")));
}

SectionReader BinaryReader::section(std::string_view name) const {
  const Entry& e = find(name);
  return SectionReader(path_, e.name, section_bytes(name), e.payload_offset);
}

std::span<const std::uint8_t> BinaryReader::section_bytes(std::string_view name) const {
  const Entry& e = find(name);
  return std::span(data_.data() + e.payload_offset, static_cast<std::size_t>(e.payload_size));
}

}  // namespace lowbit::core
