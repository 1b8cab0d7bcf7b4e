// .lbm files: serialize_model / parse_model and the atomic save / load around them. The byte
// layout is docs/lbm-format.md; keep the two in step (and bump kFormatVersion on any change).

#include "quant/xnor/crc32.hpp"
#include "quant/xnor/model.hpp"
#include "quant/xnor/model_fields.hpp"
#include "quant/xnor/model_util.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <type_traits>

namespace lowbit::quant::xnor {

static_assert(std::endian::native == std::endian::little,
              "the .lbm format is little-endian; add byte swapping for this platform");

namespace {

using detail::cat;

constexpr unsigned char kMagic[8] = {0x89, 'L', 'B', 'M', '\r', '\n', 0x1A, '\n'};
constexpr std::size_t kHeaderSize = 64;
constexpr std::size_t kAlign = 64;
constexpr std::uint32_t kMaxString = 1u << 20;

// Header field offsets.
constexpr std::size_t kOffVersion = 8, kOffHeaderSize = 12, kOffFileSize = 16, kOffTableOffset = 24,
                      kOffTableSize = 32, kOffDataOffset = 40, kOffDataSize = 48, kOffBodyCrc = 56,
                      kOffHeaderCrc = 60;

enum class DType : std::uint32_t { f32 = 1, i32 = 2, u8 = 3, u64 = 4, i8 = 5 };
template <class T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) return DType::f32;
  if constexpr (std::is_same_v<T, std::int32_t>) return DType::i32;
  if constexpr (std::is_same_v<T, std::uint8_t>) return DType::u8;
  if constexpr (std::is_same_v<T, std::uint64_t>) return DType::u64;
  if constexpr (std::is_same_v<T, std::int8_t>) return DType::i8;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, std::int32_t> ||
                    std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::uint64_t> ||
                    std::is_same_v<T, std::int8_t>,
                "no .lbm dtype for this element type");
}

std::size_t align_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

template <class T>
void put(std::vector<std::uint8_t>& out, T x) {
  static_assert(std::is_trivially_copyable_v<T>);
  const std::size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &x, sizeof(T));
}

template <class T>
T get_at(const std::uint8_t* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

// ---- writing

struct Writer {
  std::vector<std::uint8_t> table, data;

  void u32(std::uint32_t x) { put(table, x); }
  void string(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    table.insert(table.end(), s.begin(), s.end());
  }
  // Field visitor (model_fields.hpp).
  void integer(const char*, std::int64_t& x) { put(table, x); }
  void real(const char*, float& x) { put(table, x); }
  template <class T>
  void tensor(const char*, std::vector<T>& t) {
    put(table, static_cast<std::uint32_t>(dtype_of<T>()));
    put(table, std::uint32_t{0});
    std::uint64_t offset = 0;
    if (!t.empty()) {
      offset = align_up(data.size());
      data.resize(offset + t.size() * sizeof(T), 0);
      std::memcpy(data.data() + offset, t.data(), t.size() * sizeof(T));
    }
    put(table, offset);
    put(table, static_cast<std::uint64_t>(t.size()));
  }
};

void write_model(const Model& m, Writer& w) {
  put(w.table, m.input.channels);
  put(w.table, m.input.height);
  put(w.table, m.input.width);
  w.u32(static_cast<std::uint32_t>(m.input.mean.size()));
  for (float x : m.input.mean) put(w.table, x);
  for (float x : m.input.std) put(w.table, x);
  w.u32(static_cast<std::uint32_t>(m.class_names.size()));
  for (const auto& s : m.class_names) w.string(s);
  w.u32(static_cast<std::uint32_t>(m.metadata.size()));
  for (const auto& [k, v] : m.metadata) {
    w.string(k);
    w.string(v);
  }
  w.u32(static_cast<std::uint32_t>(m.values.size()));
  for (const Value& v : m.values) {
    w.string(v.name);
    w.u32(static_cast<std::uint32_t>(v.kind));
    put(w.table, v.h);
    put(w.table, v.w);
    put(w.table, v.c);
    put(w.table, v.bits);
  }
  w.u32(static_cast<std::uint32_t>(m.ops.size()));
  for (const Op& op : m.ops) {
    w.string(op.name);
    w.u32(static_cast<std::uint32_t>(op_kind(op.params)));
    w.u32(static_cast<std::uint32_t>(op.inputs.size()));
    for (ValueId id : op.inputs) put(w.table, id);
    put(w.table, op.output);
    OpParams params = op.params;  // the visitor takes non-const fields
    detail::visit_op_fields(params, w);
  }
  put(w.table, m.output);
}

// ---- reading

// A bounds-checked cursor over the table; every failure names the file and the field.
struct Reader {
  const std::uint8_t* file;  // the whole file
  std::size_t pos, end;      // the table: [pos, end)
  std::size_t data_offset, data_size;
  std::string what;

  [[noreturn]] void fail(const std::string& msg) const {
    throw FormatError(cat(what, ": ", msg, " (table offset ", pos, ")"));
  }
  const std::uint8_t* take(std::size_t n, const char* field) {
    if (n > end - pos) fail(cat("the record table ends inside ", field));
    const std::uint8_t* p = file + pos;
    pos += n;
    return p;
  }
  template <class T>
  T scalar(const char* field) {
    return get_at<T>(take(sizeof(T), field));
  }
  std::uint32_t u32(const char* field) { return scalar<std::uint32_t>(field); }
  std::string string(const char* field) {
    const std::uint32_t n = u32(field);
    if (n > kMaxString) fail(cat(field, " has length ", n, ", more than ", kMaxString));
    const auto* p = take(n, field);
    return std::string(reinterpret_cast<const char*>(p), n);
  }
  // Field visitor (model_fields.hpp).
  void integer(const char* name, std::int64_t& x) { x = scalar<std::int64_t>(name); }
  void real(const char* name, float& x) { x = scalar<float>(name); }
  template <class T>
  void tensor(const char* name, std::vector<T>& t) {
    const auto dtype = u32(name);
    const auto reserved = u32(name);
    const auto offset = scalar<std::uint64_t>(name);
    const auto count = scalar<std::uint64_t>(name);
    if (dtype != static_cast<std::uint32_t>(dtype_of<T>())) {
      fail(cat("tensor '", name, "' has dtype ", dtype, ", expected ",
               static_cast<std::uint32_t>(dtype_of<T>())));
    }
    if (reserved != 0) fail(cat("tensor '", name, "' has a nonzero reserved field"));
    if (count == 0) {
      if (offset != 0) fail(cat("empty tensor '", name, "' has offset ", offset, ", expected 0"));
      t.clear();
      return;
    }
    if (offset % kAlign != 0) fail(cat("tensor '", name, "' offset ", offset, " is not aligned"));
    if (offset > data_size || count > (data_size - offset) / sizeof(T)) {
      fail(cat("tensor '", name, "' (", count, " elements of ", sizeof(T), " bytes at data offset ",
               offset, ") runs past the data section of ", data_size, " bytes"));
    }
    t.resize(static_cast<std::size_t>(count));
    std::memcpy(t.data(), file + data_offset + offset, t.size() * sizeof(T));
  }
};

void read_model(Reader& r, Model& m) {
  m.input.channels = r.scalar<std::int64_t>("input channels");
  m.input.height = r.scalar<std::int64_t>("input height");
  m.input.width = r.scalar<std::int64_t>("input width");
  const std::uint32_t norm = r.u32("normalization count");
  if (norm > r.end - r.pos) r.fail(cat("normalization count ", norm, " is larger than the table"));
  for (std::uint32_t i = 0; i < norm; ++i) m.input.mean.push_back(r.scalar<float>("input mean"));
  for (std::uint32_t i = 0; i < norm; ++i) m.input.std.push_back(r.scalar<float>("input std"));
  // Counts are not trusted for allocation: records are read one at a time until the table ends.
  const std::uint32_t classes = r.u32("class count");
  for (std::uint32_t i = 0; i < classes; ++i) m.class_names.push_back(r.string("class name"));
  const std::uint32_t meta = r.u32("metadata count");
  for (std::uint32_t i = 0; i < meta; ++i) {
    std::string k = r.string("metadata key");
    if (m.metadata.contains(k)) r.fail(cat("metadata key '", k.substr(0, 64), "' repeats"));
    m.metadata[k] = r.string("metadata value");
  }
  const std::uint32_t values = r.u32("value count");
  for (std::uint32_t i = 0; i < values; ++i) {
    Value v;
    v.name = r.string("value name");
    const std::uint32_t kind = r.u32("value kind");
    if (kind < 1 || kind > 4) r.fail(cat("value ", i, " has kind ", kind, " (1 to 4 are known)"));
    v.kind = static_cast<ValueKind>(kind);
    v.h = r.scalar<std::int64_t>("value h");
    v.w = r.scalar<std::int64_t>("value w");
    v.c = r.scalar<std::int64_t>("value c");
    v.bits = r.scalar<std::int64_t>("value bits");
    m.values.push_back(std::move(v));
  }
  const std::uint32_t ops = r.u32("op count");
  for (std::uint32_t i = 0; i < ops; ++i) {
    Op op;
    op.name = r.string("op name");
    const std::uint32_t kind = r.u32("op kind");
    if (!detail::make_params(kind, op.params)) {
      r.fail(cat("op ", i, " '", op.name.substr(0, 64), "' has kind ", kind,
                 ", unknown to this build (1 to ", std::variant_size_v<OpParams>,
                 " are known). HINT: re-export the model with this lowbit"));
    }
    const std::uint32_t arity = r.u32("op input count");
    if (arity > 2) r.fail(cat("op ", i, " '", op.name.substr(0, 64), "' has ", arity, " inputs"));
    for (std::uint32_t j = 0; j < arity; ++j) op.inputs.push_back(r.scalar<ValueId>("op input"));
    op.output = r.scalar<ValueId>("op output");
    detail::visit_op_fields(op.params, r);
    m.ops.push_back(std::move(op));
  }
  m.output = r.scalar<ValueId>("output id");
  if (r.pos != r.end) r.fail(cat(r.end - r.pos, " bytes follow the last record of the table"));
}

}  // namespace

std::vector<std::uint8_t> serialize_model(const Model& m) {
  Writer w;
  write_model(m, w);
  const std::size_t table_offset = kHeaderSize;
  const std::size_t data_offset = align_up(table_offset + w.table.size());
  const std::size_t file_size = data_offset + w.data.size();
  std::vector<std::uint8_t> out(file_size, 0);
  std::memcpy(out.data(), kMagic, sizeof(kMagic));
  auto set = [&out](std::size_t at, auto x) { std::memcpy(out.data() + at, &x, sizeof(x)); };
  set(kOffVersion, kFormatVersion);
  set(kOffHeaderSize, static_cast<std::uint32_t>(kHeaderSize));
  set(kOffFileSize, static_cast<std::uint64_t>(file_size));
  set(kOffTableOffset, static_cast<std::uint64_t>(table_offset));
  set(kOffTableSize, static_cast<std::uint64_t>(w.table.size()));
  set(kOffDataOffset, static_cast<std::uint64_t>(data_offset));
  set(kOffDataSize, static_cast<std::uint64_t>(w.data.size()));
  std::memcpy(out.data() + table_offset, w.table.data(), w.table.size());
  if (!w.data.empty()) std::memcpy(out.data() + data_offset, w.data.data(), w.data.size());
  set(kOffBodyCrc, crc32(out.data() + kHeaderSize, file_size - kHeaderSize));
  set(kOffHeaderCrc, crc32(out.data(), kOffHeaderCrc));
  return out;
}

std::uint64_t model_file_size(const Model& m) {
  Writer w;  // cheap enough for a summary: the weights are copied once
  write_model(m, w);
  return align_up(kHeaderSize + w.table.size()) + w.data.size();
}

Model parse_model(const std::uint8_t* p, std::size_t size, const std::string& what) {
  auto fail = [&what](const std::string& msg) { throw FormatError(what + ": " + msg); };
  if (size < sizeof(kMagic) || std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    fail(size < sizeof(kMagic) ? cat("the file is ", size, " bytes, too short for a .lbm model")
                               : "not a lowbit .lbm model (wrong magic number)");
  }
  if (size < kHeaderSize) fail(cat("truncated: ", size, " bytes, shorter than the header"));
  const auto version = get_at<std::uint32_t>(p + kOffVersion);
  if (version == 0 || version > kFormatVersion) {
    fail(cat("this file is format version ", version, ", this build reads versions 1 to ",
             kFormatVersion, ". HINT: re-export it with this lowbit (export --checkpoint ...)"));
  }
  if (get_at<std::uint32_t>(p + kOffHeaderCrc) != crc32(p, kOffHeaderCrc)) {
    fail("the header checksum does not match (the file is corrupted)");
  }
  const auto header_size = get_at<std::uint32_t>(p + kOffHeaderSize);
  const auto file_size = get_at<std::uint64_t>(p + kOffFileSize);
  const auto table_offset = get_at<std::uint64_t>(p + kOffTableOffset);
  const auto table_size = get_at<std::uint64_t>(p + kOffTableSize);
  const auto data_offset = get_at<std::uint64_t>(p + kOffDataOffset);
  const auto data_size = get_at<std::uint64_t>(p + kOffDataSize);
  if (header_size != kHeaderSize) fail(cat("header size ", header_size, ", expected 64"));
  if (file_size != size) {
    fail(cat(file_size > size ? "truncated: " : "", "the header says ", file_size,
             " bytes, the file has ", size));
  }
  if (table_offset != kHeaderSize || table_size > size - kHeaderSize ||
      data_offset != align_up(kHeaderSize + table_size) || data_offset > size ||
      data_size != size - data_offset) {
    fail(cat("inconsistent sections: table ", table_size, " bytes at ", table_offset, ", data ",
             data_size, " bytes at ", data_offset, ", file ", size, " bytes"));
  }
  if (get_at<std::uint32_t>(p + kOffBodyCrc) != crc32(p + kHeaderSize, size - kHeaderSize)) {
    fail("the checksum does not match (the file is corrupted)");
  }
  for (std::size_t i = kHeaderSize + table_size; i < data_offset; ++i) {
    if (p[i] != 0) fail("nonzero bytes between the table and the data section");
  }
  Reader r{p,
           kHeaderSize,
           kHeaderSize + static_cast<std::size_t>(table_size),
           static_cast<std::size_t>(data_offset),
           static_cast<std::size_t>(data_size),
           what};
  Model m;
  read_model(r, m);
  validate(m, what);
  return m;
}

// ---- files

void save_model(const Model& m, const std::string& path) {
  validate(m, "save_model('" + path + "')");
  const std::vector<std::uint8_t> bytes = serialize_model(m);
  static std::atomic<unsigned> counter{0};
  const std::string temp = cat(path, ".tmp.", ::getpid(), ".", counter++);
  auto io_fail = [&](const std::string& step) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    throw std::runtime_error(cat("cannot ", step, " '", temp, "' (writing '", path, "'): ", reason,
                                 ". HINT: '", path, "' was left as it was"));
  };
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) io_fail("create");
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      io_fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    ::close(fd);
    io_fail("fsync");
  }
  if (::close(fd) != 0) io_fail("close");
  if (::rename(temp.c_str(), path.c_str()) != 0) io_fail("rename");
  // Make the rename durable (best effort: some filesystems refuse fsync on directories).
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

Model load_model(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) {
    throw FormatError(cat(path, ": cannot open: ", std::strerror(errno),
                          ". HINT: check the path (models are written by `export`)"));
  }
  const std::streamoff size = in.tellg();
  if (size < 0) throw FormatError(cat(path, ": cannot read its size"));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) {
    throw FormatError(cat(path, ": read failed after ", in.gcount(), " of ", size, " bytes"));
  }
  return parse_model(bytes.data(), bytes.size(), path);
}

}  // namespace lowbit::quant::xnor
