#pragma once
// Small helpers shared by the model sources (internal to quant/xnor; std only, no fmt).

#include "quant/xnor/model.hpp"

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

namespace lowbit::quant::xnor::detail {

// Concatenates the arguments as an ostream would print them.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream o;
  (o << ... << args);
  return o.str();
}

// "f32 (28, 28, 64)", "codes2 (1, 1, 10)"
inline std::string shape_string(const Value& v) {
  return cat(value_kind_name(v.kind), v.kind == ValueKind::codes ? std::to_string(v.bits) : "",
             " (", v.h, ", ", v.w, ", ", v.c, ")");
}

// a * b when both are >= 0 and the product is at most `limit`; -1 otherwise (overflow-safe).
inline std::int64_t mul_limited(std::int64_t a, std::int64_t b,
                                std::int64_t limit = std::numeric_limits<std::int64_t>::max()) {
  if (a < 0 || b < 0 || limit < 0) return -1;
  if (a != 0 && b > limit / a) return -1;
  return a * b;
}

}  // namespace lowbit::quant::xnor::detail
