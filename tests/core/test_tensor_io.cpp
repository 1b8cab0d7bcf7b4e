#include "core/error.hpp"
#include "core/tensor_io.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace lowbit::core;
using Catch::Contains;

namespace {

struct TempFile {
  TempFile() {
    static int counter = 0;
    const std::string name = "lowbit_test_tensor_io_" + std::to_string(::getpid()) + "_" +
                             std::to_string(counter++);
    path = (fs::temp_directory_path() / name).string();
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove(path, ec);
  }
  std::string path;
};

constexpr const char* kMagic = "LOWBTEST";

}  // namespace

TEST_CASE("tensor_io: every dtype, 0-d, empty and non-contiguous tensors round trip", "[io]") {
  TempFile f;
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = Tensor::from_vector<std::int64_t>({-1, 1LL << 40}, {2});
  const Tensor c = Tensor::from_vector<std::int32_t>({7, -8, 9}, {3, 1});
  const Tensor d = Tensor::from_vector<std::uint8_t>({0, 255}, {1, 2});
  const Tensor s = Tensor::scalar(3.5f);
  const Tensor e = Tensor::zeros({0, 4});
  const Tensor t = a.transpose(0, 1);  // written in its logical (row-major) order
  {
    BinaryWriter w(f.path, kMagic, 1);
    w.begin_section("tensors");
    for (const Tensor& x : {a, b, c, d, s, e, t}) put_tensor(w, x);
    w.end_section();
    w.commit();
  }
  BinaryReader r(f.path, kMagic, 1);
  SectionReader in = r.section("tensors");
  const Tensor a2 = get_tensor(in);
  CHECK(a2.shape() == a.shape());
  CHECK(a2.to_vector<float>() == a.to_vector<float>());
  CHECK(get_tensor(in).to_vector<std::int64_t>() == b.to_vector<std::int64_t>());
  const Tensor c2 = get_tensor(in);
  CHECK(c2.dtype() == DType::i32);
  CHECK(c2.shape() == Shape{3, 1});
  CHECK(c2.to_vector<std::int32_t>() == c.to_vector<std::int32_t>());
  CHECK(get_tensor(in).to_vector<std::uint8_t>() == d.to_vector<std::uint8_t>());
  const Tensor s2 = get_tensor(in);
  CHECK(s2.dim() == 0);
  CHECK(s2.item() == 3.5);
  CHECK(get_tensor(in).shape() == Shape{0, 4});
  Tensor dst = Tensor::zeros({2, 3}).transpose(0, 1);  // non-contiguous destination
  get_tensor_into(in, dst, "w.t");
  CHECK(dst.to_vector<float>() == t.to_vector<float>());
  in.expect_end();
}

TEST_CASE("tensor_io: mismatches and malformed records are clear errors", "[io]") {
  TempFile f;
  {
    BinaryWriter w(f.path, kMagic, 1);
    w.begin_section("w");
    put_tensor(w, Tensor::ones({2, 2}));
    w.end_section();
    w.begin_section("bad_dtype");
    w.put_u8(9);
    w.end_section();
    w.begin_section("bad_size");
    w.put_u8(0);
    w.put_u32(1);
    w.put_i64(4);
    w.put_u64(12);  // 4 floats need 16 bytes
    w.end_section();
    w.begin_section("short");
    w.put_u8(0);
    w.put_u32(1);
    w.put_i64(4);
    w.put_u64(16);
    w.put_f32(1.0f);  // only 4 of 16 data bytes
    w.end_section();
    w.commit();
  }
  BinaryReader r(f.path, kMagic, 1);
  auto in = r.section("w");
  Tensor wrong = Tensor::zeros({4});
  CHECK_THROWS_WITH(get_tensor_into(in, wrong, "fc.weight"),
                    Contains("section 'w'") && Contains("'fc.weight' is stored as f32 [2, 2]") &&
                        Contains("[4]"));
  auto bd = r.section("bad_dtype");
  CHECK_THROWS_WITH(get_tensor(bd), Contains("unknown tensor dtype code 9"));
  auto bs = r.section("bad_size");
  CHECK_THROWS_WITH(get_tensor(bs), Contains("needs 16 bytes, record says 12"));
  auto sh = r.section("short");
  CHECK_THROWS_WITH(get_tensor(sh), Contains("section 'short'") && Contains("only 4 remain"));
}
