#pragma once
// Every differentiable op of lowbit::core, by family. Each family's .cpp holds forward and
// backward side by side.

#include "core/autograd.hpp"
#include "core/ops/conv.hpp"
#include "core/ops/elementwise.hpp"
#include "core/ops/linalg.hpp"
#include "core/ops/loss.hpp"
#include "core/ops/norm.hpp"
#include "core/ops/pool.hpp"
#include "core/ops/reduce.hpp"
#include "core/tensor.hpp"
