// The .lbm format: round trip, summary sizes, CRC32, validation errors, and a fuzz-style check
// that truncated, bit-flipped, re-checksummed and random files are refused with FormatError.

#include "quant/xnor/crc32.hpp"
#include "quant/xnor/model.hpp"
#include "quant/xnor/runner.hpp"
#include "tests/xnor/model_test_util.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

namespace xnor = lowbit::quant::xnor;
using xnor::FormatError;

namespace {

std::filesystem::path temp_dir() {
  auto dir =
      std::filesystem::temp_directory_path() / ("lowbit_test_model_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Recomputes both checksums after an edit (header: bytes [0, 60) at 60; body at 56).
void fix_crcs(std::vector<std::uint8_t>& b) {
  const std::uint32_t body = xnor::crc32(b.data() + 64, b.size() - 64);
  std::memcpy(b.data() + 56, &body, 4);
  const std::uint32_t head = xnor::crc32(b.data(), 60);
  std::memcpy(b.data() + 60, &head, 4);
}

std::string parse_error(const std::vector<std::uint8_t>& b) {
  try {
    (void)xnor::parse_model(b.data(), b.size(), "test.lbm");
  } catch (const FormatError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("crc32 matches zlib's on known vectors", "[xnor][model]") {
  const char* s = "123456789";
  CHECK(xnor::crc32(s, 9) == 0xCBF43926u);
  CHECK(xnor::crc32(s, 0) == 0u);
  CHECK(xnor::crc32(s + 4, 5, xnor::crc32(s, 4)) == 0xCBF43926u);
  std::vector<std::uint8_t> big(1000);
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<std::uint8_t>(i * 7 + 3);
  // Slicing-by-8 and the bytewise tail agree however the buffer is split.
  const std::uint32_t whole = xnor::crc32(big.data(), big.size());
  for (std::size_t cut : {1u, 3u, 8u, 13u, 999u}) {
    CHECK(xnor::crc32(big.data() + cut, big.size() - cut, xnor::crc32(big.data(), cut)) == whole);
  }
}

TEST_CASE("a model round-trips through save and load equal in every field", "[xnor][model]") {
  const xnor::Model m = xnor::test::make_every_op_model(1);
  const auto dir = temp_dir();
  const auto path = (dir / "every.lbm").string();
  xnor::save_model(m, path);
  const xnor::Model back = xnor::load_model(path);
  CHECK(back == m);
  CHECK(back.ops.size() == m.ops.size());
  CHECK(back.metadata.at("dataset") == "synthetic");
  // serialize_model gives the file's bytes; the summary's total is the file's size.
  const auto bytes = read_bytes(path);
  CHECK(bytes == xnor::serialize_model(m));
  CHECK(xnor::model_file_size(m) == bytes.size());
  CHECK(std::filesystem::file_size(path) == bytes.size());
  const std::string summary = xnor::summary(m);
  CHECK(summary.find("file: " + std::to_string(bytes.size()) + " bytes") != std::string::npos);
  CHECK(summary.find("bconv2d") != std::string::npos);
  // No temp files left beside it; a second save replaces the file.
  xnor::save_model(m, path);
  std::size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 1);
  // A folder that does not exist: a clear error, nothing written.
  CHECK_THROWS_WITH(xnor::save_model(m, (dir / "no" / "m.lbm").string()),
                    Catch::Contains("cannot create") && Catch::Contains("no/m.lbm"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("model layout: header fields and 64-byte aligned tensors", "[xnor][model]") {
  const auto b = xnor::serialize_model(xnor::test::make_every_op_model(2));
  REQUIRE(b.size() > 64);
  CHECK(std::memcmp(b.data(), "\x89LBM\r\n\x1a\n", 8) == 0);
  std::uint32_t version, header;
  std::uint64_t file_size, data_offset;
  std::memcpy(&version, b.data() + 8, 4);
  std::memcpy(&header, b.data() + 12, 4);
  std::memcpy(&file_size, b.data() + 16, 8);
  std::memcpy(&data_offset, b.data() + 40, 8);
  CHECK(version == xnor::kFormatVersion);
  CHECK(header == 64);
  CHECK(file_size == b.size());
  CHECK(data_offset % 64 == 0);
}

TEST_CASE("Model::add and validate reject inconsistent ops with a clear message", "[xnor][model]") {
  xnor::Model m = xnor::Model::create({.channels = 3, .height = 8, .width = 8});
  const xnor::ValueId x = m.input_id();
  // bconv2d on a float value.
  xnor::BConv2d b{.out_c = 4,
                  .kernel = 3,
                  .stride = 1,
                  .pad = 1,
                  .weight = std::vector<std::uint64_t>(4 * 9, 0),
                  .threshold = std::vector<std::int32_t>(4, 0),
                  .flip = std::vector<std::uint8_t>(4, 0)};
  CHECK_THROWS_WITH(m.add("b", b, {x}), Catch::Contains("bconv2d reads bits"));
  const xnor::ValueId s = m.add("sign", xnor::Sign{}, {x});
  // Wrong weight count, wrong threshold count, padding bits set.
  auto bad = b;
  bad.weight.pop_back();
  CHECK_THROWS_WITH(m.add("b", bad, {s}), Catch::Contains("weight has 35 elements, expected 36"));
  bad = b;
  bad.threshold.pop_back();
  CHECK_THROWS_WITH(m.add("b", bad, {s}), Catch::Contains("threshold has 3"));
  bad = b;
  bad.weight[5] = std::uint64_t{1} << 3;  // channel 3 of 3: a padding bit
  CHECK_THROWS_WITH(m.add("b", bad, {s}), Catch::Contains("padding bits"));
  bad = b;
  bad.flip[0] = 2;
  CHECK_THROWS_WITH(m.add("b", bad, {s}), Catch::Contains("flip[0]"));
  // Input ids must be defined before the op; add needs equal shapes.
  CHECK_THROWS_WITH(m.add("r", xnor::Relu{}, {7}), Catch::Contains("input id 7"));
  const xnor::ValueId p = m.add("p", xnor::MaxPool{2, 2, 0}, {x});
  CHECK_THROWS_WITH(m.add("a", xnor::Add{}, {x, p}), Catch::Contains("shapes differ"));
  CHECK_THROWS_WITH(m.add("a", xnor::Add{}, {x}), Catch::Contains("expected 2"));
  // Kernel larger than the padded input; kconv bits; pool padding.
  CHECK_THROWS_WITH(
      m.add("c", xnor::Conv2d{.out_c = 1, .kernel = 9, .weight = std::vector<float>(243)}, {x}),
      Catch::Contains("larger than the padded input"));
  CHECK_THROWS_WITH(m.add("q", xnor::Quantize{9}, {x}), Catch::Contains("bits 9"));
  CHECK_THROWS_WITH(m.add("mp", xnor::MaxPool{2, 2, 2}, {x}), Catch::Contains("more than half"));
  // A model whose output is not (1, 1, classes) f32 is invalid; so is a wrong class-name count.
  CHECK_THROWS_WITH(xnor::validate(m), Catch::Contains("logits must be f32 (1, 1, classes)"));
  const xnor::ValueId g = m.add("gap", xnor::GlobalAvgPool{}, {x});
  CHECK(m.output == g);
  CHECK_NOTHROW(xnor::validate(m));
  m.class_names = {"only one"};
  CHECK_THROWS_WITH(xnor::validate(m), Catch::Contains("1 class names for 3 classes"));
  m.class_names.clear();
  m.values[1].c = 5;  // a recorded value that disagrees with its op
  CHECK_THROWS_WITH(xnor::validate(m, "x.lbm"), Catch::StartsWith("x.lbm: value 1 'sign'"));
  CHECK_THROWS_AS(xnor::save_model(m, "/nonexistent-dir/x.lbm"), FormatError);
}

TEST_CASE("loader errors name the file and the problem", "[xnor][model]") {
  const auto good = xnor::serialize_model(xnor::test::make_every_op_model(3));
  auto b = good;
  b[1] = 'X';
  CHECK_THAT(parse_error(b), Catch::Contains("test.lbm: not a lowbit .lbm model"));
  b = good;
  const std::uint32_t future = xnor::kFormatVersion + 1;
  std::memcpy(b.data() + 8, &future, 4);
  fix_crcs(b);
  CHECK_THAT(parse_error(b),
             Catch::Contains("version " + std::to_string(future)) && Catch::Contains("re-export"));
  b = good;
  b.resize(good.size() - 1);
  CHECK_THAT(parse_error(b), Catch::Contains("truncated"));
  b = good;
  b[good.size() / 2] ^= 0x10;
  CHECK_THAT(parse_error(b), Catch::Contains("checksum"));
  b = std::vector<std::uint8_t>(good.begin(), good.begin() + 5);
  CHECK_THAT(parse_error(b), Catch::Contains("too short"));
  CHECK_THAT(parse_error({}), Catch::Contains("too short"));
  CHECK_THROWS_WITH(xnor::load_model("/nonexistent/m.lbm"),
                    Catch::Contains("/nonexistent/m.lbm: cannot open"));
}

TEST_CASE("fuzz: truncated, bit-flipped, re-checksummed and random files are refused",
          "[xnor][model]") {
  const xnor::Model model = xnor::test::make_every_op_model(4);
  const auto good = xnor::serialize_model(model);
  REQUIRE_NOTHROW(xnor::parse_model(good.data(), good.size(), "good"));

  SECTION("every truncation") {
    for (std::size_t len = 0; len < good.size(); ++len) {
      const std::vector<std::uint8_t> b(good.begin(),
                                        good.begin() + static_cast<std::ptrdiff_t>(len));
      INFO("length " << len);
      CHECK_THROWS_AS(xnor::parse_model(b.data(), b.size(), "t"), FormatError);
    }
  }
  SECTION("1000 random bit flips (1 to 4 bits each)") {
    std::mt19937 rng(5);
    for (int i = 0; i < 1000; ++i) {
      auto b = good;
      const int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f)
        b[rng() % b.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
      if (b == good) continue;
      INFO("variant " << i);
      CHECK_THROWS_AS(xnor::parse_model(b.data(), b.size(), "f"), FormatError);
    }
  }
  SECTION("1000 corruptions with valid checksums: refused, or a valid model that runs") {
    // Only the structural checks stand between these and the runner (a weight byte may change
    // and still give a valid model: then it must run without a sanitizer report).
    std::mt19937 rng(6);
    std::uint64_t table_size = 0;
    std::memcpy(&table_size, good.data() + 32, 8);
    const std::vector<float> image(3 * 7 * 7, 0.5f);
    int accepted = 0;
    for (int i = 0; i < 1000; ++i) {
      auto b = good;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int e = 0; e < edits; ++e) {
        // Mostly the record table, sometimes the tensors.
        const std::size_t at =
            i % 4 == 3 ? 64 + rng() % (good.size() - 64) : 64 + rng() % table_size;
        switch (rng() % 3) {
          case 0:
            b[at] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
            break;
          case 1:
            b[at] = static_cast<std::uint8_t>(rng());
            break;
          default:
            b[at] = (rng() & 1u) ? 0xFF : 0x00;
            break;
        }
      }
      fix_crcs(b);
      INFO("variant " << i);
      try {
        xnor::Model m = xnor::parse_model(b.data(), b.size(), "c");
        ++accepted;
        xnor::Runner runner(std::move(m));
        const auto logits = runner.run(image.data(), 1);
        CHECK(logits.size() == static_cast<std::size_t>(runner.num_classes()));
      } catch (const FormatError&) {
      }
    }
    CHECK(accepted > 0);  // the runner part ran
    CHECK(accepted < 1000);
  }
  SECTION("random garbage, with and without a valid magic") {
    std::mt19937 rng(7);
    for (int i = 0; i < 1000; ++i) {
      std::vector<std::uint8_t> b(rng() % 512);
      for (auto& x : b) x = static_cast<std::uint8_t>(rng());
      if (i % 2 == 1 && b.size() >= 64) {
        std::memcpy(b.data(), good.data(), 16);  // magic, version, header size
        if (i % 4 == 1) fix_crcs(b);
      }
      CHECK_THROWS_AS(xnor::parse_model(b.data(), b.size(), "g"), FormatError);
    }
  }
}
