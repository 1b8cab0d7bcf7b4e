#pragma once
// Shared by the quant tests: the built-in quantizers and models, registered once per process
// (an inline function's static is one object across translation units).
#include "layers/models.hpp"
#include "quant/quantizer.hpp"

#include <mutex>

namespace lowbit::test {

inline void register_quant_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    quant::register_builtin_quantizers();
    layers::register_builtin_models();
  });
}

}  // namespace lowbit::test
