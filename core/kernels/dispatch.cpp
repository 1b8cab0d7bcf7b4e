#include "core/kernels/dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace lowbit::core::kernels {
namespace {

constexpr KernelTable kOptimized{
    sgemm_blas,
    conv2d_forward_fast,
    conv2d_backward_input_fast,
    conv2d_backward_weight_fast,
    max_pool2d_forward_fast,
    max_pool2d_backward_fast,
    avg_pool2d_forward_fast,
    avg_pool2d_backward_fast,
    batch_norm_forward_fast,
    batch_norm_backward_fast,
};

constexpr KernelTable kReference{
    sgemm_reference,
    conv2d_forward_reference,
    conv2d_backward_input_reference,
    conv2d_backward_weight_reference,
    max_pool2d_forward_reference,
    max_pool2d_backward_reference,
    avg_pool2d_forward_reference,
    avg_pool2d_backward_reference,
    batch_norm_forward_reference,
    batch_norm_backward_reference,
};

KernelPath path_from_environment() {
  const char* v = std::getenv("LOWBIT_KERNELS");
  return v != nullptr && std::string_view(v) == "reference" ? KernelPath::reference
                                                             : KernelPath::optimized;
}

std::atomic<KernelPath>& current_path() {
  static std::atomic<KernelPath> path{path_from_environment()};
  return path;
}

}  // namespace

const KernelTable& kernel_table(KernelPath path) {
  return path == KernelPath::reference ? kReference : kOptimized;
}
KernelPath kernel_path() { return current_path().load(std::memory_order_relaxed); }
void set_kernel_path(KernelPath path) { current_path().store(path, std::memory_order_relaxed); }

}  // namespace lowbit::core::kernels
