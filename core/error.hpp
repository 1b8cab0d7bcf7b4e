#pragma once
// Errors raised by lowbit. Every message names what failed and, where one exists, ends with a HINT.

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace lowbit::core {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws Error(formatted message) when `cond` is false. Arguments are formatted only on failure.
template <typename... Args>
inline void check(bool cond, fmt::format_string<Args...> format, Args&&... args) {
  if (!cond) [[unlikely]] {
    throw Error(fmt::format(format, std::forward<Args>(args)...));
  }
}

template <typename... Args>
[[noreturn]] inline void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace lowbit::core
