// The optimized binary / bit-plane GEMM and convolution driver, portable code over a GemmIsa
// (kernels_detail.hpp), which computes the popcounts.
//
// Both problems are one GEMM of popcounts P(r, j) = popcount(op(A_r, W_j)) over kw words:
//  - binary (op xor): A rows are the activation rows, W rows the weight rows; dot = K - 2*P.
//  - planes (op and): A row (m, i) is plane i of activation row m, W row (n, j) plane j of
//    weight row n; dot(m, n) = sum_i,j 2^(i+j) P((m, i), (n, j)).
// A convolution's A rows come from a packed-bit im2col: output pixel (n, oh, ow), plane i, is the
// concatenation over the KH*KW taps of the input pixel's plane-i words (words(C) each, so the
// padding bits inside are 0 on both sides), zero words for out-of-bounds taps. A zero word XOR a
// weight tap counts as Cin - 2*popcount(w_tap) in a binary dot, where zero padding must count
// nothing, so border pixels subtract that per-tap weight sum (precomputed per channel and tap).
// Under AND a zero word counts nothing already. A 1x1 stride-1 unpadded convolution reads the
// input directly.
//
// The operands are packed into the ISA's panel format once per call (activations / input image
// and weights). Work is split into tasks of at most kChunkRows A rows, run by OpenMP; each task
// gathers its A rows once (im2col from the packed input, or a pointer), then for each chunk of
// kChunkCols output columns (a multiple of 64, so a threshold output writes whole words)
// computes its block of binary dots (straight into an int32 output, or thresholded in the
// kernel where the ISA fuses it) or plane popcounts, then applies the correction and the output
// transform row by row.

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "quant/xnor/kernels_detail.hpp"

namespace lowbit::quant::xnor::detail {

namespace {

constexpr i64 kChunkRows = 48;   // A panel rows per task (pixels * abits)
constexpr i64 kChunkCols = 128;  // output columns per task
// Word pairs below which one thread runs: measured here, a 2-thread region did not beat one
// thread on 1e5 word pairs (~10 us) and won clearly from 4e5.
constexpr i64 kParallelMinWork = i64{1} << 17;
constexpr i64 kSmallPanelWords = i64{1} << 14;  // weight words packed before the threads start
// int32 output bytes from which one-word (K <= 64) dots are streamed: measured here on a busy
// machine, b32 1x1 64->128 (12.8 MB) ran 2-3x faster streamed; 2-word dots (6.4 MB) ran slower.
constexpr i64 kStreamBytes = i64{4} << 20;

struct Problem {
  BitOp op;
  int abits, wbits;
  i64 M, N;    // output rows, columns
  i64 kw;      // words per A / W row (per plane)
  i64 K_true;  // binary: dot = K_true - 2*P
};

// The output transform with its per-column parameters spelled out once per call: scale and bias
// (1 and 0 where not given), and thresholds as the +1 range [lo, hi] of each column's dot.
struct Transform {
  const GemmOut& out;
  std::vector<float> scale, bias;
  std::vector<std::int32_t> lo, hi;

  // With the ISA's fused threshold (binary dots K - 2P): the -1 side of each column's threshold
  // in popcount terms, (P ^ pxor) > plim (GemmIsa::popcounts_threshold).
  std::vector<std::int64_t> pxor, plim;

  Transform(const GemmOut& o, i64 N) : out(o) {
    if (o.f32 != nullptr) {
      scale.assign(static_cast<std::size_t>(N), 1.0f);
      bias.assign(static_cast<std::size_t>(N), 0.0f);
      if (o.scale) std::copy(o.scale, o.scale + N, scale.begin());
      if (o.bias) std::copy(o.bias, o.bias + N, bias.begin());
    }
    if (o.bits != nullptr) {
      constexpr std::int32_t kMin = std::numeric_limits<std::int32_t>::min();
      constexpr std::int32_t kMax = std::numeric_limits<std::int32_t>::max();
      for (i64 c = 0; c < N; ++c) {
        const bool flip = o.t.flip != nullptr && o.t.flip[c] != 0;
        lo.push_back(flip ? kMin : o.t.tau[c]);  // +1 iff dot >= tau
        hi.push_back(flip ? o.t.tau[c] : kMax);  // +1 iff dot <= tau
      }
    }
  }

  // Fills pxor/plim for binary dots K - 2P. Every threshold is one-sided (lo or hi is the
  // sentinel): dot < lo iff P > floor((K - lo) / 2); dot > hi iff P < ceil((K - hi) / 2) =: pmin,
  // iff ~P = -P - 1 > -pmin - 1.
  void popcount_bounds(i64 K) {
    const auto floor_half = [](i64 v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); };
    for (std::size_t c = 0; c < lo.size(); ++c) {
      const bool flipped = lo[c] == std::numeric_limits<std::int32_t>::min();
      pxor.push_back(flipped ? -1 : 0);
      plim.push_back(flipped ? floor_half(-(K - hi[c])) - 1 : floor_half(K - lo[c]));
    }
  }

  // Writes one output row's dots (ncount of them, columns n0...) through the transform.
  void emit(const GemmIsa& isa, i64 N, i64 m, i64 n0, i64 ncount, const std::int32_t* dots) const {
    if (out.i32 != nullptr) {
      std::copy(dots, dots + ncount, out.i32 + m * out.ld + n0);
    } else if (out.f32 != nullptr) {
      float* o = out.f32 + m * out.ld + n0;
      const float* sc = scale.data() + n0;
      const float* bi = bias.data() + n0;
      for (i64 j = 0; j < ncount; ++j) o[j] = static_cast<float>(dots[j]) * sc[j] + bi[j];
    } else {
      isa.threshold_row(dots, ncount, lo.data() + n0, hi.data() + n0,
                        out.bits + m * words_for(N) + n0 / 64);
    }
  }
};

// The A operand: `rows` rows of `words` packed words (activation rows, or input pixels for a
// convolution), packed once into the ISA's panel format (or used as they are when the ISA reads
// plain rows). fill_a(panel, m0, mcount, scratch) returns the A panel rows of output rows
// m0..m0+mcount-1 (mcount*abits rows of kw words in panel format, contiguous), gathered into
// scratch (room for mc*abits*kw*a_mult words) when they are not rows of the panel.
// correct(m, n0, ncount, dots) adjusts the binary dots of row m (zero-padding correction).
// w_rows: (N*wbits, kw).
struct ASource {
  const std::uint64_t* rows;
  i64 count, words;
  bool gathered;  // fill_a copies rows into its scratch (an im2col)
};

// corrected: whether correct() changes any dot (then the threshold cannot be fused).
template <typename FillA, typename Correct>
void run(const GemmIsa& isa, const Problem& p, const ASource& a_src, const std::uint64_t* w_rows,
         FillA fill_a, Correct correct, bool corrected, const GemmOut& out) {
  const i64 wrows = p.N * p.wbits;
  const i64 groups = (wrows + isa.col_group - 1) / isa.col_group;
  std::vector<std::uint64_t> w_panel(
      static_cast<std::size_t>(groups * isa.col_group * p.kw * isa.w_mult));
  std::vector<std::uint64_t> a_store;
  if (isa.pack_a) a_store.resize(static_cast<std::size_t>(a_src.count * a_src.words * isa.a_mult));
  const std::uint64_t* a_panel = isa.pack_a ? a_store.data() : a_src.rows;

  // A task is a chunk of output rows, all columns: threads never write the same output row
  // (whose column chunks would share cache lines) and an im2col is gathered once per row. Rows
  // per task: at most kChunkRows A rows, at least two chunks per thread where the rows allow,
  // balanced over the chunks (a short last chunk would run narrow tiles), a multiple of the
  // ISA's tile height where that fits.
  const i64 work = p.M * p.abits * wrows * p.kw;
  const bool parallel = work >= kParallelMinWork && omp_get_max_threads() > 1;
  const i64 th = isa.tile_rows;
  const i64 mc_max = std::max<i64>(1, kChunkRows / p.abits);
  const i64 min_chunks =
      parallel ? std::min<i64>(2 * omp_get_max_threads(), (p.M + th - 1) / th) : 1;
  const i64 chunks = std::max((p.M + mc_max - 1) / mc_max, min_chunks);
  const i64 mc = std::min(mc_max, ((p.M + chunks - 1) / chunks + th - 1) / th * th);
  const i64 mtasks = (p.M + mc - 1) / mc;
  Transform transform(out, p.N);
  const bool fused = isa.popcounts_threshold != nullptr && p.op == BitOp::xor_op &&
                     out.bits != nullptr && !corrected;
  if (fused) transform.popcount_bounds(p.K_true);
  const i64 out_words = words_for(p.N);
  // A large int32 output of one-word dots is bound by writing it: stream it past the cache.
  const bool stream = out.i32 != nullptr && p.op == BitOp::xor_op && p.kw == 1 &&
                      p.M * p.N * 4 >= kStreamBytes;
  constexpr i64 kPackRows = 256;
  const i64 pack_cols = isa.col_group * 8;
  const auto pack_w = [&](i64 c0) {
    isa.pack_w(w_rows + c0 * p.kw, p.kw, std::min(pack_cols, wrows - c0), p.kw,
               w_panel.data() + c0 * p.kw * isa.w_mult);
  };
  // A small weight panel is packed before the threads start: no barrier between packing and use.
  const bool pack_w_first = wrows * p.kw <= kSmallPanelWords;
  if (pack_w_first) {
    for (i64 c0 = 0; c0 < wrows; c0 += pack_cols) pack_w(c0);
  }

#pragma omp parallel if (parallel)
  {
    if (isa.pack_a) {
#pragma omp for schedule(static) nowait
      for (i64 r0 = 0; r0 < a_src.count; r0 += kPackRows) {
        isa.pack_a(a_src.rows + r0 * a_src.words, a_src.words,
                   std::min(kPackRows, a_src.count - r0), a_src.words,
                   a_store.data() + r0 * a_src.words * isa.a_mult);
      }
    }
    if (!pack_w_first) {
#pragma omp for schedule(static) nowait
      for (i64 c0 = 0; c0 < wrows; c0 += pack_cols) pack_w(c0);
    }
    if (isa.pack_a || !pack_w_first) {  // the panels are complete before any task reads them
#pragma omp barrier
    }

    // Per-thread scratch, only what this problem uses: gathered A rows, the popcounts before
    // the output transform, a row of plane dots.
    const i64 ldc = kChunkCols * p.wbits;
    const bool direct_i32 = p.op == BitOp::xor_op && out.i32 != nullptr;
    std::vector<std::uint64_t> a_buf(
        a_src.gathered ? static_cast<std::size_t>(mc * p.abits * p.kw * isa.a_mult) : 0);
    std::vector<std::int32_t> pc(
        direct_i32 || fused ? 0 : static_cast<std::size_t>(mc * p.abits * ldc));
    std::vector<std::int32_t> dots(p.op == BitOp::and_op ? static_cast<std::size_t>(kChunkCols)
                                                         : 0);

#pragma omp for schedule(dynamic, 1)
    for (i64 task = 0; task < mtasks; ++task) {
      const i64 m0 = task * mc, mcount = std::min(mc, p.M - m0), arows = mcount * p.abits;
      const std::uint64_t* a = fill_a(a_panel, m0, mcount, a_buf.data());
      for (i64 n0 = 0; n0 < p.N; n0 += kChunkCols) {
        const i64 ncount = std::min(kChunkCols, p.N - n0);
        // n0 * wbits is a multiple of the column group (64 is), so the chunk starts a group.
        const std::uint64_t* w = w_panel.data() + n0 * p.wbits * p.kw * isa.w_mult;
        if (fused) {  // the kernel writes the bits of the chunk's columns; the rest of its words 0
          const i64 wd0 = n0 / 64, wd1 = words_for(n0 + ncount);
          std::uint64_t* bits = out.bits + m0 * out_words + wd0;
          for (i64 mi = 0; mi < mcount; ++mi) std::fill_n(bits + mi * out_words, wd1 - wd0, 0);
          isa.popcounts_threshold(a, arows, w, ncount, p.kw, transform.pxor.data() + n0,
                                  transform.plim.data() + n0, bits, out_words);
        } else if (p.op == BitOp::xor_op) {
          // Binary dots straight into an int32 output, else into the scratch.
          std::int32_t* c = direct_i32 ? out.i32 + m0 * out.ld + n0 : pc.data();
          const i64 ld = direct_i32 ? out.ld : ldc;
          isa.popcounts(a, arows, w, ncount, p.kw, p.op, static_cast<std::int32_t>(p.K_true), c,
                        ld, stream);
          for (i64 mi = 0; mi < mcount; ++mi) {
            correct(m0 + mi, n0, ncount, c + mi * ld);
            if (!direct_i32) transform.emit(isa, p.N, m0 + mi, n0, ncount, c + mi * ld);
          }
        } else {
          isa.popcounts(a, arows, w, ncount * p.wbits, p.kw, p.op, 0, pc.data(), ldc, false);
          for (i64 mi = 0; mi < mcount; ++mi) {
            std::fill(dots.begin(), dots.begin() + ncount, 0);
            for (int i = 0; i < p.abits; ++i) {
              const std::int32_t* row = pc.data() + (mi * p.abits + i) * ldc;
              for (i64 j = 0; j < ncount; ++j) {
                for (int jj = 0; jj < p.wbits; ++jj) dots[j] += row[j * p.wbits + jj] << (i + jj);
              }
            }
            transform.emit(isa, p.N, m0 + mi, n0, ncount, dots.data());
          }
        }
      }
    }
  }
}

}  // namespace

void pack_thresholds_driver(const GemmIsa& isa, const std::int32_t* dots, i64 rows, i64 n, i64 ld,
                            const Thresholds& t, std::uint64_t* out) {
  GemmOut o;
  o.bits = out, o.t = t;
  const Transform transform(o, n);
#pragma omp parallel for schedule(static) if (rows * n >= (i64{1} << 18))
  for (i64 r = 0; r < rows; ++r) transform.emit(isa, n, r, 0, n, dots + r * ld);
}

void gemm_driver(const GemmIsa& isa, BitOp op, const std::uint64_t* a, int abits,
                 const std::uint64_t* w, int wbits, i64 M, i64 N, i64 K, const GemmOut& out) {
  const Problem p{op, abits, wbits, M, N, words_for(K), K};
  const i64 row_words = abits * p.kw * isa.a_mult;
  const auto fill_a = [&](const std::uint64_t* panel, i64 m0, i64, std::uint64_t*) {
    return panel + m0 * row_words;
  };
  const auto no_correction = [](i64, i64, i64, std::int32_t*) {};
  run(isa, p, {a, M * abits, p.kw, false}, w, fill_a, no_correction, false, out);
}

void conv_driver(const GemmIsa& isa, BitOp op, const std::uint64_t* in, int abits,
                 const std::uint64_t* w, int wbits, const BConvShape& s, const GemmOut& out) {
  const i64 cw = words_for(s.in_c), KK = s.kernel * s.kernel;
  const i64 OH = s.out_h(), OW = s.out_w();
  const Problem p{op, abits, wbits, s.batch * OH * OW, s.out_c, KK * cw, s.in_c * KK};

  // Weights (Cout, KK, wbits, cw) -> rows (Cout, wbits, KK*cw).
  std::vector<std::uint64_t> w_t;
  const std::uint64_t* w_rows = w;
  if (wbits > 1 && KK > 1) {
    w_t.resize(static_cast<std::size_t>(s.out_c * wbits * KK * cw));
    for (i64 c = 0; c < s.out_c; ++c) {
      for (i64 t = 0; t < KK; ++t) {
        for (int j = 0; j < wbits; ++j) {
          const std::uint64_t* src = w + ((c * KK + t) * wbits + j) * cw;
          std::copy(src, src + cw, w_t.data() + ((c * wbits + j) * KK + t) * cw);
        }
      }
    }
    w_rows = w_t.data();
  }

  // Binary zero-padding correction: wsum(t, c) = Cin - 2*popcount(w[c, t]).
  std::vector<std::int32_t> wsum;
  if (op == BitOp::xor_op && s.pad > 0) {
    std::vector<std::int32_t> pop(static_cast<std::size_t>(s.out_c * KK));
    isa.row_popcounts(w, s.out_c * KK, cw, pop.data());
    wsum.resize(pop.size());
    for (i64 c = 0; c < s.out_c; ++c) {
      for (i64 t = 0; t < KK; ++t) {
        wsum[static_cast<std::size_t>(t * s.out_c + c)] =
            static_cast<std::int32_t>(s.in_c - 2 * pop[static_cast<std::size_t>(c * KK + t)]);
      }
    }
  }
  const auto correct = [&](i64 m, i64 n0, i64 ncount, std::int32_t* dots) {
    if (wsum.empty()) return;
    const i64 oh = m / OW % OH, ow = m % OW;
    const i64 h0 = oh * s.stride - s.pad, w0 = ow * s.stride - s.pad;
    if (h0 >= 0 && w0 >= 0 && h0 + s.kernel <= s.in_h && w0 + s.kernel <= s.in_w) return;
    for (i64 kh = 0; kh < s.kernel; ++kh) {
      for (i64 kx = 0; kx < s.kernel; ++kx) {
        const i64 ih = h0 + kh, iw = w0 + kx;
        if (ih >= 0 && ih < s.in_h && iw >= 0 && iw < s.in_w) continue;
        const std::int32_t* ws = wsum.data() + (kh * s.kernel + kx) * s.out_c + n0;
        for (i64 j = 0; j < ncount; ++j) dots[j] -= ws[j];
      }
    }
  };

  // The input in panel format, once; then the im2col copies panel words: pixel (n, h, w),
  // plane i at ((n*H + h)*W + w)*pixel + i*tap.
  const i64 tap = cw * isa.a_mult, pixel = abits * tap, row_words = KK * tap;
  const auto bytes = [](i64 words) { return static_cast<std::size_t>(words) * 8; };
  const bool direct = s.kernel == 1 && s.stride == 1 && s.pad == 0;
  const auto fill_a = [&](const std::uint64_t* panel, i64 m0, i64 mcount,
                          std::uint64_t* dst) -> const std::uint64_t* {
    if (direct) return panel + m0 * pixel;
    std::uint64_t* row = dst;
    for (i64 m = m0; m < m0 + mcount; ++m) {
      const i64 n = m / (OH * OW), oh = m / OW % OH, ow = m % OW;
      const i64 w0 = ow * s.stride - s.pad;
      const bool w_inside = w0 >= 0 && w0 + s.kernel <= s.in_w;
      for (int i = 0; i < abits; ++i, row += row_words) {
        std::uint64_t* d = row;
        for (i64 kh = 0; kh < s.kernel; ++kh, d += s.kernel * tap) {
          const i64 ih = oh * s.stride - s.pad + kh;
          if (ih < 0 || ih >= s.in_h) {
            std::memset(d, 0, bytes(s.kernel * tap));
            continue;
          }
          const std::uint64_t* src = panel + ((n * s.in_h + ih) * s.in_w) * pixel + i * tap;
          if (w_inside && abits == 1) {  // the kernel's taps are adjacent pixels
            std::memcpy(d, src + w0 * pixel, bytes(s.kernel * tap));
            continue;
          }
          for (i64 kx = 0; kx < s.kernel; ++kx) {
            const i64 iw = w0 + kx;
            if (iw < 0 || iw >= s.in_w) {
              std::memset(d + kx * tap, 0, bytes(tap));
            } else {
              std::memcpy(d + kx * tap, src + iw * pixel, bytes(tap));
            }
          }
        }
      }
    }
    return dst;
  };
  run(isa, p, {in, s.batch * s.in_h * s.in_w * abits, cw, !direct}, w_rows, fill_a, correct,
      !wsum.empty(), out);
}

}  // namespace lowbit::quant::xnor::detail
