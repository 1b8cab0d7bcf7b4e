#include "core/autograd.hpp"

#include <unordered_map>
#include <unordered_set>

namespace lowbit::core {
namespace {

thread_local bool g_grad_enabled = true;

// Gradient slots. A backward function may hand the same tensor to several inputs (add returns
// {g, g}), so a slot never adds in place into a tensor it did not allocate itself.
//
// Interior slot: the first gradient is stored as is; a second one makes a new sum tensor.
void accumulate_interior(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    slot = g.contiguous().impl_ptr();
    return;
  }
  const Tensor prev(slot);
  Tensor sum = Tensor::uninitialized(prev.shape());
  const Tensor gc = g.contiguous();
  const float* a = prev.data<float>();
  const float* b = gc.data<float>();
  float* s = sum.data<float>();
  for (std::int64_t i = 0; i < sum.numel(); ++i) s[i] = a[i] + b[i];
  slot = sum.impl_ptr();
}

// Leaf slot (.grad): owns its buffer, so optimizers may scale or clip it in place.
void accumulate_leaf(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    slot = g.clone().impl_ptr();
    return;
  }
  Tensor acc(slot);
  const Tensor gc = g.contiguous();
  float* a = acc.data<float>();
  const float* b = gc.data<float>();
  for (std::int64_t i = 0; i < acc.numel(); ++i) a[i] += b[i];
}

// Nodes reachable from root, ordered so every node comes before the nodes of its inputs. The list
// owns the nodes: freeing a node's inputs during backward must not destroy nodes still to run.
std::vector<std::shared_ptr<Node>> topological_order(const std::shared_ptr<Node>& root) {
  std::vector<std::shared_ptr<Node>> post;
  std::unordered_set<Node*> visited{root.get()};
  std::vector<std::pair<std::shared_ptr<Node>, std::size_t>> stack{{root, 0}};
  while (!stack.empty()) {
    Node* node = stack.back().first.get();
    std::size_t& next = stack.back().second;
    if (next < node->inputs.size()) {
      const Tensor& in = node->inputs[next++];
      if (in.defined() && in.grad_fn() && visited.insert(in.grad_fn().get()).second) {
        stack.emplace_back(in.grad_fn(), 0);
      }
    } else {
      post.push_back(std::move(stack.back().first));
      stack.pop_back();
    }
  }
  return {post.rbegin(), post.rend()};
}

}  // namespace

bool grad_enabled() { return g_grad_enabled; }

NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

Tensor record(Tensor out, std::string_view op, std::vector<Tensor> inputs, BackwardFn backward) {
  if (!g_grad_enabled) return out;
  bool any = false;
  for (const Tensor& in : inputs) any = any || (in.defined() && in.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<Node>();
  node->op = std::string(op);
  node->inputs = std::move(inputs);
  node->backward = std::move(backward);
  out.impl().grad_fn = std::move(node);
  out.impl().requires_grad = true;
  return out;
}

void run_backward(const Tensor& root, const Tensor& grad, bool retain_graph) {
  check(root.requires_grad(),
        "backward: the tensor does not require grad (no input of the ops that made it requires "
        "grad, or it was made under NoGradGuard)");
  Tensor seed = grad;
  if (!seed.defined()) {
    check(root.numel() == 1,
          "backward: a gradient must be given for a non-scalar output of shape {}", root.shape());
    seed = Tensor::ones(root.shape());
  }
  check(seed.shape() == root.shape(), "backward: gradient shape {} does not match output shape {}",
        seed.shape(), root.shape());
  NoGradGuard no_grad;
  if (!root.grad_fn()) {  // a leaf
    accumulate_leaf(root.impl().grad, seed);
    return;
  }
  std::unordered_map<Node*, std::shared_ptr<TensorImpl>> pending;
  pending[root.grad_fn().get()] = seed.contiguous().impl_ptr();
  for (const std::shared_ptr<Node>& node : topological_order(root.grad_fn())) {
    check(!node->released,
          "backward: trying to go through the graph of op '{}' a second time, but its saved "
          "values were freed. HINT: pass retain_graph=true to the first backward()",
          node->op);
    auto it = pending.find(node.get());
    if (it == pending.end()) continue;  // no gradient flows here
    const Tensor g_out(it->second);
    pending.erase(it);
    const Grads grads = node->backward(g_out);
    check(grads.size() == node->inputs.size(),
          "backward of '{}' returned {} gradients for {} inputs", node->op, grads.size(),
          node->inputs.size());
    for (std::size_t i = 0; i < grads.size(); ++i) {
      const Tensor& in = node->inputs[i];
      const Tensor& g = grads[i];
      if (!in.defined() || !in.requires_grad() || !g.defined()) continue;
      check(g.shape() == in.shape(),
            "backward of '{}': gradient for input {} has shape {}, the input has shape {}",
            node->op, i, g.shape(), in.shape());
      check(g.dtype() == DType::f32, "backward of '{}': gradient for input {} is {}, expected f32",
            node->op, i, dtype_name(g.dtype()));
      if (in.grad_fn()) {
        accumulate_interior(pending[in.grad_fn().get()], g);
      } else {
        accumulate_leaf(in.impl().grad, g);
      }
    }
    if (!retain_graph) {
      node->inputs.clear();
      node->backward = nullptr;
      node->released = true;
    }
  }
}

}  // namespace lowbit::core
