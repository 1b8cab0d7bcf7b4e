#include "core/ops.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

using namespace lowbit::core;
using lowbit::test::gradcheck;
using lowbit::test::uniform;
using Catch::Matchers::Contains;

TEST_CASE("shape: numel, negative axes, broadcasting", "[tensor]") {
  const Shape s{2, 3, 4};
  CHECK(s.numel() == 24);
  CHECK(s[-1] == 4);
  CHECK(Shape{}.numel() == 1);
  CHECK(contiguous_strides(s) == Strides{12, 4, 1});
  CHECK(broadcast_shapes(Shape{3, 1}, Shape{4}, "t") == Shape{3, 4});
  CHECK_THROWS_WITH(broadcast_shapes(Shape{3, 2}, Shape{4}, "myop"),
                    Contains("myop") && Contains("[3, 2]") && Contains("[4]"));
  CHECK_THROWS_WITH(s[3], Contains("out of range"));
}

TEST_CASE("storage is 64-byte aligned and tail padded", "[tensor]") {
  for (std::int64_t n : {1, 3, 17, 1000}) {
    Tensor t = Tensor::zeros(Shape{n});
    CHECK(reinterpret_cast<std::uintptr_t>(t.data<float>()) % 64 == 0);
    CHECK(t.impl().storage->nbytes() == static_cast<std::size_t>(n) * 4);
    // Reading up to 64 bytes past the end is allowed and sees zeros.
    const auto* bytes = reinterpret_cast<const unsigned char*>(t.data<float>());
    for (std::size_t i = 0; i < 64; ++i) CHECK(bytes[static_cast<std::size_t>(n) * 4 + i] == 0);
  }
}

TEST_CASE("dtypes: data access is checked, conversion works", "[tensor]") {
  Tensor labels = Tensor::from_vector<std::int64_t>({3, 1, 2}, Shape{3});
  CHECK(labels.dtype() == DType::i64);
  CHECK_THROWS_WITH(labels.data<float>(), Contains("i64") && Contains("f32"));
  CHECK(labels.to(DType::f32).to_vector<float>() == std::vector<float>{3, 1, 2});
  CHECK(Tensor::full(Shape{2}, 7, DType::u8).to_vector<std::uint8_t>() ==
        std::vector<std::uint8_t>{7, 7});
  CHECK(Tensor::arange(4, DType::i32).to_vector<std::int32_t>() ==
        std::vector<std::int32_t>{0, 1, 2, 3});
  CHECK_THROWS_WITH(labels.set_requires_grad(true), Contains("f32"));
  CHECK(Tensor::scalar(2.5f).item() == 2.5);
}

TEST_CASE("views share storage; contiguous() packs", "[tensor]") {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, Shape{2, 3});
  Tensor tt = t.transpose(0, 1);
  CHECK(tt.shape() == Shape{3, 2});
  CHECK(tt.shares_storage_with(t));
  CHECK_FALSE(tt.is_contiguous());
  CHECK(tt.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});
  Tensor packed = tt.contiguous();
  CHECK(packed.is_contiguous());
  CHECK_FALSE(packed.shares_storage_with(t));

  Tensor r = t.reshape({3, -1});
  CHECK(r.shape() == Shape{3, 2});
  CHECK(r.shares_storage_with(t));
  CHECK_THROWS_WITH(t.reshape({4, -1}), Contains("reshape"));

  Tensor col = t.slice(1, 1, 3);
  CHECK(col.to_vector<float>() == std::vector<float>{1, 2, 4, 5});
  CHECK(t.slice(1, 0, 3, 2).to_vector<float>() == std::vector<float>{0, 2, 3, 5});
  CHECK(t.select(0, -1).to_vector<float>() == std::vector<float>{3, 4, 5});
  CHECK(t.slice(1, -2, 3).shape() == Shape{2, 2});

  Tensor row = Tensor::from_vector<float>({1, 2, 3}, Shape{3});
  Tensor e = row.expand(Shape{2, 3});
  CHECK(e.strides() == Strides{0, 1});
  CHECK(e.to_vector<float>() == std::vector<float>{1, 2, 3, 1, 2, 3});
  CHECK_THROWS_WITH(row.expand(Shape{2, 4}), Contains("expand"));

  Tensor u = row.unsqueeze(0).unsqueeze(2);
  CHECK(u.shape() == Shape{1, 3, 1});
  CHECK(u.squeeze(2).squeeze(0).shape() == Shape{3});
  CHECK(t.flatten().shape() == Shape{6});
}

TEST_CASE("contiguous() and clone() of transposed matrices on awkward sizes", "[tensor]") {
  // The blocked transpose path of copy_strided, against element-by-element reads of the view;
  // a column slice leaves a row stride larger than the row length.
  for (const std::int64_t rows : lowbit::test::kAwkwardSizes) {
    for (const std::int64_t cols : {std::int64_t{1}, std::int64_t{2}, std::int64_t{33}, rows + 3}) {
      std::vector<float> values(static_cast<std::size_t>(rows * (cols + 1)));
      for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
      const Tensor base = Tensor::from_vector<float>(values, Shape{rows, cols + 1});
      const Tensor view = base.slice(1, 1, cols + 1).transpose(0, 1);  // (cols, rows)
      for (const Tensor& packed : {view.contiguous(), view.clone()}) {
        REQUIRE(packed.is_contiguous());
        const auto got = packed.to_vector<float>();
        bool same = true;
        for (std::int64_t c = 0; c < cols; ++c) {
          for (std::int64_t r = 0; r < rows; ++r) {
            same = same && got[static_cast<std::size_t>(c * rows + r)] ==
                               values[static_cast<std::size_t>(r * (cols + 1) + c + 1)];
          }
        }
        CHECK(same);
      }
    }
  }
}

TEST_CASE("views write through to their base; copy_ and fill_ respect strides", "[tensor]") {
  Tensor t = Tensor::zeros(Shape{3, 4});
  t.slice(1, 1, 3).fill_(2.0);
  t.transpose(0, 1).select(0, 0).copy_(Tensor::from_vector<float>({7, 8, 9}, Shape{3}));
  CHECK(t.to_vector<float>() ==
        std::vector<float>{7, 2, 2, 0, 8, 2, 2, 0, 9, 2, 2, 0});
}

TEST_CASE("gradcheck: view ops route gradients back to the base", "[tensor][gradcheck]") {
  const auto x = uniform(Shape{3, 4}, -1, 1, 11);
  auto r = gradcheck([](const auto& in) { return in[0].transpose(0, 1).contiguous() * 1.5f; }, {x});
  INFO(r.message);
  CHECK(r);
  r = gradcheck([](const auto& in) { return in[0].slice(1, 1, 4, 2) * in[0].slice(1, 0, 2); }, {x});
  INFO(r.message);
  CHECK(r);
  r = gradcheck([](const auto& in) { return in[0].reshape({2, 6}).permute({1, 0}); }, {x});
  INFO(r.message);
  CHECK(r);
  const auto v = uniform(Shape{4}, -1, 1, 12);
  r = gradcheck([](const auto& in) { return in[0].unsqueeze(0).expand(Shape{3, 4}) * 2.0f; }, {v});
  INFO(r.message);
  CHECK(r);
  r = gradcheck([](const auto& in) { return in[0].select(1, 2).squeeze(1).clone(); },
                {uniform(Shape{2, 3, 1}, -1, 1, 13)});
  INFO(r.message);
  CHECK(r);
}
