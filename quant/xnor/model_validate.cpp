// Shape inference and validation of models (limits in docs/lbm-format.md, "Validation").
// Every size the runner uses is checked here, overflow-safe, before anything is allocated.

#include "quant/xnor/kernels.hpp"
#include "quant/xnor/model.hpp"
#include "quant/xnor/model_util.hpp"

#include <cmath>

namespace lowbit::quant::xnor {

namespace {

using detail::cat;
using detail::mul_limited;
using detail::shape_string;

constexpr std::int64_t kMaxSide = 1 << 16;      // h, w
constexpr std::int64_t kMaxChannels = 1 << 28;  // c, out_c (a flatten may make many)
constexpr std::int64_t kMaxElements = 1 << 28;  // h * w * c of one value
constexpr std::int64_t kMaxKernel = 64, kMaxStride = 64, kMaxPad = 64;
constexpr std::int64_t kMaxDotTerms = std::int64_t{1} << 30;  // int32 dots never overflow
constexpr std::int64_t kMaxI8Dot = (std::int64_t{1} << 31) - 1;  // int8 * int8 dots in int32
constexpr std::size_t kMaxOps = 1 << 20;
constexpr std::size_t kMaxName = 1024;

// Throws FormatError("<prefix><message>").
struct Check {
  std::string prefix;
  template <class... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw FormatError(prefix + cat(args...));
  }
  template <class... Args>
  void operator()(bool ok, const Args&... args) const {
    if (!ok) fail(args...);
  }
};

void check_value_dims(const Check& check, std::int64_t h, std::int64_t w, std::int64_t c) {
  check(h >= 1 && h <= kMaxSide && w >= 1 && w <= kMaxSide, "spatial size ", h, "x", w,
        " is outside [1, ", kMaxSide, "]");
  check(c >= 1 && c <= kMaxChannels, "channel count ", c, " is outside [1, ", kMaxChannels, "]");
  const std::int64_t hw = mul_limited(h, w, kMaxElements);
  check(hw >= 0 && mul_limited(hw, c, kMaxElements) >= 0, "shape (", h, ", ", w, ", ", c,
        ") has more than ", kMaxElements, " elements");
}

void check_window(const Check& check, std::int64_t kernel, std::int64_t stride, std::int64_t pad) {
  check(kernel >= 1 && kernel <= kMaxKernel, "kernel ", kernel, " is outside [1, ", kMaxKernel,
        "]");
  check(stride >= 1 && stride <= kMaxStride, "stride ", stride, " is outside [1, ", kMaxStride,
        "]");
  check(pad >= 0 && pad <= kMaxPad, "pad ", pad, " is outside [0, ", kMaxPad, "]");
}

// Output side of a window op; requires in + 2*pad >= kernel.
std::int64_t out_side(const Check& check, std::int64_t in, std::int64_t kernel, std::int64_t stride,
                      std::int64_t pad) {
  check(in + 2 * pad >= kernel, "kernel ", kernel, " is larger than the padded input (", in,
        " + 2*", pad, ")");
  return (in + 2 * pad - kernel) / stride + 1;
}

const Value& input_of(const Check& check, const Model& m, const Op& op, std::size_t i,
                      ValueKind kind) {
  const Value& v = m.values[static_cast<std::size_t>(op.inputs[i])];
  check(v.kind == kind, "input value ", op.inputs[i], " '", v.name, "' is ", shape_string(v), "; ",
        op_kind_name(op_kind(op.params)), " reads ", value_kind_name(kind));
  return v;
}

template <class T>
void check_size(const Check& check, const char* name, const std::vector<T>& t,
                std::int64_t expected) {
  check(static_cast<std::int64_t>(t.size()) == expected, name, " has ", t.size(),
        " elements, expected ", expected);
}

// Common part of the three convolutions: geometry, output size, weight count.
struct ConvOut {
  std::int64_t oh, ow, taps;  // taps = kernel * kernel * Cin
};
template <class C>
ConvOut conv_geometry(const Check& check, const C& o, const Value& in) {
  check(o.out_c >= 1 && o.out_c <= kMaxChannels, "out_c ", o.out_c, " is outside [1, ",
        kMaxChannels, "]");
  check_window(check, o.kernel, o.stride, o.pad);
  ConvOut r{out_side(check, in.h, o.kernel, o.stride, o.pad),
            out_side(check, in.w, o.kernel, o.stride, o.pad), 0};
  r.taps = mul_limited(o.kernel * o.kernel, in.c, kMaxDotTerms);
  check(r.taps >= 0, "kernel ", o.kernel, "x", o.kernel, " over ", in.c, " channels has more than ",
        kMaxDotTerms, " terms");
  return r;
}

Value infer(const Check& check, const Model& m, const Op& op, const Conv2d& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  const ConvOut g = conv_geometry(check, o, in);
  check_size(check, "weight", o.weight, mul_limited(o.out_c, g.taps));
  check(o.bias.empty() || static_cast<std::int64_t>(o.bias.size()) == o.out_c, "bias has ",
        o.bias.size(), " elements, expected 0 or ", o.out_c);
  return {op.name, ValueKind::f32, g.oh, g.ow, o.out_c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const Conv2dI8& o) {
  const Value& in = m.values[static_cast<std::size_t>(op.inputs[0])];
  check(in.kind == ValueKind::f32 || in.kind == ValueKind::i8, "input value ", op.inputs[0], " '",
        in.name, "' is ", shape_string(in), "; conv2d_i8 reads f32 or i8");
  const ConvOut g = conv_geometry(check, o, in);
  check(in.kind != ValueKind::i8 || mul_limited(g.taps, 128 * 128, kMaxI8Dot) >= 0, "kernel ",
        o.kernel, "x", o.kernel, " over ", in.c, " channels could overflow the int32 code dot");
  check_size(check, "weight", o.weight, mul_limited(o.out_c, g.taps));
  check_size(check, "scale", o.scale, o.out_c);
  check(o.bias.empty() || static_cast<std::int64_t>(o.bias.size()) == o.out_c, "bias has ",
        o.bias.size(), " elements, expected 0 or ", o.out_c);
  return {op.name, ValueKind::f32, g.oh, g.ow, o.out_c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const BConv2d& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::bits);
  const ConvOut g = conv_geometry(check, o, in);
  const std::int64_t words = words_for(in.c), rows = mul_limited(o.out_c, o.kernel * o.kernel);
  check_size(check, "weight", o.weight, mul_limited(rows, words));
  if (in.c % kWordBits != 0) {  // the padding bits of every row's last word must be 0
    const std::uint64_t pad_mask = ~std::uint64_t{0} << (in.c % kWordBits);
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::uint64_t last = o.weight[static_cast<std::size_t>((r + 1) * words - 1)];
      check((last & pad_mask) == 0, "weight row ", r, " has padding bits set beyond channel ", in.c,
            " (padding bits must be 0)");
    }
  }
  if (o.output == BinaryOutput::threshold) {
    check_size(check, "threshold", o.threshold, o.out_c);
    check_size(check, "flip", o.flip, o.out_c);
    check_size(check, "scale (unused with threshold output)", o.scale, 0);
    check_size(check, "bias (unused with threshold output)", o.bias, 0);
    for (std::size_t i = 0; i < o.flip.size(); ++i) {
      check(o.flip[i] <= 1, "flip[", i, "] is ", int{o.flip[i]}, ", expected 0 or 1");
    }
    return {op.name, ValueKind::bits, g.oh, g.ow, o.out_c, 0};
  }
  check(o.output == BinaryOutput::scale_bias, "output transform ",
        static_cast<std::uint32_t>(o.output), " is unknown (1 = threshold, 2 = scale_bias)");
  check_size(check, "threshold (unused with scale_bias output)", o.threshold, 0);
  check_size(check, "flip (unused with scale_bias output)", o.flip, 0);
  check_size(check, "scale", o.scale, o.out_c);
  check_size(check, "bias", o.bias, o.out_c);
  return {op.name, ValueKind::f32, g.oh, g.ow, o.out_c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const KConv2d& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::codes);
  check(in.bits >= 1 && in.bits <= 4, "input codes have ", in.bits, " bits; kconv2d takes 1 to 4");
  check(o.weight_bits >= 1 && o.weight_bits <= 4, "weight_bits ", o.weight_bits,
        " is outside [1, 4]");
  const ConvOut g = conv_geometry(check, o, in);
  const std::int64_t ma = (1 << in.bits) - 1, mw = (1 << o.weight_bits) - 1;
  check(mul_limited(g.taps, ma * mw, kMaxDotTerms) >= 0, "kernel ", o.kernel, "x", o.kernel,
        " over ", in.c, " channels at ", in.bits, "/", o.weight_bits,
        " bits could overflow the int32 code dot");
  check_size(check, "weight", o.weight, mul_limited(o.out_c, g.taps));
  for (std::size_t i = 0; i < o.weight.size(); ++i) {
    check(o.weight[i] <= mw, "weight code [", i, "] is ", int{o.weight[i]}, ", above ", mw, " (",
          o.weight_bits, " bits)");
  }
  check_size(check, "scale", o.scale, o.out_c);
  check_size(check, "bias", o.bias, o.out_c);
  return {op.name, ValueKind::f32, g.oh, g.ow, o.out_c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const Affine& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  check_size(check, "scale", o.scale, in.c);
  check_size(check, "shift", o.shift, in.c);
  return {op.name, ValueKind::f32, in.h, in.w, in.c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const Sign&) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  return {op.name, ValueKind::bits, in.h, in.w, in.c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const Quantize& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  check(o.bits >= 1 && o.bits <= 8, "bits ", o.bits, " is outside [1, 8]");
  return {op.name, ValueKind::codes, in.h, in.w, in.c, o.bits};
}

Value infer(const Check& check, const Model& m, const Op& op, const QuantizePow2& o) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  check(o.shift_bits >= 0 && o.shift_bits <= 2, "shift_bits ", o.shift_bits,
        " is outside [0, 2]");
  check(std::isfinite(o.in_scale) && o.in_scale > 0.0f, "in_scale ", o.in_scale,
        " is not finite and > 0");
  return {op.name, ValueKind::i8, in.h, in.w, in.c, 0};
}

Value infer(const Check& check, const Model& m, const Op& op, const ToFloat&) {
  const Value& in = m.values[static_cast<std::size_t>(op.inputs[0])];
  check(in.kind == ValueKind::bits || in.kind == ValueKind::codes, "input value ", op.inputs[0],
        " '", in.name, "' is ", shape_string(in), "; to_float reads bits or codes");
  return {op.name, ValueKind::f32, in.h, in.w, in.c, 0};
}

template <class O>
Value same_f32(const Check& check, const Model& m, const Op& op, const O&) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  return {op.name, ValueKind::f32, in.h, in.w, in.c, 0};
}
Value infer(const Check& c, const Model& m, const Op& op, const Relu& o) {
  return same_f32(c, m, op, o);
}
Value infer(const Check& check, const Model& m, const Op& op, const Clip& o) {
  check(o.lo <= o.hi, "lo ", o.lo, " is not <= hi ", o.hi);
  return same_f32(check, m, op, o);
}

template <class P>
Value infer_pool(const Check& check, const Value& in, const Op& op, const P& o) {
  check_window(check, o.kernel, o.stride, o.pad);
  check(2 * o.pad <= o.kernel, "pad ", o.pad, " is more than half the kernel ", o.kernel,
        " (every window must hold an input element)");
  return {op.name,
          in.kind,
          out_side(check, in.h, o.kernel, o.stride, o.pad),
          out_side(check, in.w, o.kernel, o.stride, o.pad),
          in.c,
          in.bits};
}
Value infer(const Check& check, const Model& m, const Op& op, const MaxPool& o) {
  const Value& in = m.values[static_cast<std::size_t>(op.inputs[0])];
  check(in.kind == ValueKind::f32 || in.kind == ValueKind::bits, "input value ", op.inputs[0], " '",
        in.name, "' is ", shape_string(in), "; maxpool reads f32 or bits");
  return infer_pool(check, in, op, o);
}
Value infer(const Check& check, const Model& m, const Op& op, const AvgPool& o) {
  return infer_pool(check, input_of(check, m, op, 0, ValueKind::f32), op, o);
}
Value infer(const Check& check, const Model& m, const Op& op, const GlobalAvgPool&) {
  const Value& in = input_of(check, m, op, 0, ValueKind::f32);
  return {op.name, ValueKind::f32, 1, 1, in.c, 0};
}
Value infer(const Check& check, const Model& m, const Op& op, const Add&) {
  const Value& a = input_of(check, m, op, 0, ValueKind::f32);
  const Value& b = input_of(check, m, op, 1, ValueKind::f32);
  check(a.h == b.h && a.w == b.w && a.c == b.c, "adds ", shape_string(a), " and ", shape_string(b),
        ": the shapes differ");
  return {op.name, ValueKind::f32, a.h, a.w, a.c, 0};
}
Value infer(const Check& check, const Model& m, const Op& op, const Flatten&) {
  const Value& in = m.values[static_cast<std::size_t>(op.inputs[0])];
  return {op.name, in.kind, 1, 1, in.h * in.w * in.c, in.bits};
}

std::string op_prefix(const std::string& what, const Op& op) {
  return cat(what, ": op ", op.output - 1, " '", op.name, "' (", op_kind_name(op_kind(op.params)),
             "): ");
}

}  // namespace

Value infer_output(const Model& m, const Op& op, const std::string& what) {
  const Check check{op_prefix(what, op)};
  check(op.name.size() <= kMaxName, "name is longer than ", kMaxName, " bytes");
  const std::size_t arity = std::holds_alternative<Add>(op.params) ? 2 : 1;
  check(op.inputs.size() == arity, "has ", op.inputs.size(), " inputs, expected ", arity);
  check(op.output >= 1 && static_cast<std::size_t>(op.output) <= m.values.size(), "output id ",
        op.output, " is out of range");
  for (const ValueId id : op.inputs) {
    check(id >= 0 && id < op.output, "input id ", id,
          " is not a value defined before this op (ids 0 to ", op.output - 1, ")");
  }
  Value v = std::visit([&](const auto& o) { return infer(check, m, op, o); }, op.params);
  check_value_dims(check, v.h, v.w, v.c);
  return v;
}

void validate(const Model& m, const std::string& what) {
  const Check check{what + ": "};
  const InputSpec& in = m.input;
  check_value_dims(Check{what + ": input: "}, in.height, in.width, in.channels);
  check(in.mean.size() == in.std.size() &&
            (in.mean.empty() || static_cast<std::int64_t>(in.mean.size()) == in.channels),
        "input normalization has ", in.mean.size(), " means and ", in.std.size(),
        " stds, expected none or ", in.channels, " of each");
  for (std::size_t c = 0; c < in.std.size(); ++c) {
    check(std::isfinite(in.mean[c]) && std::isfinite(in.std[c]) && in.std[c] > 0.0f,
          "input normalization of channel ", c, " (mean ", in.mean[c], ", std ", in.std[c],
          ") is not finite with std > 0");
  }
  check(m.ops.size() <= kMaxOps, "has ", m.ops.size(), " ops, more than ", kMaxOps);
  check(m.values.size() == m.ops.size() + 1, "has ", m.values.size(), " values for ", m.ops.size(),
        " ops; expected one per op plus the input");
  const Value& v0 = m.values[0];
  check(v0.kind == ValueKind::f32 && v0.h == in.height && v0.w == in.width && v0.c == in.channels &&
            v0.bits == 0,
        "value 0 is ", shape_string(v0), "; the input is f32 (", in.height, ", ", in.width, ", ",
        in.channels, ")");
  for (std::size_t i = 0; i < m.values.size(); ++i) {
    check(m.values[i].name.size() <= kMaxName, "value ", i, " has a name longer than ", kMaxName,
          " bytes");
  }
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    check(op.output == static_cast<ValueId>(i + 1), "op ", i, " '", op.name, "' writes value ",
          op.output, "; op i must write value i + 1");
    Value expect = infer_output(m, op, what);
    const Value& got = m.values[i + 1];
    expect.name = got.name;  // value names are free
    check(got == expect, "value ", i + 1, " '", got.name, "' is recorded as ", shape_string(got),
          " but op ", i, " '", op.name, "' (", op_kind_name(op_kind(op.params)), ") makes ",
          shape_string(expect));
  }
  check(m.output >= 0 && static_cast<std::size_t>(m.output) < m.values.size(), "output id ",
        m.output, " is out of range (", m.values.size(), " values)");
  const Value& out = m.values[static_cast<std::size_t>(m.output)];
  check(out.kind == ValueKind::f32 && out.h == 1 && out.w == 1, "output value ", m.output, " '",
        out.name, "' is ", shape_string(out), "; the logits must be f32 (1, 1, classes)");
  check(m.class_names.empty() || static_cast<std::int64_t>(m.class_names.size()) == out.c, "has ",
        m.class_names.size(), " class names for ", out.c, " classes");
  for (const auto& name : m.class_names) {
    check(name.size() <= kMaxName, "a class name is longer than ", kMaxName, " bytes");
  }
  for (const auto& [k, v] : m.metadata) {
    check(k.size() <= kMaxName && v.size() <= (1u << 20), "metadata '", k.substr(0, 64),
          "' is too long (key <= ", kMaxName, ", value <= 1 MiB)");
  }
}

}  // namespace lowbit::quant::xnor
