// The one selector of the XNOR kernels: a KernelTable per path (reference twins, portable
// POPCNT, AVX2), the CPU check, the LOWBIT_XNOR_KERNELS override, and the free functions of
// kernels.hpp, which check their arguments and run the selected path.

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor {

namespace {

using detail::BitOp;
using detail::GemmIsa;
using detail::GemmOut;
using detail::i64;

// ---- the optimized paths: the driver over one ISA

template <const GemmIsa& isa>
void bgemm_fast(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                std::int32_t* out, i64 ldo) {
  GemmOut o;
  o.i32 = out, o.ld = ldo;
  detail::gemm_driver(isa, BitOp::xor_op, a, 1, w, 1, M, N, K, o);
}

template <const GemmIsa& isa>
void bgemm_affine_fast(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                       const float* scale, const float* bias, float* out, i64 ldo) {
  GemmOut o;
  o.f32 = out, o.ld = ldo, o.scale = scale, o.bias = bias;
  detail::gemm_driver(isa, BitOp::xor_op, a, 1, w, 1, M, N, K, o);
}

template <const GemmIsa& isa>
void bgemm_threshold_fast(const std::uint64_t* a, const std::uint64_t* w, i64 M, i64 N, i64 K,
                          const Thresholds& t, std::uint64_t* out) {
  GemmOut o;
  o.bits = out, o.t = t;
  detail::gemm_driver(isa, BitOp::xor_op, a, 1, w, 1, M, N, K, o);
}

template <const GemmIsa& isa>
void bconv2d_fast(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                  std::int32_t* out) {
  GemmOut o;
  o.i32 = out, o.ld = s.out_c;
  detail::conv_driver(isa, BitOp::xor_op, in, 1, w, 1, s, o);
}

template <const GemmIsa& isa>
void bconv2d_affine_fast(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                         const float* scale, const float* bias, float* out) {
  GemmOut o;
  o.f32 = out, o.ld = s.out_c, o.scale = scale, o.bias = bias;
  detail::conv_driver(isa, BitOp::xor_op, in, 1, w, 1, s, o);
}

template <const GemmIsa& isa>
void bconv2d_threshold_fast(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                            const Thresholds& t, std::uint64_t* out) {
  GemmOut o;
  o.bits = out, o.t = t;
  detail::conv_driver(isa, BitOp::xor_op, in, 1, w, 1, s, o);
}

template <const GemmIsa& isa>
void plane_gemm_fast(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits, i64 M,
                     i64 N, i64 K, std::int32_t* out, i64 ldo) {
  GemmOut o;
  o.i32 = out, o.ld = ldo;
  detail::gemm_driver(isa, BitOp::and_op, a, abits, w, wbits, M, N, K, o);
}

template <const GemmIsa& isa>
void plane_gemm_affine_fast(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                            i64 M, i64 N, i64 K, const float* scale, const float* bias, float* out,
                            i64 ldo) {
  GemmOut o;
  o.f32 = out, o.ld = ldo, o.scale = scale, o.bias = bias;
  detail::gemm_driver(isa, BitOp::and_op, a, abits, w, wbits, M, N, K, o);
}

template <const GemmIsa& isa>
void plane_conv2d_fast(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                       const BConvShape& s, std::int32_t* out) {
  GemmOut o;
  o.i32 = out, o.ld = s.out_c;
  detail::conv_driver(isa, BitOp::and_op, in, abits, w, wbits, s, o);
}

template <const GemmIsa& isa>
void plane_conv2d_affine_fast(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                              const BConvShape& s, const float* scale, const float* bias,
                              float* out) {
  GemmOut o;
  o.f32 = out, o.ld = s.out_c, o.scale = scale, o.bias = bias;
  detail::conv_driver(isa, BitOp::and_op, in, abits, w, wbits, s, o);
}

template <const GemmIsa& isa>
void pack_thresholds_fast(const std::int32_t* dots, i64 rows, i64 n, i64 ld, const Thresholds& t,
                          std::uint64_t* out) {
  detail::pack_thresholds_driver(isa, dots, rows, n, ld, t, out);
}

template <const GemmIsa& isa>
constexpr KernelTable fast_table(KernelPath path, PackSignsFn pack) {
  return {path,
          pack,
          pack_thresholds_fast<isa>,
          detail::pack_planes_fast,
          bgemm_fast<isa>,
          bgemm_affine_fast<isa>,
          bgemm_threshold_fast<isa>,
          bconv2d_fast<isa>,
          bconv2d_affine_fast<isa>,
          bconv2d_threshold_fast<isa>,
          plane_gemm_fast<isa>,
          plane_gemm_affine_fast<isa>,
          plane_conv2d_fast<isa>,
          plane_conv2d_affine_fast<isa>,
          detail::bmaxpool2d_fast};
}

const KernelTable kReferenceTable{KernelPath::reference,
                                  detail::pack_signs_reference,
                                  detail::pack_thresholds_reference,
                                  detail::pack_planes_reference,
                                  detail::bgemm_reference,
                                  detail::bgemm_affine_reference,
                                  detail::bgemm_threshold_reference,
                                  detail::bconv2d_reference,
                                  detail::bconv2d_affine_reference,
                                  detail::bconv2d_threshold_reference,
                                  detail::plane_gemm_reference,
                                  detail::plane_gemm_affine_reference,
                                  detail::plane_conv2d_reference,
                                  detail::plane_conv2d_affine_reference,
                                  detail::bmaxpool2d_reference};
const KernelTable kPopcntTable =
    fast_table<detail::kPopcntIsa>(KernelPath::popcnt, detail::pack_signs_fast);
const KernelTable kAvx2Table =
    fast_table<detail::kAvx2Isa>(KernelPath::avx2, detail::pack_signs_avx2);
const KernelTable kAvx512Table =
    fast_table<detail::kAvx512Isa>(KernelPath::avx512, detail::pack_signs_avx512);

// The paths from best to most portable.
constexpr KernelPath kByPreference[] = {KernelPath::avx512, KernelPath::avx2, KernelPath::popcnt,
                                        KernelPath::reference};

}  // namespace

KernelPath detail::select_path(const char* env) {
  if (env == nullptr || *env == '\0') {
    for (const KernelPath p : kByPreference) {
      if (kernel_path_supported(p)) return p;
    }
  }
  const std::string name = env == nullptr ? "" : env;
  for (const KernelPath p : kByPreference) {
    if (name == kernel_path_name(p)) {
      if (!kernel_path_supported(p)) {
        throw std::runtime_error("LOWBIT_XNOR_KERNELS=" + name + ": this CPU lacks the " + name +
                                 " instructions. HINT: unset it for the best path it supports");
      }
      return p;
    }
  }
  throw std::runtime_error("LOWBIT_XNOR_KERNELS=" + name +
                           ": unknown kernel path. HINT: choose reference, popcnt, avx2 or "
                           "avx512, or unset it for the best the CPU supports");
}

namespace {

void require(bool ok, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("xnor kernels: ") + what);
}

void check_conv(const BConvShape& s) {
  require(s.batch >= 1 && s.in_h >= 1 && s.in_w >= 1 && s.in_c >= 1 && s.out_c >= 1,
          "convolution sizes must be >= 1");
  require(s.kernel >= 1 && s.stride >= 1 && s.pad >= 0, "bad convolution window");
  require(s.in_h + 2 * s.pad >= s.kernel && s.in_w + 2 * s.pad >= s.kernel,
          "convolution window larger than the padded input");
}

void check_bits(int abits, int wbits) {
  require(abits >= 1 && abits <= 4 && wbits >= 1 && wbits <= 4, "plane bits must be in 1..4");
}

}  // namespace

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::reference:
      return "reference";
    case KernelPath::popcnt:
      return "popcnt";
    case KernelPath::avx2:
      return "avx2";
    case KernelPath::avx512:
      return "avx512";
  }
  return "unknown";
}

bool kernel_path_supported(KernelPath path) {
  switch (path) {
    case KernelPath::reference:
      return true;
    case KernelPath::popcnt:
      return __builtin_cpu_supports("popcnt");
    case KernelPath::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case KernelPath::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq") &&
             __builtin_cpu_supports("popcnt");
  }
  return false;
}

const KernelTable& kernel_table(KernelPath path) {
  if (!kernel_path_supported(path)) {
    throw std::runtime_error(std::string("xnor kernels: this CPU cannot run the ") +
                             kernel_path_name(path) + " path");
  }
  switch (path) {
    case KernelPath::popcnt:
      return kPopcntTable;
    case KernelPath::avx2:
      return kAvx2Table;
    case KernelPath::avx512:
      return kAvx512Table;
    case KernelPath::reference:
      break;
  }
  return kReferenceTable;
}

KernelPath xnor_kernel_path() {
  static const KernelPath path = detail::select_path(std::getenv("LOWBIT_XNOR_KERNELS"));
  return path;
}

// ---------------------------------------------------------------------------------------------
// the free functions: check, then run the selected path

void pack_signs(const float* x, std::int64_t rows, std::int64_t k, std::int64_t ld,
                std::uint64_t* out) {
  require(rows >= 0 && k >= 1 && ld >= k, "pack_signs: bad sizes");
  kernels().pack_signs(x, rows, k, ld, out);
}

void pack_thresholds(const std::int32_t* dots, std::int64_t rows, std::int64_t n, std::int64_t ld,
                     const Thresholds& t, std::uint64_t* out) {
  require(rows >= 0 && n >= 1 && ld >= n && t.tau != nullptr, "pack_thresholds: bad arguments");
  kernels().pack_thresholds(dots, rows, n, ld, t, out);
}

void pack_planes(const std::uint8_t* codes, std::int64_t rows, std::int64_t k, std::int64_t ld,
                 int bits, std::uint64_t* out) {
  require(rows >= 0 && k >= 1 && ld >= k && bits >= 1 && bits <= 8, "pack_planes: bad sizes");
  kernels().pack_planes(codes, rows, k, ld, bits, out);
}

void bgemm(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
           std::int64_t K, std::int32_t* out, std::int64_t ldo) {
  require(M >= 1 && N >= 1 && K >= 1 && ldo >= N, "bgemm: bad sizes");
  kernels().bgemm(a, w, M, N, K, out, ldo);
}

void bgemm_affine(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
                  std::int64_t K, const float* scale, const float* bias, float* out,
                  std::int64_t ldo) {
  require(M >= 1 && N >= 1 && K >= 1 && ldo >= N, "bgemm_affine: bad sizes");
  kernels().bgemm_affine(a, w, M, N, K, scale, bias, out, ldo);
}

void bgemm_threshold(const std::uint64_t* a, const std::uint64_t* w, std::int64_t M, std::int64_t N,
                     std::int64_t K, const Thresholds& t, std::uint64_t* out) {
  require(M >= 1 && N >= 1 && K >= 1 && t.tau != nullptr, "bgemm_threshold: bad arguments");
  kernels().bgemm_threshold(a, w, M, N, K, t, out);
}

void bconv2d(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
             std::int32_t* out) {
  check_conv(s);
  kernels().bconv2d(in, w, s, out);
}

void bconv2d_affine(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                    const float* scale, const float* bias, float* out) {
  check_conv(s);
  kernels().bconv2d_affine(in, w, s, scale, bias, out);
}

void bconv2d_threshold(const std::uint64_t* in, const std::uint64_t* w, const BConvShape& s,
                       const Thresholds& t, std::uint64_t* out) {
  check_conv(s);
  require(t.tau != nullptr, "bconv2d_threshold: no thresholds");
  kernels().bconv2d_threshold(in, w, s, t, out);
}

void plane_gemm(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                std::int64_t M, std::int64_t N, std::int64_t K, std::int32_t* out,
                std::int64_t ldo) {
  check_bits(abits, wbits);
  require(M >= 1 && N >= 1 && K >= 1 && ldo >= N, "plane_gemm: bad sizes");
  kernels().plane_gemm(a, abits, w, wbits, M, N, K, out, ldo);
}

void plane_gemm_affine(const std::uint64_t* a, int abits, const std::uint64_t* w, int wbits,
                       std::int64_t M, std::int64_t N, std::int64_t K, const float* scale,
                       const float* bias, float* out, std::int64_t ldo) {
  check_bits(abits, wbits);
  require(M >= 1 && N >= 1 && K >= 1 && ldo >= N, "plane_gemm_affine: bad sizes");
  kernels().plane_gemm_affine(a, abits, w, wbits, M, N, K, scale, bias, out, ldo);
}

void plane_conv2d(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                  const BConvShape& s, std::int32_t* out) {
  check_bits(abits, wbits);
  check_conv(s);
  kernels().plane_conv2d(in, abits, w, wbits, s, out);
}

void plane_conv2d_affine(const std::uint64_t* in, int abits, const std::uint64_t* w, int wbits,
                         const BConvShape& s, const float* scale, const float* bias, float* out) {
  check_bits(abits, wbits);
  check_conv(s);
  kernels().plane_conv2d_affine(in, abits, w, wbits, s, scale, bias, out);
}

void bmaxpool2d(const std::uint64_t* in, const BPoolShape& s, std::uint64_t* out) {
  require(s.batch >= 1 && s.in_h >= 1 && s.in_w >= 1 && s.channels >= 1,
          "bmaxpool2d: sizes must be >= 1");
  require(s.kernel >= 1 && s.stride >= 1 && s.pad >= 0 && 2 * s.pad <= s.kernel &&
              s.in_h + 2 * s.pad >= s.kernel && s.in_w + 2 * s.pad >= s.kernel,
          "bmaxpool2d: bad window (needs 2*pad <= kernel <= padded input)");
  kernels().bmaxpool2d(in, s, out);
}

}  // namespace lowbit::quant::xnor
