#pragma once
// The fields of every op record, listed once, in file order (docs/lbm-format.md), for the file
// writer and reader and the summary. Internal to quant/xnor (model.cpp, model_io.cpp).
//
// A visitor V has
//   void integer(const char* name, std::int64_t& x);   // i64 in the file
//   void real(const char* name, float& x);             // f32
//   template <class T> void tensor(const char* name, std::vector<T>& t);  // a tensor reference
// and enumerations travel as integers (enumeration() below).

#include "quant/xnor/model.hpp"

#include <cstdint>
#include <variant>

namespace lowbit::quant::xnor::detail {

template <class V, class E>
void enumeration(V& v, const char* name, E& e) {
  auto x = static_cast<std::int64_t>(e);
  v.integer(name, x);
  // validate() rejects 0 (and so anything that does not fit the enumeration's u32).
  e = x > 0 && x <= 0xFFFFFFFF ? static_cast<E>(x) : static_cast<E>(0);
}

template <class V, class O>
void conv_geometry(V& v, O& o) {
  v.integer("out_c", o.out_c);
  v.integer("kernel", o.kernel);
  v.integer("stride", o.stride);
  v.integer("pad", o.pad);
}

template <class V>
void visit_fields(Conv2d& o, V& v) {
  conv_geometry(v, o);
  v.tensor("weight", o.weight);
  v.tensor("bias", o.bias);
}
template <class V>
void visit_fields(BConv2d& o, V& v) {
  conv_geometry(v, o);
  enumeration(v, "output", o.output);
  v.tensor("weight", o.weight);
  v.tensor("threshold", o.threshold);
  v.tensor("flip", o.flip);
  v.tensor("scale", o.scale);
  v.tensor("bias", o.bias);
}
template <class V>
void visit_fields(KConv2d& o, V& v) {
  conv_geometry(v, o);
  v.integer("weight_bits", o.weight_bits);
  v.tensor("weight", o.weight);
  v.tensor("scale", o.scale);
  v.tensor("bias", o.bias);
}
template <class V>
void visit_fields(Affine& o, V& v) {
  v.tensor("scale", o.scale);
  v.tensor("shift", o.shift);
}
template <class V>
void visit_fields(Quantize& o, V& v) {
  v.integer("bits", o.bits);
}
template <class V>
void visit_fields(Clip& o, V& v) {
  v.real("lo", o.lo);
  v.real("hi", o.hi);
}
template <class V>
void visit_fields(MaxPool& o, V& v) {
  v.integer("kernel", o.kernel);
  v.integer("stride", o.stride);
  v.integer("pad", o.pad);
}
template <class V>
void visit_fields(AvgPool& o, V& v) {
  v.integer("kernel", o.kernel);
  v.integer("stride", o.stride);
  v.integer("pad", o.pad);
}
template <class V>
void visit_fields(Conv2dI8& o, V& v) {
  conv_geometry(v, o);
  v.tensor("weight", o.weight);
  v.tensor("scale", o.scale);
  v.tensor("bias", o.bias);
}
template <class V>
void visit_fields(QuantizePow2& o, V& v) {
  v.integer("shift_bits", o.shift_bits);
  v.real("in_scale", o.in_scale);
}
// Kinds without fields, listed so that a new kind without its visit_fields does not compile.
template <class V>
void visit_fields(Sign&, V&) {}
template <class V>
void visit_fields(ToFloat&, V&) {}
template <class V>
void visit_fields(Relu&, V&) {}
template <class V>
void visit_fields(GlobalAvgPool&, V&) {}
template <class V>
void visit_fields(Add&, V&) {}
template <class V>
void visit_fields(Flatten&, V&) {}

// Calls visit_fields on the active alternative.
template <class V>
void visit_op_fields(OpParams& params, V& v) {
  std::visit([&v](auto& o) { visit_fields(o, v); }, params);
}

// Default-constructed params of a kind id; false when the id is unknown.
bool make_params(std::uint32_t kind, OpParams& out);

}  // namespace lowbit::quant::xnor::detail
