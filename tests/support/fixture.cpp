#include "tests/support/fixture.hpp"

#include "core/error.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#include <utility>
#include <vector>

namespace lowbit::test {
namespace {

constexpr const char* kHint =
    "HINT: regenerate the fixtures with /usr/bin/python3 tests/core/golden/generate.py";

struct Token {
  std::string text;
  std::int64_t line;
};

// Splits the file into whitespace-separated tokens, dropping '#' comment lines.
std::vector<Token> tokenize(const std::string& path) {
  std::ifstream in(path);
  core::check(in.good(), "golden fixture {} cannot be opened (missing?). {}", path, kHint);
  std::vector<Token> tokens;
  std::string line;
  for (std::int64_t n = 1; std::getline(in, line); ++n) {
    const auto first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    std::istringstream words(line);
    for (std::string w; words >> w;) tokens.push_back({std::move(w), n});
  }
  core::check(!in.bad(), "golden fixture {}: read error", path);
  return tokens;
}

class Cursor {
 public:
  Cursor(const std::string& path, std::vector<Token> tokens)
      : path_(path), tokens_(std::move(tokens)) {}

  bool done() const { return pos_ >= tokens_.size(); }
  std::int64_t line() const {
    return done() ? (tokens_.empty() ? 0 : tokens_.back().line) : tokens_[pos_].line;
  }

  const std::string& next(const char* what) {
    core::check(!done(), "golden fixture {}: file ends where {} was expected. {}", path_, what,
                kHint);
    return tokens_[pos_++].text;
  }

  double number(const char* what) {
    const std::int64_t at = line();
    const std::string& s = next(what);
    errno = 0;
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    core::check(end != s.c_str() && *end == '\0' && errno != ERANGE,
                "golden fixture {} line {}: '{}' is not a valid {}", path_, at, s, what);
    return v;
  }

  std::int64_t integer(const char* what) {
    const std::int64_t at = line();
    const std::string& s = next(what);
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    core::check(end != s.c_str() && *end == '\0' && errno != ERANGE,
                "golden fixture {} line {}: '{}' is not a valid integer {}", path_, at, s, what);
    return static_cast<std::int64_t>(v);
  }

 private:
  const std::string& path_;
  std::vector<Token> tokens_;
  std::size_t pos_ = 0;
};

FixtureTensor read_tensor(Cursor& c, const std::string& path, const std::string& name) {
  const std::int64_t at = c.line();
  const std::string dtype = c.next("a dtype");
  const std::int64_t ndim = c.integer("ndim");
  core::check(ndim >= 0 && ndim <= 8, "golden fixture {} line {}: tensor {} has ndim {}", path, at,
              name, ndim);
  std::vector<std::int64_t> dims(static_cast<std::size_t>(ndim));
  std::int64_t numel = 1;
  for (auto& d : dims) {
    d = c.integer("dimension");
    core::check(d >= 0 && d <= (1 << 24), "golden fixture {} line {}: tensor {} has dimension {}",
                path, at, name, d);
    numel *= d;
    core::check(numel <= (1 << 24), "golden fixture {} line {}: tensor {} is too large", path, at,
                name);
  }
  FixtureTensor t;
  t.shape = core::Shape(dims);
  if (dtype == "f32") {
    t.dtype = core::DType::f32;
    t.f32.resize(static_cast<std::size_t>(numel));
    for (float& x : t.f32) {
      const double d = c.number("f32 value");
      core::check(std::isnan(d) || std::abs(d) <= std::numeric_limits<float>::max(),
                  "golden fixture {}: tensor {} holds {}, outside float32", path, name, d);
      x = static_cast<float>(d);
    }
    return t;
  }
  if (dtype == "i64") {
    t.dtype = core::DType::i64;
    t.i64.resize(static_cast<std::size_t>(numel));
    for (auto& x : t.i64) x = c.integer("i64 value");
    return t;
  }
  core::fail("golden fixture {} line {}: tensor {} has unknown dtype '{}' (f32 or i64)", path, at,
             name, dtype);
}

}  // namespace

Fixture::Fixture(std::string path, std::string op, std::map<std::string, double> params,
                 std::map<std::string, FixtureTensor> tensors)
    : path_(std::move(path)),
      op_(std::move(op)),
      params_(std::move(params)),
      tensors_(std::move(tensors)) {}

core::Tensor Fixture::tensor(const std::string& name) const {
  const auto it = tensors_.find(name);
  core::check(it != tensors_.end(), "golden fixture {} has no tensor '{}'. {}", path_, name, kHint);
  const FixtureTensor& t = it->second;
  return t.dtype == core::DType::i64 ? core::Tensor::from_vector(t.i64, t.shape)
                                     : core::Tensor::from_vector(t.f32, t.shape);
}

double Fixture::param(const std::string& name) const {
  const auto it = params_.find(name);
  core::check(it != params_.end(), "golden fixture {} has no param '{}'. {}", path_, name, kHint);
  return it->second;
}

std::int64_t Fixture::int_param(const std::string& name) const {
  const double v = param(name);
  core::check(std::nearbyint(v) == v && std::abs(v) < 9.0e15,
              "golden fixture {}: param {} = {} is not an integer", path_, name, v);
  return static_cast<std::int64_t>(v);
}

Fixture load_fixture(const std::string& path) {
  Cursor c(path, tokenize(path));
  std::string op;
  std::map<std::string, double> params;
  std::map<std::string, FixtureTensor> tensors;
  while (!c.done()) {
    const std::int64_t at = c.line();
    const std::string key = c.next("a keyword");
    if (key == "op") {
      core::check(op.empty(), "golden fixture {} line {}: second 'op' line", path, at);
      op = c.next("an op name");
    } else if (key == "param") {
      const std::string name = c.next("a param name");
      core::check(params.count(name) == 0, "golden fixture {} line {}: param {} given twice", path,
                  at, name);
      params[name] = c.number("param value");
    } else if (key == "tensor") {
      const std::string name = c.next("a tensor name");
      core::check(tensors.count(name) == 0, "golden fixture {} line {}: tensor {} given twice",
                  path, at, name);
      tensors.emplace(name, read_tensor(c, path, name));
    } else {
      core::fail(
          "golden fixture {} line {}: expected 'op', 'param' or 'tensor', found '{}' (too many "
          "values for the tensor above?)",
          path, at, key);
    }
  }
  core::check(!op.empty(), "golden fixture {}: no 'op' line. {}", path, kHint);
  return Fixture(path, std::move(op), std::move(params), std::move(tensors));
}

}  // namespace lowbit::test
