// Runner: weight preparation, buffer planning by liveness, and one execute step per op kind.

#include "quant/xnor/runner.hpp"

#include "quant/xnor/kernels.hpp"
#include "quant/xnor/model_util.hpp"
#include "quant/xnor/runner_ops.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace lowbit::quant::xnor {

namespace {

using i64 = std::int64_t;

// A 64-byte aligned, growable byte buffer (contents are not kept when it grows).
class Buffer {
 public:
  void reserve(std::size_t bytes) {
    if (bytes <= capacity_) return;
    const std::size_t rounded = (bytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (p == nullptr) throw std::bad_alloc();
    data_.reset(static_cast<std::byte*>(p));
    capacity_ = rounded;
  }
  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(data_.get());
  }
  std::size_t capacity() const { return capacity_; }

 private:
  struct Free {
    void operator()(std::byte* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t capacity_ = 0;
};

ops::Dims dims(const Value& v, i64 n) { return {n, v.h, v.w, v.c}; }

// Bytes of value v for a batch of n.
std::size_t value_bytes(const Value& v, i64 n) {
  const i64 pixels = n * v.h * v.w;
  switch (v.kind) {
    case ValueKind::f32:
      return static_cast<std::size_t>(pixels * v.c) * sizeof(float);
    case ValueKind::bits:
      return static_cast<std::size_t>(pixels * words_for(v.c)) * sizeof(std::uint64_t);
    case ValueKind::codes:
    case ValueKind::i8:
      return static_cast<std::size_t>(pixels * v.c);
  }
  return 0;
}

BConvShape conv_shape(const Value& in, i64 n, i64 out_c, i64 kernel, i64 stride, i64 pad) {
  BConvShape s;
  s.batch = n;
  s.in_h = in.h;
  s.in_w = in.w;
  s.in_c = in.c;
  s.out_c = out_c;
  s.kernel = kernel;
  s.stride = stride;
  s.pad = pad;
  return s;
}

// A kernel-1, stride-1, unpadded convolution is a GEMM over the pixels.
template <class C>
bool is_pointwise(const C& o) {
  return o.kernel == 1 && o.stride == 1 && o.pad == 0;
}

}  // namespace

struct Runner::Impl {
  // Per op (indexed like model.ops; empty where unused).
  std::vector<std::vector<float>> conv_panels;           // Conv2d, Conv2dI8: conv_weight_panels()
  std::vector<std::vector<std::int16_t>> code_weights;   // Conv2dI8 on i8: conv_code_weights()
  std::vector<std::vector<std::uint64_t>> kconv_planes;  // KConv2d: (out_c + 1, K, K, wbits, words)

  // The plan for batch size planned_n.
  i64 planned_n = -1;
  std::vector<int> slot_of;  // per value: its buffer
  std::vector<Buffer> slots;
  std::vector<ValueId> slot_owner;  // per slot: the value it holds after a run
  Buffer planes, dots;              // kconv2d scratch: input bit planes, int32 code dots

  template <class T>
  T* data(ValueId v) const {
    return slots[static_cast<std::size_t>(slot_of[static_cast<std::size_t>(v)])].as<T>();
  }
};

Runner::Runner(Model model, RunnerOptions options)
    : model_(std::move(model)), options_(options), impl_(std::make_unique<Impl>()) {
  validate(model_, "runner");
  const std::size_t ops = model_.ops.size();
  impl_->conv_panels.resize(ops);
  impl_->code_weights.resize(ops);
  impl_->kconv_planes.resize(ops);
  for (std::size_t i = 0; i < ops; ++i) {
    const Op& op = model_.ops[i];
    const Value& in = model_.value(op.inputs[0]);
    if (const auto* c = std::get_if<Conv2d>(&op.params)) {
      impl_->conv_panels[i] =
          ops::conv_weight_panels(c->weight.data(), c->out_c, c->kernel * c->kernel * in.c);
    } else if (const auto* c8 = std::get_if<Conv2dI8>(&op.params)) {
      const i64 taps = c8->kernel * c8->kernel * in.c;
      if (in.kind == ValueKind::i8) {
        impl_->code_weights[i] = ops::conv_code_weights(c8->weight.data(), c8->out_c, taps);
      } else {
        impl_->conv_panels[i] = ops::conv_weight_panels(c8->weight.data(), c8->out_c, taps);
      }
    } else if (const auto* k = std::get_if<KConv2d>(&op.params)) {
      // Planes of the weight codes plus one extra output row of code M_w everywhere: its dot
      // with the activations is M_w * S (model.hpp), so one kernel call gives D and M_w * S.
      const i64 rows = k->out_c * k->kernel * k->kernel, taps = k->kernel * k->kernel;
      const int wbits = static_cast<int>(k->weight_bits);
      std::vector<std::uint8_t> codes(k->weight);
      codes.resize(static_cast<std::size_t>((rows + taps) * in.c),
                   static_cast<std::uint8_t>((1 << wbits) - 1));
      auto& planes = impl_->kconv_planes[i];
      planes.resize(static_cast<std::size_t>((rows + taps) * wbits * words_for(in.c)));
      pack_planes(codes.data(), rows + taps, in.c, in.c, wbits, planes.data());
    }
  }
  op_seconds_.assign(ops, 0.0);
}

Runner::~Runner() = default;
Runner::Runner(Runner&&) noexcept = default;
Runner& Runner::operator=(Runner&&) noexcept = default;

void Runner::reset_timing() {
  std::fill(op_seconds_.begin(), op_seconds_.end(), 0.0);
  runs_ = 0;
}

namespace {

// Buffer slots by liveness: value v lives from the op writing it to its last reader (the model's
// output lives to the end). An op's output never shares a slot with its inputs.
void plan_slots(const Model& m, i64 n, bool keep_all, std::vector<int>& slot_of,
                std::vector<Buffer>& slots) {
  const std::size_t values = m.values.size();
  std::vector<std::size_t> last_use(values, 0);
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    last_use[i + 1] = i;  // a value nobody reads dies at once
    for (ValueId v : m.ops[i].inputs) last_use[static_cast<std::size_t>(v)] = i;
  }
  last_use[static_cast<std::size_t>(m.output)] = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> needed;  // per slot: bytes
  std::vector<int> free_slots;
  slot_of.assign(values, -1);
  auto take = [&](std::size_t v) {
    const std::size_t bytes = std::max<std::size_t>(value_bytes(m.values[v], n), 64);
    // The smallest free slot that fits, else the largest free one (grown), else a new one.
    int best = -1;
    for (int s : free_slots) {
      const auto su = static_cast<std::size_t>(s);
      if (best < 0) {
        best = s;
        continue;
      }
      const std::size_t have = needed[su], cur = needed[static_cast<std::size_t>(best)];
      const bool fits = have >= bytes, cur_fits = cur >= bytes;
      if ((fits && (!cur_fits || have < cur)) || (!fits && !cur_fits && have > cur)) best = s;
    }
    if (best < 0) {
      best = static_cast<int>(needed.size());
      needed.push_back(0);
    } else {
      free_slots.erase(std::find(free_slots.begin(), free_slots.end(), best));
    }
    needed[static_cast<std::size_t>(best)] =
        std::max(needed[static_cast<std::size_t>(best)], bytes);
    slot_of[v] = best;
  };
  take(0);
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    take(i + 1);
    if (keep_all) continue;
    auto release = [&](std::size_t v) {
      if (last_use[v] == i) free_slots.push_back(slot_of[v]);
    };
    if (m.ops[i].inputs.size() == 2 && m.ops[i].inputs[0] == m.ops[i].inputs[1]) {
      release(static_cast<std::size_t>(m.ops[i].inputs[0]));
    } else {
      for (ValueId v : m.ops[i].inputs) release(static_cast<std::size_t>(v));
    }
    release(i + 1);
  }
  slots.resize(needed.size());
  for (std::size_t s = 0; s < needed.size(); ++s) slots[s].reserve(needed[s]);
}

}  // namespace

void Runner::run(const float* images, i64 n, float* logits) {
  if (n <= 0) return;
  Impl& I = *impl_;
  const Model& m = model_;
  if (I.planned_n != n) {
    plan_slots(m, n, options_.keep_values, I.slot_of, I.slots);
    I.slot_owner.assign(I.slots.size(), -1);
    I.planned_n = n;
  }
  const auto& K = kernels();
  ops::normalize_input(images, dims(m.values[0], n), m.input, I.data<float>(0));
  I.slot_owner[static_cast<std::size_t>(I.slot_of[0])] = 0;
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const auto start = std::chrono::steady_clock::now();
    const Op& op = m.ops[i];
    const ValueId x = op.inputs[0], y = op.output;
    const Value& in = m.value(x);
    const Value& out = m.value(y);
    const ops::Dims d = dims(in, n);
    std::visit(
        [&](const auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, Conv2d>) {
            ops::conv2d_f32(I.data<float>(x), d, I.conv_panels[i].data(), nullptr,
                            o.bias.empty() ? nullptr : o.bias.data(), o.out_c, o.kernel, o.stride,
                            o.pad, I.data<float>(y));
          } else if constexpr (std::is_same_v<T, Conv2dI8>) {
            const float* bias = o.bias.empty() ? nullptr : o.bias.data();
            if (in.kind == ValueKind::i8) {
              ops::conv2d_codes(I.data<std::int8_t>(x), d, I.code_weights[i].data(),
                                o.scale.data(), bias, o.out_c, o.kernel, o.stride, o.pad,
                                I.data<float>(y));
            } else {
              ops::conv2d_f32(I.data<float>(x), d, I.conv_panels[i].data(), o.scale.data(), bias,
                              o.out_c, o.kernel, o.stride, o.pad, I.data<float>(y));
            }
          } else if constexpr (std::is_same_v<T, QuantizePow2>) {
            ops::quantize_pow2(I.data<float>(x), d.numel(), static_cast<int>(o.shift_bits),
                               o.in_scale, I.data<std::int8_t>(y));
          } else if constexpr (std::is_same_v<T, BConv2d>) {
            const auto* a = I.data<std::uint64_t>(x);
            const BConvShape s = conv_shape(in, n, o.out_c, o.kernel, o.stride, o.pad);
            const i64 M = d.pixels();
            if (o.output == BinaryOutput::threshold) {
              const Thresholds t{o.threshold.data(), o.flip.data()};
              if (is_pointwise(o)) {
                K.bgemm_threshold(a, o.weight.data(), M, o.out_c, in.c, t,
                                  I.data<std::uint64_t>(y));
              } else {
                K.bconv2d_threshold(a, o.weight.data(), s, t, I.data<std::uint64_t>(y));
              }
            } else if (is_pointwise(o)) {
              K.bgemm_affine(a, o.weight.data(), M, o.out_c, in.c, o.scale.data(), o.bias.data(),
                             I.data<float>(y), o.out_c);
            } else {
              K.bconv2d_affine(a, o.weight.data(), s, o.scale.data(), o.bias.data(),
                               I.data<float>(y));
            }
          } else if constexpr (std::is_same_v<T, KConv2d>) {
            const int abits = static_cast<int>(in.bits), wbits = static_cast<int>(o.weight_bits);
            const i64 words = words_for(in.c), M = d.pixels(), N = o.out_c + 1;
            I.planes.reserve(static_cast<std::size_t>(M * abits * words) * 8);
            const i64 opix = n * out.h * out.w;
            I.dots.reserve(static_cast<std::size_t>(opix * N) * 4);
            auto* planes = I.planes.as<std::uint64_t>();
            auto* dots = I.dots.as<std::int32_t>();  // (n, OH, OW, out_c + 1)
            K.pack_planes(I.data<std::uint8_t>(x), M, in.c, in.c, abits, planes);
            const std::uint64_t* w = I.kconv_planes[i].data();
            if (is_pointwise(o)) {
              K.plane_gemm(planes, abits, w, wbits, M, N, in.c, dots, N);
            } else {
              K.plane_conv2d(planes, abits, w, wbits,
                             conv_shape(in, n, N, o.kernel, o.stride, o.pad), dots);
            }
            float* yp = I.data<float>(y);
            for (i64 p = 0; p < opix; ++p) {
              const std::int32_t* dp = dots + p * N;
              const i64 ms = dp[o.out_c];  // M_w * S
              for (i64 c = 0; c < o.out_c; ++c) {
                const auto v = static_cast<float>(2 * static_cast<i64>(dp[c]) - ms);
                yp[p * o.out_c + c] =
                    v * o.scale[static_cast<std::size_t>(c)] + o.bias[static_cast<std::size_t>(c)];
              }
            }
          } else if constexpr (std::is_same_v<T, Affine>) {
            ops::affine(I.data<float>(x), d.pixels(), in.c, o.scale.data(), o.shift.data(),
                        I.data<float>(y));
          } else if constexpr (std::is_same_v<T, Sign>) {
            K.pack_signs(I.data<float>(x), d.pixels(), in.c, in.c, I.data<std::uint64_t>(y));
          } else if constexpr (std::is_same_v<T, Quantize>) {
            ops::quantize(I.data<float>(x), d.numel(), static_cast<int>(o.bits),
                          I.data<std::uint8_t>(y));
          } else if constexpr (std::is_same_v<T, ToFloat>) {
            if (in.kind == ValueKind::bits) {
              unpack_signs(I.data<std::uint64_t>(x), d.pixels(), in.c, I.data<float>(y));
            } else {
              ops::codes_to_float(I.data<std::uint8_t>(x), d.numel(), static_cast<int>(in.bits),
                                  I.data<float>(y));
            }
          } else if constexpr (std::is_same_v<T, Relu>) {
            ops::relu(I.data<float>(x), d.numel(), I.data<float>(y));
          } else if constexpr (std::is_same_v<T, Clip>) {
            ops::clip(I.data<float>(x), d.numel(), o.lo, o.hi, I.data<float>(y));
          } else if constexpr (std::is_same_v<T, MaxPool>) {
            if (in.kind == ValueKind::bits) {
              BPoolShape s;
              s.batch = n;
              s.in_h = in.h;
              s.in_w = in.w;
              s.channels = in.c;
              s.kernel = o.kernel;
              s.stride = o.stride;
              s.pad = o.pad;
              K.bmaxpool2d(I.data<std::uint64_t>(x), s, I.data<std::uint64_t>(y));
            } else {
              ops::maxpool_f32(I.data<float>(x), d, o.kernel, o.stride, o.pad, I.data<float>(y));
            }
          } else if constexpr (std::is_same_v<T, AvgPool>) {
            ops::avgpool_f32(I.data<float>(x), d, o.kernel, o.stride, o.pad, I.data<float>(y));
          } else if constexpr (std::is_same_v<T, GlobalAvgPool>) {
            ops::global_avgpool_f32(I.data<float>(x), d, I.data<float>(y));
          } else if constexpr (std::is_same_v<T, Add>) {
            ops::add(I.data<float>(x), I.data<float>(op.inputs[1]), d.numel(), I.data<float>(y));
          } else if constexpr (std::is_same_v<T, Flatten>) {
            if (in.kind == ValueKind::bits) {
              ops::flatten_bits(I.data<std::uint64_t>(x), d, I.data<std::uint64_t>(y));
            } else {  // f32, codes and i8: NHWC order is already the flat order
              std::memcpy(I.data<std::byte>(y), I.data<std::byte>(x), value_bytes(in, n));
            }
          }
        },
        op.params);
    I.slot_owner[static_cast<std::size_t>(I.slot_of[static_cast<std::size_t>(y)])] = y;
    op_seconds_[i] +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::memcpy(logits, I.data<float>(m.output),
              static_cast<std::size_t>(n * m.num_classes()) * sizeof(float));
  ++runs_;
}

std::vector<float> Runner::run(const float* images, i64 n) {
  std::vector<float> logits(static_cast<std::size_t>(std::max<i64>(n, 0) * num_classes()));
  run(images, n, logits.data());
  return logits;
}

std::vector<float> Runner::value_as_float(ValueId id) const {
  const Value& v = model_.value(id);
  const Impl& I = *impl_;
  const i64 n = I.planned_n;
  if (n <= 0 ||
      I.slot_owner[static_cast<std::size_t>(I.slot_of[static_cast<std::size_t>(id)])] != id) {
    throw std::runtime_error(detail::cat(
        "runner: value ", id, " '", v.name, "' is not held after the last run",
        n <= 0 ? " (nothing has run)" : "; construct the Runner with keep_values = true"));
  }
  const i64 pixels = n * v.h * v.w;
  std::vector<float> out(static_cast<std::size_t>(pixels * v.c));
  if (v.kind == ValueKind::f32) {
    std::memcpy(out.data(), I.data<float>(id), out.size() * sizeof(float));
  } else if (v.kind == ValueKind::bits) {
    unpack_signs(I.data<std::uint64_t>(id), pixels, v.c, out.data());
  } else if (v.kind == ValueKind::i8) {
    const auto* codes = I.data<std::int8_t>(id);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = codes[i];
  } else {
    const auto* codes = I.data<std::uint8_t>(id);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = codes[i];
  }
  return out;
}

}  // namespace lowbit::quant::xnor
