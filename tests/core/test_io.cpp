#include "core/error.hpp"
#include "core/io.hpp"
#include "core/rng.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using lowbit::core::BinaryReader;
using lowbit::core::BinaryWriter;
using lowbit::core::Error;
using lowbit::core::Rng;
using lowbit::core::RngState;
using lowbit::core::SectionReader;
using Catch::Contains;

namespace {

constexpr const char* kMagic = "LOWBTEST";

// A fresh, empty directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("lowbit_test_io_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  fs::path path_;
};

std::vector<std::uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void spit(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
}

void write_sample(const std::string& path, std::uint32_t version = 2,
                  std::string_view magic = kMagic) {
  BinaryWriter w(path, magic, version);
  w.begin_section("meta");
  w.put_u8(7);
  w.put_u32(0xDEADBEEF);
  w.put_u64(1ULL << 40);
  w.put_i64(-123456789012LL);
  w.put_f32(1.5f);
  w.put_f64(-2.25);
  w.put_string("résumé");
  w.put_bytes(std::vector<std::uint8_t>{1, 2, 3});
  w.put_vector(std::vector<float>{0.5f, -1.0f, 3.25f});
  w.put_vector(std::vector<std::int64_t>{-1, 0, 1LL << 50});
  w.end_section();
  w.begin_section("empty");
  w.end_section();
  w.write_section("blob", std::vector<std::uint8_t>{9, 8, 7, 6});
  w.commit();
}

// A tiny file for exhaustive corruption tests: every bit gets flipped.
void write_small(const std::string& path) {
  BinaryWriter w(path, kMagic, 1);
  w.begin_section("a");
  w.put_u32(42);
  w.put_string("hi");
  w.end_section();
  w.write_section("bb", std::vector<std::uint8_t>{1, 2});
  w.commit();
}

void read_small(const std::string& path) {
  BinaryReader r(path, kMagic, 1);
  auto a = r.section("a");
  a.get_u32();
  a.get_string();
  a.expect_end();
  r.section("bb").get_raw(nullptr, 0);
}

}  // namespace

TEST_CASE("io: round trip of every put/get helper", "[io]") {
  TempDir dir;
  const std::string path = dir.file("sample.bin");
  write_sample(path);
  BinaryReader r(path, kMagic, 2);
  CHECK(r.version() == 2);
  CHECK(r.section_names() == std::vector<std::string>{"meta", "empty", "blob"});
  CHECK(r.has_section("blob"));
  CHECK_FALSE(r.has_section("nope"));

  SectionReader m = r.section("meta");
  CHECK(m.get_u8() == 7);
  CHECK(m.get_u32() == 0xDEADBEEF);
  CHECK(m.get_u64() == (1ULL << 40));
  CHECK(m.get_i64() == -123456789012LL);
  CHECK(m.get_f32() == 1.5f);
  CHECK(m.get_f64() == -2.25);
  CHECK(m.get_string() == "résumé");
  CHECK(m.get_bytes() == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(m.get_vector<float>() == std::vector<float>{0.5f, -1.0f, 3.25f});
  CHECK(m.get_vector<std::int64_t>() == std::vector<std::int64_t>{-1, 0, 1LL << 50});
  CHECK(m.at_end());
  m.expect_end();
  CHECK_THROWS_WITH(m.get_u32(), Contains("file '" + path + "', section 'meta'") &&
                                     Contains("needs 4 bytes") && Contains("byte offset"));

  CHECK(r.section("empty").at_end());
  const auto blob = r.section_bytes("blob");
  CHECK(std::vector<std::uint8_t>(blob.begin(), blob.end()) ==
        std::vector<std::uint8_t>{9, 8, 7, 6});
  SectionReader b = r.section("blob");
  b.get_u8();
  CHECK_THROWS_WITH(b.expect_end(), Contains("3 unread bytes"));
  CHECK(dir.entries() == std::vector<std::string>{"sample.bin"});  // no temp file left behind
}

TEST_CASE("io: missing section suggests the closest name", "[io]") {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  write_sample(path);
  BinaryReader r(path, kMagic, 2);
  CHECK_THROWS_WITH(r.section("mata"), Contains("has no section 'mata'") &&
                                           Contains("did you mean 'meta'?") &&
                                           Contains("sections: meta, empty, blob"));
}

TEST_CASE("io: an oversized count inside a section is refused before allocating", "[io]") {
  TempDir dir;
  const std::string path = dir.file("c.bin");
  {
    BinaryWriter w(path, kMagic, 1);
    w.begin_section("v");
    w.put_u64(1ULL << 60);  // claims 2^60 floats
    w.put_f32(1.0f);
    w.end_section();
    w.commit();
  }
  BinaryReader r(path, kMagic, 1);
  auto v = r.section("v");
  CHECK_THROWS_WITH(v.get_vector<float>(), Contains("section 'v'") && Contains("declares"));
  auto s = r.section("v");
  CHECK_THROWS_AS(s.get_string(), Error);
}

TEST_CASE("io: RNG state survives a file round trip", "[io][rng]") {
  TempDir dir;
  const std::string path = dir.file("rng.bin");
  Rng rng(5);
  rng.normal();
  const auto bytes = rng.state().to_bytes();
  {
    BinaryWriter w(path, kMagic, 1);
    w.write_section("rng", bytes);
    w.commit();
  }
  const float expected = rng.normal();
  BinaryReader r(path, kMagic, 1);
  Rng restored(0);
  restored.set_state(RngState::from_bytes(r.section_bytes("rng")));
  CHECK(restored.normal() == expected);
}

TEST_CASE("io: a file truncated at any byte gives an error naming the file and offset", "[io]") {
  TempDir dir;
  const std::string good = dir.file("good.bin");
  write_sample(good);
  const auto bytes = slurp(good);
  REQUIRE(bytes.size() > 60);
  const std::string cut = dir.file("cut.bin");
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    spit(cut, std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + static_cast<long>(n)));
    INFO("truncated to " << n << " of " << bytes.size() << " bytes");
    REQUIRE_THROWS_WITH(BinaryReader(cut, kMagic, 2),
                        Contains("'" + cut + "'") && Contains("truncated") &&
                            Contains("byte offset " + std::to_string(n)));
  }
}

TEST_CASE("io: every single flipped bit is detected", "[io]") {
  TempDir dir;
  const std::string good = dir.file("small.bin");
  write_small(good);
  read_small(good);  // the intact file reads
  const auto bytes = slurp(good);
  const std::string bad = dir.file("flipped.bin");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto flipped = bytes;
      flipped[i] ^= static_cast<std::uint8_t>(1u << bit);
      spit(bad, flipped);
      INFO("byte " << i << " bit " << bit);
      REQUIRE_THROWS_WITH(read_small(bad), Contains("corrupted") || Contains("not a lowbit") ||
                                               Contains("truncated"));
    }
  }
}

TEST_CASE("io: trailing bytes after the end marker are an error", "[io]") {
  TempDir dir;
  const std::string path = dir.file("t.bin");
  write_small(path);
  auto bytes = slurp(path);
  bytes.push_back(0);
  spit(path, bytes);
  CHECK_THROWS_WITH(BinaryReader(path, kMagic, 1), Contains("1 unexpected bytes"));
}

TEST_CASE("io: wrong magic says which kind of file was expected", "[io]") {
  TempDir dir;
  const std::string path = dir.file("model.lbm");
  write_sample(path, 1, "LOWBMODL");
  CHECK_THROWS_WITH(BinaryReader(path, "LOWBCKPT", 1, "checkpoint"),
                    Contains("'" + path + "' is not a lowbit checkpoint file") &&
                        Contains("LOWBMODL") && Contains("HINT"));
  const std::string text = dir.file("notes.txt");
  spit(text, {'h', 'e', 'l', 'l', 'o'});
  CHECK_THROWS_WITH(BinaryReader(text, "LOWBCKPT", 1, "checkpoint"),
                    Contains("not a lowbit checkpoint file"));
  CHECK_THROWS_WITH(BinaryReader(dir.file("absent.bin"), kMagic, 1),
                    Contains("cannot open") && Contains("absent.bin"));
}

TEST_CASE("io: a file from a future version names both versions and gives a HINT", "[io]") {
  TempDir dir;
  const std::string path = dir.file("future.bin");
  write_sample(path, 3);
  CHECK_THROWS_WITH(BinaryReader(path, kMagic, 2, "checkpoint"),
                    Contains("format version 3") && Contains("versions 1 to 2") &&
                        Contains("HINT"));
  CHECK_NOTHROW(BinaryReader(path, kMagic, 3));
}

TEST_CASE("io: an uncommitted writer leaves no temp file and the old file untouched", "[io]") {
  TempDir dir;
  const std::string path = dir.file("ckpt.bin");

  SECTION("new file: nothing appears") {
    {
      BinaryWriter w(path, kMagic, 1);
      w.write_section("x", std::vector<std::uint8_t>(1000, 1));
      CHECK(fs::exists(w.temp_path()));
      CHECK_FALSE(fs::exists(path));
    }
    CHECK(dir.entries().empty());
  }
  SECTION("existing file: abandoned by an exception") {
    write_sample(path);
    const auto before = slurp(path);
    try {
      BinaryWriter w(path, kMagic, 1);
      w.write_section("x", std::vector<std::uint8_t>(1000, 1));
      CHECK(slurp(path) == before);  // while writing, path still holds the old file
      throw std::runtime_error("simulated failure mid-save");
    } catch (const std::runtime_error&) {
    }
    CHECK(slurp(path) == before);
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.bin"});
    BinaryReader r(path, kMagic, 2);
    CHECK(r.section_names().size() == 3);
  }
  SECTION("existing file: replaced on commit") {
    write_sample(path);
    write_small(path);
    CHECK_NOTHROW(read_small(path));
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.bin"});
  }
}

TEST_CASE("io: writer misuse is an error", "[io]") {
  TempDir dir;
  const std::string path = dir.file("m.bin");
  CHECK_THROWS_AS(BinaryWriter(path, "SHORT", 1), Error);
  CHECK_THROWS_AS(BinaryWriter(path, kMagic, 0), Error);
  CHECK_THROWS_WITH(BinaryWriter(dir.file("no/such/dir/x.bin"), kMagic, 1),
                    Contains("cannot create") && Contains("HINT"));
  BinaryWriter w(path, kMagic, 1);
  CHECK_THROWS_WITH(w.put_u32(1), Contains("outside a section"));
  w.begin_section("a");
  CHECK_THROWS_AS(w.begin_section("b"), Error);
  CHECK_THROWS_WITH(w.commit(), Contains("section 'a' is open"));
  w.end_section();
  CHECK_THROWS_WITH(w.begin_section("a"), Contains("written twice"));
  CHECK_THROWS_AS(w.begin_section(""), Error);
  CHECK_THROWS_AS(w.begin_section(std::string(256, 'n')), Error);
  w.commit();
  CHECK_THROWS_WITH(w.begin_section("c"), Contains("after commit()"));
  CHECK_THROWS_AS(w.commit(), Error);
  BinaryReader r(path, kMagic, 1);
  CHECK(r.section_names() == std::vector<std::string>{"a"});
}
