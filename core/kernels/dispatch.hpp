#pragma once
// The one place that picks between optimized kernels and their reference twins.
// LOWBIT_KERNELS=reference in the environment forces every reference twin (read once, at first
// use); tests may switch explicitly with set_kernel_path().

#include "core/kernels/conv.hpp"
#include "core/kernels/gemm.hpp"
#include "core/kernels/norm.hpp"
#include "core/kernels/pool.hpp"

namespace lowbit::core::kernels {

enum class KernelPath { optimized, reference };

struct KernelTable {
  decltype(&sgemm_blas) sgemm;
  decltype(&conv2d_forward_fast) conv2d_forward;
  decltype(&conv2d_backward_input_fast) conv2d_backward_input;
  decltype(&conv2d_backward_weight_fast) conv2d_backward_weight;
  decltype(&max_pool2d_forward_fast) max_pool2d_forward;
  decltype(&max_pool2d_backward_fast) max_pool2d_backward;
  decltype(&avg_pool2d_forward_fast) avg_pool2d_forward;
  decltype(&avg_pool2d_backward_fast) avg_pool2d_backward;
  decltype(&batch_norm_forward_fast) batch_norm_forward;
  decltype(&batch_norm_backward_fast) batch_norm_backward;
};

const KernelTable& kernel_table(KernelPath path);
KernelPath kernel_path();
void set_kernel_path(KernelPath path);
// The kernels of the current path.
inline const KernelTable& kernels() { return kernel_table(kernel_path()); }

}  // namespace lowbit::core::kernels
