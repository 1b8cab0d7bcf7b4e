#include "core/ops.hpp"
#include "tests/support/gradcheck.hpp"

#include <catch2/catch.hpp>

using namespace lowbit::core;
using lowbit::test::uniform;
using Catch::Matchers::Contains;

namespace {

// The example from autograd.hpp: sign forward, clipped straight-through gradient.
Tensor sign_ste(const Tensor& x) {
  Tensor y = sign(x.detach());
  return record(y, "sign_ste", {x}, [xd = x.detach()](const Tensor& g) {
    return Grads{where(le(abs(xd), 1.0f), g, Tensor::zeros_like(g))};
  });
}

}  // namespace

TEST_CASE("autograd: gradients accumulate over every use of a tensor", "[autograd]") {
  Tensor x = Tensor::from_vector<float>({1, 2, 3}, Shape{3}).set_requires_grad(true);
  Tensor y = sum(x * x + x * 3.0f);  // dy/dx = 2x + 3
  y.backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{5, 7, 9});
  // A second, separate graph adds onto the existing .grad.
  sum(x).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{6, 8, 10});
  x.zero_grad();
  CHECK_FALSE(x.grad().defined());
}

TEST_CASE("autograd: leaves that receive the same gradient tensor do not alias", "[autograd]") {
  Tensor a = Tensor::ones(Shape{2}).set_requires_grad(true);
  Tensor b = Tensor::ones(Shape{2}).set_requires_grad(true);
  sum(a + b).backward();  // add's backward hands g to both inputs
  CHECK_FALSE(a.grad().shares_storage_with(b.grad()));
  a.grad().fill_(5.0);  // an optimizer clipping a.grad in place
  CHECK(b.grad().to_vector<float>() == std::vector<float>{1, 1});
}

TEST_CASE("autograd: graph is freed after backward unless retained", "[autograd]") {
  Tensor x = Tensor::from_vector<float>({0.5f, -0.25f}, Shape{2}).set_requires_grad(true);
  Tensor y = sum(tanh(x) * 2.0f);
  y.backward({}, /*retain_graph=*/true);
  const auto g1 = x.grad().to_vector<float>();
  y.backward();  // allowed: the first pass kept the graph
  const auto g2 = x.grad().to_vector<float>();
  CHECK(g2[0] == Approx(2 * g1[0]));
  CHECK_THROWS_WITH(y.backward(), Contains("retain_graph") && Contains("second time"));
}

TEST_CASE("autograd: saved tensors are released with the graph", "[autograd]") {
  Tensor x = uniform(Shape{64}, -1, 1, 3);
  std::weak_ptr<TensorImpl> intermediate;
  Tensor y;
  {
    Tensor h = exp(x);  // exp saves its output
    intermediate = h.impl_ptr();
    y = sum(h * 2.0f);
  }
  CHECK_FALSE(intermediate.expired());  // held by the graph
  y.backward();
  CHECK(intermediate.expired());
}

TEST_CASE("autograd: NoGradGuard and detach record nothing", "[autograd]") {
  Tensor x = uniform(Shape{4}, -1, 1, 5);
  {
    NoGradGuard guard;
    CHECK_FALSE(grad_enabled());
    Tensor y = x * 2.0f;
    CHECK_FALSE(y.requires_grad());
    CHECK(y.grad_fn() == nullptr);
  }
  CHECK(grad_enabled());
  Tensor d = (x * 2.0f).detach();
  CHECK_FALSE(d.requires_grad());
  CHECK_THROWS_WITH(sum(d).backward(), Contains("does not require grad"));
}

TEST_CASE("autograd: backward needs a gradient for non-scalar outputs", "[autograd]") {
  Tensor x = uniform(Shape{3}, -1, 1, 6);
  Tensor y = x * 2.0f;
  CHECK_THROWS_WITH(y.backward(), Contains("non-scalar") && Contains("[3]"));
  CHECK_THROWS_WITH(y.backward(Tensor::ones(Shape{4})), Contains("[4]") && Contains("[3]"));
  y.backward(Tensor::ones(Shape{3}));
  CHECK(x.grad().to_vector<float>() == std::vector<float>{2, 2, 2});
}

TEST_CASE("autograd: a custom straight-through estimator takes a few lines", "[autograd]") {
  Tensor x = Tensor::from_vector<float>({-2.0f, -0.5f, 0.0f, 0.7f, 1.5f}, Shape{5});
  x.set_requires_grad(true);
  Tensor y = sign_ste(x);
  CHECK(y.to_vector<float>() == std::vector<float>{-1, -1, 1, 1, 1});  // sign(0) = +1
  sum(y * 3.0f).backward();
  CHECK(x.grad().to_vector<float>() == std::vector<float>{0, 3, 3, 3, 0});
}

TEST_CASE("autograd: a backward returning the wrong shape is named", "[autograd]") {
  Tensor x = uniform(Shape{3}, -1, 1, 8);
  Tensor y = record(x.detach() * 1.0f, "broken_op", {x},
                    [](const Tensor&) { return Grads{Tensor::zeros(Shape{4})}; });
  CHECK_THROWS_WITH(sum(y).backward(), Contains("broken_op") && Contains("[4]"));
}

TEST_CASE("autograd: long chains do not overflow the stack", "[autograd]") {
  Tensor x = Tensor::from_vector<float>({1.0f}, Shape{1}).set_requires_grad(true);
  Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y * 1.0f;
  sum(y).backward();
  CHECK(x.grad().item() == 1.0);
}
