// `bench bgemm`: the XNOR engine's binary GEMM against OpenBLAS sgemm on the same (M, N, K)
// shapes, in the same run, on 1 thread and on T threads (--threads, default every core).
//
// Shapes: ResNet-18 3x3 and 1x1 layers as GEMMs at output sizes 28x28, 14x14 and 7x7
// (M = batch*OH*OW for batch 1 and --batch, N = output channels, K = Cin*k*k), and the square-ish
// 1024 x 1024 x 4608. Both count M*N*K multiply-accumulates (binary ones for bgemm): bgemm
// C(M,N) int32 = K - 2*popcount(A_m XOR W_n) on packed rows, sgemm C = A * W^T in float. Beside
// them, the form the engine runs for a binary layer followed by batch-norm and sign: the same
// binary GEMM with the threshold output fused (bgemm_threshold, one bit per output instead of 32,
// so small-K shapes are not bound by writing int32 results), and the binary convolution (bconv2d, packed im2col and zero-padding correction included) on
// the layer the shape came from. Times are medians of --repeats timed batches (each >= 2 ms of
// back-to-back calls) after --warmup calls.
// OpenBLAS is its OpenMP build (DESIGN.md: the pthread build busy-waits and starves OpenMP).

#include <cblas.h>
#include <fmt/format.h>
#include <omp.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "quant/xnor/kernels.hpp"

namespace lowbit::apps {

namespace {

namespace xnor = lowbit::quant::xnor;
using i64 = std::int64_t;

struct Shape {
  std::string name;
  i64 M, N, K;
  xnor::BConvShape conv;  // batch 0: no convolution behind the shape
};

struct Layer {  // ResNet-18 layer: input H = W, square kernel
  i64 C, O, H, k, stride, pad;
};

// Output sizes 28, 14, 7: the stage's 3x3 layer, its strided 3x3 entry and 1x1 downsample
// (ImageNet ResNet-18 channels), plus the 64-channel stage at 28x28 (CIFAR stem on 28x28 input).
const std::vector<Layer> kLayers{
    {64, 64, 28, 3, 1, 1},   {128, 128, 28, 3, 1, 1}, {64, 128, 56, 3, 2, 1},
    {64, 128, 56, 1, 2, 0},  {256, 256, 14, 3, 1, 1}, {128, 256, 28, 3, 2, 1},
    {128, 256, 28, 1, 2, 0}, {512, 512, 7, 3, 1, 1},  {256, 512, 14, 3, 2, 1},
    {256, 512, 14, 1, 2, 0},
};

std::vector<Shape> shapes(i64 batch) {
  std::vector<Shape> out;
  for (const i64 b : {i64{1}, batch}) {
    for (const Layer& l : kLayers) {
      xnor::BConvShape s;
      s.batch = b, s.in_h = s.in_w = l.H, s.in_c = l.C, s.out_c = l.O;
      s.kernel = l.k, s.stride = l.stride, s.pad = l.pad;
      const i64 OH = s.out_h();
      out.push_back({fmt::format("b{} {}x{} {}->{} {}x{}{}", b, OH, OH, l.C, l.O, l.k, l.k,
                                 l.stride == 2 ? " s2" : ""),
                     b * OH * OH, l.O, l.C * l.k * l.k, s});
    }
  }
  out.push_back({"1024x1024x4608", 1024, 1024, 4608, xnor::BConvShape{0, 0, 0, 0, 0, 1, 1, 0}});
  return out;
}

// Median time of one call of f, in seconds: `repeats` timed batches after `warmup` untimed
// calls, each batch as many back-to-back calls as make it last >= kMinBatch (a 10 us call alone
// is at the mercy of a shared machine's timer and scheduler noise).
template <typename F>
double median_seconds(int repeats, int warmup, F&& f) {
  using Clock = std::chrono::steady_clock;
  constexpr double kMinBatch = 2e-3;
  for (int i = 0; i < std::max(warmup, 1); ++i) f();
  const auto start = Clock::now();
  f();
  const double once = std::chrono::duration<double>(Clock::now() - start).count();
  const int calls = std::max(1, static_cast<int>(kMinBatch / std::max(once, 1e-9)));
  std::vector<double> t(static_cast<std::size_t>(std::max(repeats, 1)));
  for (double& s : t) {
    const auto t0 = Clock::now();
    for (int c = 0; c < calls; ++c) f();
    s = std::chrono::duration<double>(Clock::now() - t0).count() / calls;
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

std::vector<std::uint64_t> random_words(i64 n, std::mt19937_64& gen) {
  std::vector<std::uint64_t> v(static_cast<std::size_t>(n));
  for (auto& e : v) e = gen();
  return v;
}

// Random packed rows with the padding bits of each row's last word cleared.
std::vector<std::uint64_t> random_rows(i64 rows, i64 bits, std::mt19937_64& gen) {
  const i64 words = xnor::words_for(bits);
  auto v = random_words(rows * words, gen);
  if (bits % 64 != 0) {
    for (i64 r = 0; r < rows; ++r)
      v[static_cast<std::size_t>(r * words + words - 1)] &= (1ull << (bits % 64)) - 1;
  }
  return v;
}

// n zeroed int32 on a 64-byte boundary, as the engine's buffers are (the kernels store whole
// cache lines where they can).
struct AlignedInts {
  explicit AlignedInts(i64 n) : storage(static_cast<std::size_t>(n + 16), 0) {
    auto addr = reinterpret_cast<std::uintptr_t>(storage.data());
    p = storage.data() + ((64 - addr % 64) % 64) / sizeof(std::int32_t);
  }
  std::int32_t* data() { return p; }
  std::vector<std::int32_t> storage;
  std::int32_t* p;
};

struct Result {
  Shape shape;
  double bgemm = 0, bthresh = 0, sgemm = 0, bconv = 0;  // G MAC/s
};

Result measure(const Shape& sh, int repeats, int warmup, std::mt19937_64& gen) {
  const auto& k = xnor::kernels();
  const double macs = double(sh.M) * double(sh.N) * double(sh.K);
  Result r{sh};
  {
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> a(static_cast<std::size_t>(sh.M * sh.K)),
        w(static_cast<std::size_t>(sh.N * sh.K));
    std::vector<float> c(static_cast<std::size_t>(sh.M * sh.N));
    for (float& e : a) e = d(gen);
    for (float& e : w) e = d(gen);
    r.sgemm = macs * 1e-9 / median_seconds(repeats, warmup, [&] {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(sh.M),
                            static_cast<int>(sh.N), static_cast<int>(sh.K), 1.0f, a.data(),
                            static_cast<int>(sh.K), w.data(), static_cast<int>(sh.K), 0.0f,
                            c.data(), static_cast<int>(sh.N));
              });
  }
  {
    const auto a = random_rows(sh.M, sh.K, gen), w = random_rows(sh.N, sh.K, gen);
    AlignedInts c(sh.M * sh.N);
    r.bgemm = macs * 1e-9 / median_seconds(repeats, warmup, [&] {
                k.bgemm(a.data(), w.data(), sh.M, sh.N, sh.K, c.data(), sh.N);
              });
    // Thresholds around 0 (the dots' centre), every 7th channel flipped.
    std::vector<std::int32_t> tau(static_cast<std::size_t>(sh.N));
    std::vector<std::uint8_t> flip(tau.size());
    for (std::size_t i = 0; i < tau.size(); ++i) {
      tau[i] = static_cast<std::int32_t>(gen() % 17) - 8;
      flip[i] = i % 7 == 0;
    }
    std::vector<std::uint64_t> bits(static_cast<std::size_t>(sh.M * xnor::words_for(sh.N)));
    r.bthresh = macs * 1e-9 / median_seconds(repeats, warmup, [&] {
                  k.bgemm_threshold(a.data(), w.data(), sh.M, sh.N, sh.K, {tau.data(), flip.data()},
                                    bits.data());
                });
  }
  if (sh.conv.batch > 0) {
    const xnor::BConvShape& s = sh.conv;
    const auto in = random_rows(s.batch * s.in_h * s.in_w, s.in_c, gen);
    const auto w = random_rows(s.out_c * s.kernel * s.kernel, s.in_c, gen);
    AlignedInts c(sh.M * sh.N);
    r.bconv = macs * 1e-9 /
              median_seconds(repeats, warmup, [&] { k.bconv2d(in.data(), w.data(), s, c.data()); });
  }
  return r;
}

// Geometric mean and worst of a column of ratios.
struct Summary {
  double log_sum = 0.0, worst = 1e30;
  int count = 0;
  std::string worst_name;
  void add(double ratio, const std::string& name) {
    log_sum += std::log(ratio), ++count;
    if (ratio < worst) worst = ratio, worst_name = name;
  }
  double geomean() const { return std::exp(log_sum / count); }
};

}  // namespace

namespace {

int run(i64 batch, int repeats, int warmup, int threads, const std::string& json) {
  const int max_threads = threads > 0 ? threads : omp_get_num_procs();
  std::vector<int> counts{1};
  if (max_threads > 1) counts.push_back(max_threads);
  fmt::print("bench bgemm: xnor kernels {}, median of {} runs after {} warm-up\n",
             xnor::xnor_kernel_path_name(), repeats, warmup);
  fmt::print("{} (core {})\n", openblas_get_config(), openblas_get_corename());

  nlohmann::json j{{"kernels", xnor::xnor_kernel_path_name()},
                   {"batch", batch},
                   {"repeats", repeats},
                   {"warmup", warmup}};
  std::mt19937_64 gen(1);
  for (const int t : counts) {
    omp_set_num_threads(t);
    openblas_set_num_threads(t);
    fmt::print("\n{} thread{}\n", t, t > 1 ? "s" : "");
    fmt::print("{:<26} {:>6} {:>5} {:>5} | {:>8} {:>8} {:>8} {:>8} | {:>6} {:>6} {:>6}\n", "shape",
               "M", "N", "K", "bgemm", "bg+thr", "sgemm", "bconv", "bg/sg", "bt/sg", "bc/sg");
    fmt::print("{:<26} {:>6} {:>5} {:>5} | {:>35} |\n", "", "", "", "", "G MAC/s");
    Summary plain, fused;
    nlohmann::json rows = nlohmann::json::array();
    for (const Shape& sh : shapes(batch)) {
      const Result r = measure(sh, repeats, warmup, gen);
      const double ratio = r.bgemm / r.sgemm, fused_ratio = r.bthresh / r.sgemm;
      plain.add(ratio, sh.name);
      fused.add(fused_ratio, sh.name);
      const std::string bconv = r.bconv > 0 ? fmt::format("{:8.1f}", r.bconv) : "       -";
      const std::string bc = r.bconv > 0 ? fmt::format("{:6.2f}", r.bconv / r.sgemm) : "     -";
      fmt::print("{:<26} {:>6} {:>5} {:>5} | {:>8.1f} {:>8.1f} {:>8.1f} {} | {:>6.2f} {:>6.2f} {}\n",
                 sh.name, sh.M, sh.N, sh.K, r.bgemm, r.bthresh, r.sgemm, bconv, ratio, fused_ratio,
                 bc);
      std::fflush(stdout);
      rows.push_back({{"shape", sh.name},
                      {"M", sh.M},
                      {"N", sh.N},
                      {"K", sh.K},
                      {"bgemm_gmacs", r.bgemm},
                      {"bgemm_threshold_gmacs", r.bthresh},
                      {"sgemm_gmacs", r.sgemm},
                      {"bconv_gmacs", r.bconv},
                      {"ratio", ratio},
                      {"threshold_ratio", fused_ratio}});
    }
    const char* plural = t > 1 ? "s" : "";
    fmt::print("bgemm / sgemm on {} thread{}: geometric mean {:.2f}, worst {:.2f} ({})\n", t, plural,
               plain.geomean(), plain.worst, plain.worst_name);
    fmt::print("bgemm+threshold / sgemm on {} thread{}: geometric mean {:.2f}, worst {:.2f} ({})\n",
               t, plural, fused.geomean(), fused.worst, fused.worst_name);
    j["runs"].push_back({{"threads", t},
                         {"shapes", rows},
                         {"geomean_ratio", plain.geomean()},
                         {"worst_ratio", plain.worst},
                         {"worst_shape", plain.worst_name},
                         {"threshold_geomean_ratio", fused.geomean()},
                         {"threshold_worst_ratio", fused.worst},
                         {"threshold_worst_shape", fused.worst_name}});
  }
  if (!json.empty()) {
    std::ofstream(json) << j.dump(2) << '\n';
    fmt::print("wrote {}\n", json);
  }
  return 0;
}

}  // namespace

// Runs the comparison; threads 0 means every core. Returns the process exit code.
int run_bench_bgemm(i64 batch, int repeats, int warmup, int threads, const std::string& json) {
  try {
    return run(batch, repeats, warmup, threads, json);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench bgemm: {}\n", e.what());
    return 1;
  }
}

}  // namespace lowbit::apps
