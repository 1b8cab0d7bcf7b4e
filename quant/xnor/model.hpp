#pragma once
// The integer model the XNOR engine runs: plain data records, filled by export (or a test), saved
// and loaded as a .lbm file (docs/lbm-format.md), run by Runner (runner.hpp).
//
// A model is an input description, a list of VALUES (activations, one per op output; value 0 is the
// normalized input image) and a list of OPS in execution order. Op i reads values defined before it
// and writes value i + 1. Shapes are per example, NHWC (h, w, c); the batch size is chosen at run
// time. The model's `output` value is the float logits, shape (1, 1, classes).
//
// Building one from code (each add() infers and appends the op's output value, checks the op
// against its inputs, and makes that value the model's output):
//
//   xnor::Model m = xnor::Model::create({.channels = 1, .height = 28, .width = 28,
//                                        .mean = {0.2860f}, .std = {0.3530f}});
//   xnor::ValueId x = m.input_id();
//   x = m.add("conv1", xnor::Conv2d{.out_c = 64, .kernel = 3, .stride = 1, .pad = 1,
//                                   .weight = w /*(64,3,3,1)*/, .bias = {}}, {x});
//   x = m.add("bn1", xnor::Affine{.scale = s, .shift = t}, {x});
//   x = m.add("sign1", xnor::Sign{}, {x});
//   x = m.add("conv2", xnor::BConv2d{.out_c = 64, .kernel = 3, .stride = 1, .pad = 1,
//                                    .weight = packed /*(64,3,3,words(64)): pack_signs*/,
//                                    .output = xnor::BinaryOutput::threshold,
//                                    .threshold = tau, .flip = flip /*fold_bn_sign*/}, {x});
//   ...
//   m.class_names = {...};
//   xnor::save_model(m, "model.lbm");
//
// Every formula below is what the runner computes, in the order written, in float unless said
// otherwise (no FMA contraction). "dot" of a binary conv is the integer of kernels.hpp: the sum
// over in-bounds taps of (Cin - 2*popcount(a XOR w)) (zero padding: padded taps add nothing).

#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace lowbit::quant::xnor {

// Every problem with a model file or an in-memory model: the message names the file (or
// "model") and what is wrong.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using ValueId = std::int32_t;

enum class ValueKind : std::uint32_t {
  f32 = 1,    // float, (h, w, c)
  bits = 2,   // signs packed along c into uint64 words: (h, w, words(c)); bit 1 = -1, 0 = +1
  codes = 3,  // k-bit unsigned codes 0..2^k-1, one uint8 per element: (h, w, c)
  i8 = 4,     // signed integer codes, one int8 per element: (h, w, c) (quantize_pow2)
};
const char* value_kind_name(ValueKind kind);

struct Value {
  std::string name{};
  ValueKind kind = ValueKind::f32;
  std::int64_t h = 1, w = 1, c = 0;  // per example, NHWC
  std::int64_t bits = 0;             // codes: k in [1, 8]; 0 for f32 and bits
  bool operator==(const Value&) const = default;
};

// The image the model takes: `channels` x `height` x `width`, pixels in [0, 1] (as data/ yields
// them). The runner normalizes exactly as training's data::Normalize does:
//   x' = (x - mean[c]) * (1.0f / std[c])   (float; the reciprocal rounded to float first)
// mean and std have `channels` entries each, or are both empty (no normalization).
struct InputSpec {
  std::int64_t channels = 1, height = 0, width = 0;
  std::vector<float> mean{}, std{};
  bool operator==(const InputSpec&) const = default;
};

// ---- ops: one plain record per kind. The numbers are the kinds' ids in the file (never reuse).

enum class OpKind : std::uint32_t {
  conv2d = 1,
  bconv2d = 2,
  kconv2d = 3,
  affine = 4,
  sign = 5,
  quantize = 6,
  to_float = 7,
  relu = 8,
  clip = 9,
  maxpool = 10,
  avgpool = 11,
  global_avgpool = 12,
  add = 13,
  flatten = 14,
  conv2d_i8 = 15,
  quantize_pow2 = 16,
};

// Float convolution (first layers; a linear layer is a kernel-1 conv on a 1x1 map).
// in: f32 (H, W, Cin) -> out: f32 (OH, OW, out_c), OH = (H + 2*pad - kernel) / stride + 1.
//   out[o] = (float)(sum over in-bounds taps (kh, kw, ci) of (double)weight * (double)x
//                    + (double)bias[o])          (double accumulation, one rounding)
struct Conv2d {
  static constexpr OpKind kind = OpKind::conv2d;
  std::int64_t out_c = 0, kernel = 1, stride = 1, pad = 0;
  std::vector<float> weight{};  // (out_c, kernel, kernel, Cin)
  std::vector<float> bias{};    // (out_c) or empty (no bias)
  bool operator==(const Conv2d&) const = default;
};

// How a binary conv turns its integer dot into its output.
enum class BinaryOutput : std::uint32_t {
  // bits out (BN + sign folded): bit (= -1) = flip[o] ? dot > threshold[o] : dot < threshold[o]
  threshold = 1,
  // f32 out: y = (float)dot * scale[o] + bias[o]
  scale_bias = 2,
};

// Binary convolution (and binary linear: kernel 1 on a 1x1 map) with a fused output transform.
// in: bits (H, W, Cin) -> out: bits or f32 (OH, OW, out_c); zero padding (see above).
struct BConv2d {
  static constexpr OpKind kind = OpKind::bconv2d;
  std::int64_t out_c = 0, kernel = 1, stride = 1, pad = 0;
  std::vector<std::uint64_t> weight{};  // (out_c, kernel, kernel, words(Cin)), padding bits 0
  BinaryOutput output = BinaryOutput::threshold;
  std::vector<std::int32_t> threshold{};  // threshold: (out_c); scale_bias: empty
  std::vector<std::uint8_t> flip{};       // threshold: (out_c) of 0/1; scale_bias: empty
  std::vector<float> scale{}, bias{};     // scale_bias: (out_c) each; threshold: empty
  bool operator==(const BConv2d&) const = default;
};

// k-bit convolution (DoReFa; klinear = kernel 1 on a 1x1 map). in: codes (H, W, Cin) with k_a
// bits, activation value a = code / (2^k_a - 1); weights are codes u with k_w = weight_bits bits,
// weight value (2u - M_w) / M_w with M_w = 2^k_w - 1. Over the in-bounds taps of an output:
//   D = sum a_code * u,  S = sum a_code        (exact integers; padded taps have code 0)
//   out[o] = (float)(2*D - M_w*S) * scale[o] + bias[o]
// The true value dot is (2*D - M_w*S) / (M_w * (2^k_a - 1)); export folds that divisor, any
// weight scale and the following BN into scale and bias. out: f32 (OH, OW, out_c).
struct KConv2d {
  static constexpr OpKind kind = OpKind::kconv2d;
  std::int64_t out_c = 0, kernel = 1, stride = 1, pad = 0;
  std::int64_t weight_bits = 2;        // k_w in [1, 8]
  std::vector<std::uint8_t> weight{};  // (out_c, kernel, kernel, Cin) codes in [0, M_w]
  std::vector<float> scale{}, bias{};  // (out_c) each
  bool operator==(const KConv2d&) const = default;
};

// Per-channel affine on f32 (folded eval BatchNorm): y = x * scale[c] + shift[c].
struct Affine {
  static constexpr OpKind kind = OpKind::affine;
  std::vector<float> scale{}, shift{};  // (C) each
  bool operator==(const Affine&) const = default;
};

// f32 -> bits: bit set (-1) iff x < 0, so sign(0) = +1 (NaN gives +1).
struct Sign {
  static constexpr OpKind kind = OpKind::sign;
  bool operator==(const Sign&) const = default;
};

// f32 -> k-bit codes (DoReFa activation quantizer):
//   code = (uint8) std::round(std::clamp(x, 0.0f, 1.0f) * (float)(2^bits - 1))
// std::round rounds half away from zero (as the training quantizer); NaN gives code 0.
struct Quantize {
  static constexpr OpKind kind = OpKind::quantize;
  std::int64_t bits = 2;  // [1, 8]
  bool operator==(const Quantize&) const = default;
};

// bits -> f32 +1 / -1; codes -> f32 (float)code / (float)(2^k - 1) (DoReFa's activation value).
struct ToFloat {
  static constexpr OpKind kind = OpKind::to_float;
  bool operator==(const ToFloat&) const = default;
};

// f32: y = x > 0 ? x : 0 (so NaN -> 0 and -0 -> 0).
struct Relu {
  static constexpr OpKind kind = OpKind::relu;
  bool operator==(const Relu&) const = default;
};

// f32: y = std::clamp(x, lo, hi), lo <= hi (hardtanh is clip(-1, 1)).
struct Clip {
  static constexpr OpKind kind = OpKind::clip;
  float lo = -1.0f, hi = 1.0f;
  bool operator==(const Clip&) const = default;
};

// Max pooling on f32 or bits (same kind out). Padded taps never win (f32: -inf; bits: ignored,
// i.e. the max of +/-1 values is +1 unless every in-bounds tap is -1). pad <= kernel / 2.
struct MaxPool {
  static constexpr OpKind kind = OpKind::maxpool;
  std::int64_t kernel = 2, stride = 2, pad = 0;
  bool operator==(const MaxPool&) const = default;
};

// Average pooling on f32, PyTorch's count_include_pad=True: padded taps are zeros and every window
// divides by kernel^2. As core's kernel: s = float sum of the in-bounds taps in row-major order,
// y = s * (1.0f / (float)(kernel * kernel)). pad <= kernel / 2.
struct AvgPool {
  static constexpr OpKind kind = OpKind::avgpool;
  std::int64_t kernel = 2, stride = 2, pad = 0;
  bool operator==(const AvgPool&) const = default;
};

// f32 (H, W, C) -> (1, 1, C): y = (float)(double sum over (h, w) row-major / (double)(H*W)),
// as core's global_avg_pool2d.
struct GlobalAvgPool {
  static constexpr OpKind kind = OpKind::global_avgpool;
  bool operator==(const GlobalAvgPool&) const = default;
};

// f32 + f32 of the same shape (residual shortcuts): y = a + b.
struct Add {
  static constexpr OpKind kind = OpKind::add;
  bool operator==(const Add&) const = default;
};

// Any kind (H, W, C) -> (1, 1, H*W*C), element (h, w, c) going to (h*W + w)*C + c (NHWC order;
// export permutes the next layer's weights from training's CHW order).
struct Flatten {
  static constexpr OpKind kind = OpKind::flatten;
  bool operator==(const Flatten&) const = default;
};

// Convolution with int8 weights and a per-output-channel scale (power-of-two DBSSQ weights; first
// / last layers at a quarter of the float size). in: f32 or i8 (H, W, Cin) -> out: f32
// (OH, OW, out_c):
//   out[o] = (float)(acc * (double)scale[o] + (double)bias[o]),
//   f32 in: acc = sum over in-bounds taps (kh, kw, ci) of (double)weight * (double)x   (double)
//   i8 in:  acc = sum over in-bounds taps of weight * x                  (int32, exact; padded
//           taps add nothing)
// (bias empty: + 0). Weight values are weight[...] * scale[o]; with i8 input, scale also holds
// the input codes' scale.
struct Conv2dI8 {
  static constexpr OpKind kind = OpKind::conv2d_i8;
  std::int64_t out_c = 0, kernel = 1, stride = 1, pad = 0;
  std::vector<std::int8_t> weight{};  // (out_c, kernel, kernel, Cin)
  std::vector<float> scale{};         // (out_c)
  std::vector<float> bias{};          // (out_c) or empty (no bias)
  bool operator==(const Conv2dI8&) const = default;
};

// f32 -> i8 power-of-two codes (DBSSQ's activation quantizer at eps = 0, quant/dbssq.hpp), with
// J = 2^shift_bits - 1 and v = x * in_scale (float):
//   sign = v <= 0 ? -1 : +1   (sign(0) = -1, DBSSQ's convention; NaN: +1)
//   e = 0 if !(|v| < 1), else -J if v == 0, else max(ceil(log2 |v|), -J)   (exact: frexp)
//   code = sign * 2^(e + J)      in +-{1, 2, ..., 2^J}
// The code's value is code * 2^-J / in_scale (what the next conv2d_i8's scale carries).
struct QuantizePow2 {
  static constexpr OpKind kind = OpKind::quantize_pow2;
  std::int64_t shift_bits = 2;  // s in [0, 2] (codes up to 2^3 = 8 fit int8 products' range)
  float in_scale = 1.0f;        // finite, > 0
  bool operator==(const QuantizePow2&) const = default;
};

// Alternative i has kind id i + 1 (checked in model.cpp); append new kinds at the end.
using OpParams = std::variant<Conv2d, BConv2d, KConv2d, Affine, Sign, Quantize, ToFloat, Relu, Clip,
                              MaxPool, AvgPool, GlobalAvgPool, Add, Flatten, Conv2dI8,
                              QuantizePow2>;

const char* op_kind_name(OpKind kind);
OpKind op_kind(const OpParams& params);

struct Op {
  std::string name{};
  OpParams params{};
  std::vector<ValueId> inputs{};  // add: 2, every other kind: 1
  ValueId output = -1;            // op i writes value i + 1
  bool operator==(const Op&) const = default;
};

struct Model {
  InputSpec input{};
  std::vector<Value> values{};  // values[0]: the normalized input, f32 (height, width, channels)
  std::vector<Op> ops{};
  ValueId output = -1;                            // f32 (1, 1, classes): the logits
  std::vector<std::string> class_names{};         // (classes) or empty
  std::map<std::string, std::string> metadata{};  // free text, e.g. "dataset", "source", "scheme"

  // A model with only the input value.
  static Model create(InputSpec input);
  ValueId input_id() const { return 0; }
  // Appends an op reading `inputs`, infers its output value (named `name`), makes it the model's
  // output and returns its id. Throws FormatError when the op does not fit its inputs.
  ValueId add(std::string name, OpParams params, std::vector<ValueId> inputs);
  const Value& value(ValueId id) const;  // throws FormatError when out of range
  std::int64_t num_classes() const;      // output value's c

  bool operator==(const Model&) const = default;
};

// Checks everything the runner relies on (ids, kinds, shapes, sizes, weight padding bits, code
// ranges, output value), throwing FormatError("<what>: op 3 'conv2' (bconv2d): ..."). The loader
// runs it on every file; save_model runs it before writing.
void validate(const Model& model, const std::string& what = "model");

// The output value `op` would produce from `model`'s values (op.inputs refer to them).
Value infer_output(const Model& model, const Op& op, const std::string& what = "model");

// Bytes of weights (every tensor of the op) and a one-line parameter description.
std::int64_t op_weight_bytes(const Op& op);
std::string op_params_string(const Op& op);

// A table: per op its kind, input -> output shapes, weight bytes and precision (float, binary,
// k-bit), then totals, including the file size save_model writes (model_file_size()).
std::string summary(const Model& model);

// ---- files (model_io.cpp; layout in docs/lbm-format.md)

// 2: value kind i8, op kind quantize_pow2, conv2d_i8 on i8 input. Files of version 1 still load.
inline constexpr std::uint32_t kFormatVersion = 2;  // the newest version this build reads/writes

// The exact bytes save_model writes.
std::vector<std::uint8_t> serialize_model(const Model& model);
std::uint64_t model_file_size(const Model& model);
// Validates, writes `path`.tmp.<pid>, flushes (fsync) and renames it over `path`.
void save_model(const Model& model, const std::string& path);
// Reads and validates everything; FormatError names `path` and the problem.
Model load_model(const std::string& path);
// The same on bytes in memory; `what` names them in errors.
Model parse_model(const std::uint8_t* data, std::size_t size, const std::string& what);

}  // namespace lowbit::quant::xnor
