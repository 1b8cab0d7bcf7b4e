#pragma once
// Reverse-mode autograd. Every differentiable op computes its result without a graph, then calls
// record() with its inputs and a backward function that maps the output gradient to one gradient
// per input. A custom gradient (a straight-through estimator) is written the same way:
//
//   Tensor sign_ste(const Tensor& x) {
//     Tensor y = sign(x.detach());
//     return record(y, "sign_ste", {x}, [xd = x.detach()](const Tensor& g) {
//       return Grads{where(le(abs(xd), 1.0f), g, zeros_like(g))};
//     });
//   }
//
// Backward functions run with gradient recording off. They must not capture the op's output
// Tensor itself (that would make a reference cycle); capture `out.detach()` instead.

#include "core/tensor.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lowbit::core {

using Grads = std::vector<Tensor>;  // one per input; undefined = no gradient for that input
using BackwardFn = std::function<Grads(const Tensor& grad_out)>;

struct Node {
  std::string op;
  std::vector<Tensor> inputs;
  BackwardFn backward;
  bool released = false;  // set once backward has freed the saved state
};

// True unless a NoGradGuard is alive on this thread.
bool grad_enabled();

class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Attaches a graph node to `out` when recording is on and any input requires grad; returns `out`.
Tensor record(Tensor out, std::string_view op, std::vector<Tensor> inputs, BackwardFn backward);

// Runs backward from `root` with output gradient `grad` (see Tensor::backward).
void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph);

}  // namespace lowbit::core
