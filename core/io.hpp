#pragma once
// Binary files on disk (checkpoints, integer models): magic, format version, named sections each
// with a CRC32, an end marker, atomic replacement on write, and bounds-checked reads.
//
// File layout. All integers are little-endian; offsets in bytes.
//
//   | offset      | size | field                                                             |
//   |-------------|------|-------------------------------------------------------------------|
//   | 0           | 8    | magic: 8 bytes naming the kind of file, e.g. "LOWBCKPT"           |
//   | 8           | 4    | u32 format version, >= 1                                          |
//   | 12          | 4    | u32 CRC32 of bytes [0, 12)                                        |
//   | 16          |      | zero or more section records, back to back:                       |
//   |   r+0       | 4    |   u32 name length L, 1..255                                       |
//   |   r+4       | L    |   name, unique within the file                                    |
//   |   r+4+L     | 8    |   u64 payload length N                                            |
//   |   r+12+L    | N    |   payload (encoded by the put_* helpers below)                    |
//   |   r+12+L+N  | 4    |   u32 CRC32 of the record bytes [r, r+12+L+N)                     |
//   | E           | 4    | u32 0: end marker (a name length no section can have)             |
//   | E+4         | 4    | u32 number of sections                                            |
//   | E+8         | 8    | u64 total file length = E + 20                                    |
//   | E+16        | 4    | u32 CRC32 of bytes [E, E+16)                                      |
//
// CRC32 is zlib's crc32 (the IEEE 802.3 polynomial). Every byte of the file is covered by a CRC
// or checked against an expected value, so truncation anywhere (including at a section boundary)
// and any single flipped bit give an Error, never a silent wrong answer.
//
// Payload encodings of the put_*/get_* helpers (no alignment, no padding):
//   u8, u32, u64, i64, f32, f64   fixed width, little-endian (floats as their IEEE bits)
//   string, bytes                 u64 length, then the bytes
//   vector<T> (T arithmetic)      u64 element count, then count * sizeof(T) bytes
//   raw                           the bytes only; the reader must know the length
//
// Writing: BinaryWriter buffers the open section in memory and appends each finished record to
// `path + ".tmp.<pid>.<n>"`; commit() writes the end marker, fsyncs the temp file, renames
// it over `path` and fsyncs the directory. Without commit() (an exception, an early return) the
// destructor removes the temp file, so `path` is either the old file or the complete new one.
//
// Reading: BinaryReader loads the whole file and validates everything (magic, header CRC, version,
// every record and its CRC, the end marker and the length) in its constructor, before any payload
// is handed out. SectionReader is a bounds-checked cursor over one section's payload.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lowbit::core {

static_assert(std::endian::native == std::endian::little,
              "the lowbit file format is little-endian; add byte swapping for this platform");

inline constexpr std::size_t kMagicBytes = 8;
inline constexpr std::size_t kMaxSectionName = 255;
inline constexpr std::size_t kFileHeaderBytes = 16;   // magic | version | crc
inline constexpr std::size_t kFileTrailerBytes = 20;  // 0 | section count | total length | crc

class BinaryWriter {
 public:
  // Opens the temp file and writes the header. `magic` must be exactly 8 bytes; version >= 1.
  BinaryWriter(std::string path, std::string_view magic, std::uint32_t version);
  ~BinaryWriter();  // removes the temp file unless commit() succeeded
  BinaryWriter(const BinaryWriter&) = delete;
  BinaryWriter& operator=(const BinaryWriter&) = delete;

  // Sections: begin_section, any number of put_*, end_section. Names are unique, 1..255 bytes.
  void begin_section(std::string name);
  void end_section();
  // A whole section from bytes already encoded.
  void write_section(std::string name, std::span<const std::uint8_t> payload);

  // Appends to the open section (an Error when none is open).
  void put_u8(std::uint8_t v);
  void put_u32(std::uint32_t v);
  void put_u64(std::uint64_t v);
  void put_i64(std::int64_t v);
  void put_f32(float v);
  void put_f64(double v);
  void put_string(std::string_view s);
  void put_bytes(std::span<const std::uint8_t> bytes);  // with length prefix
  void put_raw(const void* data, std::size_t n);        // without length prefix
  template <typename T>
  void put_vector(const std::vector<T>& v) {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "put_vector takes vectors of fixed-width numbers");
    put_u64(v.size());
    put_raw(v.data(), v.size() * sizeof(T));
  }

  // Writes the end marker, flushes, fsyncs, renames over path(), fsyncs the directory. No section
  // may be open. After commit() the writer accepts nothing more.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return temp_path_; }

 private:
  void require_open_section(const char* what) const;
  void require_writable(const char* what) const;
  void write_all(const void* data, std::size_t n);
  void discard() noexcept;

  std::string path_;
  std::string temp_path_;
  int fd_ = -1;
  bool committed_ = false;
  bool failed_ = false;
  bool in_section_ = false;
  std::string section_name_;
  std::vector<std::uint8_t> section_;  // payload of the open section
  std::vector<std::string> names_;     // sections written so far
  std::uint64_t offset_ = 0;           // bytes written to the temp file
};

// Bounds-checked cursor over one section's payload. Holds a view into its BinaryReader's buffer:
// the reader must outlive it. Every get_* that would read past the end throws an Error naming the
// file, the section and the byte offset.
class SectionReader {
 public:
  SectionReader(std::string path, std::string name, std::span<const std::uint8_t> payload,
                std::uint64_t file_offset);

  std::uint8_t get_u8();
  std::uint32_t get_u32();
  std::uint64_t get_u64();
  std::int64_t get_i64();
  float get_f32();
  double get_f64();
  std::string get_string();
  std::vector<std::uint8_t> get_bytes();
  void get_raw(void* out, std::size_t n);
  std::span<const std::uint8_t> get_span(std::size_t n);  // view of the next n bytes
  void skip(std::size_t n);
  template <typename T>
  std::vector<T> get_vector() {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>,
                  "get_vector takes vectors of fixed-width numbers");
    const std::size_t n = get_count(sizeof(T), "vector");
    std::vector<T> v(n);
    get_raw(v.data(), n * sizeof(T));
    return v;
  }
  // Reads a u64 element count and checks that count * elem_size bytes remain.
  std::size_t get_count(std::size_t elem_size, const char* what);

  std::size_t remaining() const { return payload_.size() - pos_; }
  std::size_t position() const { return pos_; }  // within the payload
  bool at_end() const { return pos_ == payload_.size(); }
  // Throws when bytes are left unread (the reader and the writer disagree on the layout).
  void expect_end() const;
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }

  // Throws an Error prefixed with "file '<path>', section '<name>': ". For format checks made by
  // code that decodes a payload (get_tensor, state loaders).
  [[noreturn]] void fail_format(const std::string& message) const;

 private:
  void need(std::size_t n, const char* what) const;
  void read_fixed(void* out, std::size_t n, const char* what);
  template <typename T>
  T read_le(const char* what) {  // the format is little-endian, as is every supported platform
    T v;
    read_fixed(&v, sizeof(T), what);
    return v;
  }

  std::string path_;
  std::string name_;
  std::span<const std::uint8_t> payload_;
  std::uint64_t file_offset_;  // where the payload starts in the file
  std::size_t pos_ = 0;
};

class BinaryReader {
 public:
  // Reads and validates `path`. `magic` is the expected 8 bytes; versions 1..max_supported_version
  // are accepted. `kind` names the file type in messages ("checkpoint"); empty uses the magic.
  BinaryReader(std::string path, std::string_view magic, std::uint32_t max_supported_version,
               std::string_view kind = {});
  BinaryReader(const BinaryReader&) = delete;
  BinaryReader& operator=(const BinaryReader&) = delete;

  std::uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  bool has_section(std::string_view name) const;
  std::vector<std::string> section_names() const;  // in file order
  // A cursor over the named section; a missing name is an Error listing the sections present.
  SectionReader section(std::string_view name) const;
  std::span<const std::uint8_t> section_bytes(std::string_view name) const;

 private:
  struct Entry {
    std::string name;
    std::uint64_t payload_offset;
    std::uint64_t payload_size;
  };
  const Entry& find(std::string_view name) const;
  void parse(std::string_view magic, std::uint32_t max_supported_version, std::string_view kind);

  std::string path_;
  std::vector<std::uint8_t> data_;
  std::uint32_t version_ = 0;
  std::vector<Entry> entries_;
  std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace lowbit::core
