#pragma once
// Reader for the golden test fixtures written by tests/core/golden/generate.py.
//
// Format (version 1), one plain-text file per case:
//
//   # comment (a line starting with '#')
//   op <op name>
//   param <name> <number>
//   tensor <name> <dtype> <ndim> <dim_0> ... <dim_ndim-1>
//   <numel values, whitespace separated, over any number of lines>
//
// dtype is f32 (values as %.9g, exact for float32) or i64. A 0-d tensor has ndim 0 and one value.
// Any malformed line, a short or long value list, a duplicate name or a missing file throws
// core::Error naming the file and line.
//
//   const Fixture f = load_fixture(dir + "/conv2d_stride2.txt");
//   Tensor x = f.tensor("x");                     // a fresh copy each call
//   const auto stride = f.int_param("stride_h");

#include "core/tensor.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace lowbit::test {

// A tensor as read from the file: one of f32 / i64 is filled, as `dtype` says.
struct FixtureTensor {
  core::Shape shape;
  core::DType dtype = core::DType::f32;
  std::vector<float> f32;
  std::vector<std::int64_t> i64;
};

class Fixture {
 public:
  Fixture(std::string path, std::string op, std::map<std::string, double> params,
          std::map<std::string, FixtureTensor> tensors);

  const std::string& path() const { return path_; }
  const std::string& op() const { return op_; }
  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  // A new contiguous tensor with the named values (callers may mark it or modify it freely).
  core::Tensor tensor(const std::string& name) const;
  double param(const std::string& name) const;
  // The parameter as an integer; an error if it is not integral.
  std::int64_t int_param(const std::string& name) const;

 private:
  std::string path_;
  std::string op_;
  std::map<std::string, double> params_;
  std::map<std::string, FixtureTensor> tensors_;
};

// Reads and validates one fixture file; throws core::Error on any problem.
Fixture load_fixture(const std::string& path);

}  // namespace lowbit::test
