// The in-memory model: building (Model::add), shape inference and validation of every op, the
// summary. Validation is what makes a loaded file safe to run: the runner trusts every size below.

#include "quant/xnor/model.hpp"

#include "quant/xnor/kernels.hpp"
#include "quant/xnor/model_fields.hpp"
#include "quant/xnor/model_util.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

namespace lowbit::quant::xnor {

namespace {

template <std::size_t I = 0>
constexpr bool kinds_in_order() {
  if constexpr (I == std::variant_size_v<OpParams>) {
    return true;
  } else {
    return static_cast<std::size_t>(std::variant_alternative_t<I, OpParams>::kind) == I + 1 &&
           kinds_in_order<I + 1>();
  }
}
static_assert(kinds_in_order(), "OpParams alternative i must have kind id i + 1");

}  // namespace

const char* value_kind_name(ValueKind kind) {
  switch (kind) {
    case ValueKind::f32:
      return "f32";
    case ValueKind::bits:
      return "bits";
    case ValueKind::codes:
      return "codes";
    case ValueKind::i8:
      return "i8";
  }
  return "unknown";
}

const char* op_kind_name(OpKind kind) {
  static constexpr const char* kNames[] = {
      "conv2d", "bconv2d", "kconv2d", "affine",         "sign", "quantize", "to_float", "relu",
      "clip",   "maxpool", "avgpool", "global_avgpool", "add",  "flatten",  "conv2d_i8",
      "quantize_pow2"};
  static_assert(std::size(kNames) == std::variant_size_v<OpParams>, "one name per op kind");
  const auto i = static_cast<std::size_t>(kind);
  return i >= 1 && i <= std::size(kNames) ? kNames[i - 1] : "unknown";
}

OpKind op_kind(const OpParams& params) { return static_cast<OpKind>(params.index() + 1); }

namespace detail {
bool make_params(std::uint32_t kind, OpParams& out) {
  bool found = false;
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    ((kind == I + 1 ? (out.emplace<I>(), found = true) : false), ...);
  }
  (std::make_index_sequence<std::variant_size_v<OpParams>>{});
  return found;
}
}  // namespace detail

Model Model::create(InputSpec input) {
  Model m;
  m.values.push_back(Value{"input", ValueKind::f32, input.height, input.width, input.channels, 0});
  m.input = std::move(input);
  m.output = 0;
  return m;
}

ValueId Model::add(std::string name, OpParams params, std::vector<ValueId> inputs) {
  Op op{std::move(name), std::move(params), std::move(inputs), static_cast<ValueId>(values.size())};
  Value v = infer_output(*this, op);
  ops.push_back(std::move(op));
  values.push_back(std::move(v));
  output = static_cast<ValueId>(values.size() - 1);
  return output;
}

const Value& Model::value(ValueId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= values.size()) {
    throw FormatError(
        detail::cat("model: value id ", id, " is out of range (", values.size(), " values)"));
  }
  return values[static_cast<std::size_t>(id)];
}

std::int64_t Model::num_classes() const { return value(output).c; }

// ---- op weight bytes, parameter strings

namespace {

struct ByteCounter {
  std::int64_t bytes = 0;
  void integer(const char*, std::int64_t&) {}
  void real(const char*, float&) {}
  template <class T>
  void tensor(const char*, std::vector<T>& t) {
    bytes += static_cast<std::int64_t>(t.size() * sizeof(T));
  }
};

struct ParamPrinter {
  std::ostringstream out;
  void sep() {
    if (out.tellp() > 0) out << ' ';
  }
  void integer(const char* name, std::int64_t& x) {
    // out_c shows in the output shape; bconv2d's output transform is printed by name.
    if (std::string_view(name) == "out_c" || std::string_view(name) == "output") return;
    sep();
    out << name << '=' << x;
  }
  void real(const char* name, float& x) {
    sep();
    out << name << '=' << x;
  }
  template <class T>
  void tensor(const char*, std::vector<T>&) {}
};

}  // namespace

std::int64_t op_weight_bytes(const Op& op) {
  ByteCounter c;
  OpParams copy = op.params;  // visit_op_fields takes non-const params (shared with the reader)
  detail::visit_op_fields(copy, c);
  return c.bytes;
}

std::string op_params_string(const Op& op) {
  ParamPrinter p;
  OpParams copy = op.params;
  detail::visit_op_fields(copy, p);
  if (const auto* b = std::get_if<BConv2d>(&op.params)) {
    p.sep();
    p.out << (b->output == BinaryOutput::threshold ? "output=threshold" : "output=scale_bias");
  }
  const auto* c = std::get_if<Conv2d>(&op.params);
  const auto* c8 = std::get_if<Conv2dI8>(&op.params);
  if ((c != nullptr && c->bias.empty()) || (c8 != nullptr && c8->bias.empty())) {
    p.sep();
    p.out << "no-bias";
  }
  return p.out.str();
}

// ---- summary

namespace {

std::string precision(const Op& op, const Model& m) {
  switch (op_kind(op.params)) {
    case OpKind::conv2d:
      return "float";
    case OpKind::conv2d_i8:
      return "int8";
    case OpKind::bconv2d:
      return "binary";
    case OpKind::kconv2d: {
      const auto& k = std::get<KConv2d>(op.params);
      return detail::cat("W", k.weight_bits, "A", m.value(op.inputs.at(0)).bits);
    }
    default:
      return "";
  }
}

std::string human_bytes(std::int64_t b) {
  std::ostringstream o;
  if (b < 1024) {
    o << b << " B";
  } else if (b < 1024 * 1024) {
    o << std::fixed << std::setprecision(1) << static_cast<double>(b) / 1024.0 << " KiB";
  } else {
    o << std::fixed << std::setprecision(2) << static_cast<double>(b) / (1024.0 * 1024.0) << " MiB";
  }
  return o.str();
}

}  // namespace

std::string summary(const Model& m) {
  // "28x28x64 bits", "1x1x10 f32", "3x3x16 codes2"
  auto shape = [](const Value& v) {
    return detail::cat(v.h, 'x', v.w, 'x', v.c, ' ', value_kind_name(v.kind),
                       v.kind == ValueKind::codes ? std::to_string(v.bits) : "");
  };
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"#", "name", "kind", "prec", "input", "output", "weights", "params"});
  std::int64_t weight_total = 0;
  std::int64_t by_precision[3] = {0, 0, 0};  // float/other, binary, k-bit
  for (std::size_t i = 0; i < m.ops.size(); ++i) {
    const Op& op = m.ops[i];
    std::string inputs;
    for (std::size_t j = 0; j < op.inputs.size(); ++j) {
      inputs += (j ? " + " : "") + shape(m.value(op.inputs[j]));
    }
    const std::int64_t wb = op_weight_bytes(op);
    weight_total += wb;
    const OpKind kind = op_kind(op.params);
    by_precision[kind == OpKind::bconv2d ? 1 : kind == OpKind::kconv2d ? 2 : 0] += wb;
    rows.push_back({std::to_string(i), op.name, op_kind_name(kind), precision(op, m), inputs,
                    shape(m.value(op.output)), wb ? human_bytes(wb) : "-", op_params_string(op)});
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::ostringstream o;
  o << "lbm model: input " << shape(m.value(0))
    << " (normalize: " << (m.input.mean.empty() ? "none" : "mean/std per channel") << "), "
    << m.ops.size() << " ops, " << m.num_classes() << " classes\n";
  for (const auto& [k, v] : m.metadata) o << "  " << k << ": " << v << '\n';
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line += std::string(width[c] - r[c].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    o << line << '\n';
  }
  // DESIGN.md: first and last layers stay float (or int8) unless a config says otherwise.
  const Op* first = nullptr;
  const Op* last = nullptr;
  for (const Op& op : m.ops) {
    if (op_weight_bytes(op) == 0 || std::holds_alternative<Affine>(op.params)) continue;
    if (first == nullptr) first = &op;
    last = &op;
  }
  if (first != nullptr) {
    auto prec = [&m](const Op& op) {
      const std::string p = precision(op, m);
      return detail::cat(op.name, " (", p.empty() ? op_kind_name(op_kind(op.params)) : p, ")");
    };
    o << "first layer: " << prec(*first) << ", last layer: " << prec(*last) << '\n';
  }
  o << "weights: " << human_bytes(weight_total) << " (" << weight_total << " bytes: float/int8 "
    << by_precision[0] << ", binary " << by_precision[1] << ", k-bit " << by_precision[2] << ")\n";
  const std::uint64_t file = model_file_size(m);
  o << "file: " << file << " bytes (" << human_bytes(static_cast<std::int64_t>(file)) << ")\n";
  return o.str();
}

}  // namespace lowbit::quant::xnor
