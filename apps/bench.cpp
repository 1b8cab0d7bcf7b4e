// bench: speed of lowbit's kernels on this machine, measured against OpenBLAS sgemm in the same run.
//
//   bench [conv|bgemm] [--batch 32] [--repeats 10] [--warmup 2] [--threads 0] [--json FILE]
//
// `bench conv` (the default mode) times conv2d forward, backward-input and backward-weight on the
// ResNet-18 layer shapes at 28x28 and 14x14, beside OpenBLAS sgemm on the equivalent GEMM
// (M = O, N = batch*OH*OW, K = C/groups*KH*KW) and on one big square GEMM. Every pass is counted
// as flops = 2*N*O*OH*OW*(C/groups)*KH*KW; a time is the median of --repeats runs after --warmup
// runs. Kernels are called through the dispatch table, so LOWBIT_KERNELS=reference times the
// reference twins (slowly). `bench bgemm` (bench_bgemm.cpp) times the XNOR engine's binary GEMM
// against sgemm on the same shapes, on 1 thread and on --threads (0: every core).

#include "core/kernels/conv.hpp"
#include "core/kernels/dispatch.hpp"
#include "core/kernels/gemm.hpp"

#include <CLI/CLI.hpp>
#include <cblas.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdint>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace {

namespace kernels = lowbit::core::kernels;
using i64 = std::int64_t;

struct Options {
  i64 batch = 32;
  int repeats = 10;
  int warmup = 2;
  int threads = 0;  // 0: OMP_NUM_THREADS if set, else every core
  i64 square = 2048;
  std::string json;
};

struct Layer {  // square input H = W, square kernel, symmetric stride and padding
  i64 C, O, H, k, stride, pad;
  std::string name() const { return fmt::format("{}->{} {}x{} s{}", C, O, k, k, stride); }
};

// ResNet-18 layer shapes whose input is 28x28 or 14x14 (ImageNet stem), 1x1 downsamples included,
// then the 7x7 and 4x4 stages that the CIFAR stem reaches on 28x28 images.
const std::vector<Layer> kResNet18Layers{
    {64, 64, 28, 3, 1, 1},   {64, 128, 28, 3, 2, 1},  {64, 128, 28, 1, 2, 0},
    {128, 128, 28, 3, 1, 1}, {128, 128, 14, 3, 1, 1}, {128, 256, 28, 3, 2, 1},
    {128, 256, 28, 1, 2, 0}, {256, 256, 14, 3, 1, 1}, {256, 256, 7, 3, 1, 1},
    {256, 512, 7, 3, 2, 1},  {512, 512, 4, 3, 1, 1},
};

std::vector<float> random_buffer(i64 n, std::uint64_t seed) {
  std::mt19937 gen(static_cast<std::uint32_t>(seed));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<std::size_t>(n));
  for (float& e : v) e = dist(gen);
  return v;
}

// Median wall time of `repeats` calls of f after `warmup` untimed calls, in seconds.
template <typename F>
double median_seconds(const Options& opt, F&& f) {
  for (int i = 0; i < opt.warmup; ++i) f();
  std::vector<double> t(static_cast<std::size_t>(std::max(opt.repeats, 1)));
  for (double& s : t) {
    const auto start = std::chrono::steady_clock::now();
    f();
    s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  std::nth_element(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(t.size() / 2), t.end());
  return t[t.size() / 2];
}

// GFLOPS of sgemm C(M,N) = A(M,K) B(K,N) on the threads OpenBLAS is allowed.
double sgemm_gflops(const Options& opt, i64 M, i64 N, i64 K) {
  const auto a = random_buffer(M * K, 1), b = random_buffer(K * N, 2);
  std::vector<float> c(static_cast<std::size_t>(M * N));
  const double s = median_seconds(opt, [&] {
    kernels::sgemm_blas(false, false, M, N, K, 1.0f, a.data(), K, b.data(), N, 0.0f, c.data(), N);
  });
  return 2.0 * double(M) * double(N) * double(K) / s * 1e-9;
}

struct LayerResult {
  Layer layer;
  i64 OH;
  double gflop, forward, backward_input, backward_weight, sgemm;  // GFLOPS except gflop
};

LayerResult bench_layer(const Options& opt, const Layer& l) {
  kernels::ConvGeometry g{};
  g.N = opt.batch, g.C = l.C, g.H = l.H, g.W = l.H, g.O = l.O, g.KH = l.k, g.KW = l.k;
  g.stride_h = g.stride_w = l.stride, g.pad_h = g.pad_w = l.pad;
  g.dilation_h = g.dilation_w = 1, g.groups = 1;
  g.OH = (g.H + 2 * g.pad_h - g.KH) / g.stride_h + 1;
  g.OW = (g.W + 2 * g.pad_w - g.KW) / g.stride_w + 1;
  const i64 K = g.C / g.groups * g.KH * g.KW, P = g.OH * g.OW;
  const double flop = 2.0 * double(g.N) * double(g.O) * double(P) * double(K);

  const auto x = random_buffer(g.N * g.C * g.H * g.W, 3);  // x: (N,C,H,W)
  const auto w = random_buffer(g.O * K, 4);                // w: (O,C,KH,KW)
  const auto bias = random_buffer(g.O, 5);                 // bias: (O)
  const auto dy = random_buffer(g.N * g.O * P, 6);         // dy: (N,O,OH,OW)
  std::vector<float> y(dy.size()), dx(x.size()), dw(w.size()), db(bias.size());
  const auto& k = kernels::kernels();
  const auto gflops = [&](auto&& f) { return flop / median_seconds(opt, f) * 1e-9; };

  LayerResult r{l, g.OH, flop * 1e-9, 0, 0, 0, 0};
  r.forward = gflops([&] { k.conv2d_forward(g, x.data(), w.data(), bias.data(), y.data()); });
  r.backward_input =
      gflops([&] { k.conv2d_backward_input(g, dy.data(), w.data(), dx.data()); });
  r.backward_weight =
      gflops([&] { k.conv2d_backward_weight(g, x.data(), dy.data(), dw.data(), db.data()); });
  r.sgemm = sgemm_gflops(opt, g.O, g.N * P, K);
  return r;
}

int run_conv(const Options& opt) {
  const bool reference = kernels::kernel_path() == kernels::KernelPath::reference;
  fmt::print("bench conv: batch {}, threads {}, median of {} runs after {} warm-up, {} kernels\n",
             opt.batch, omp_get_max_threads(), opt.repeats, opt.warmup,
             reference ? "reference" : "optimized");
  fmt::print("{} (core {})\n", openblas_get_config(), openblas_get_corename());
  const double square = sgemm_gflops(opt, opt.square, opt.square, opt.square);
  fmt::print("sgemm {0}x{0}x{0}: {1:.1f} GFLOPS\n\n", opt.square, square);
  fmt::print("{:<16} {:>5} {:>5} {:>6} | {:>7} {:>7} {:>7} {:>7} | {:>6} {:>6} {:>6} {:>6}\n",
             "layer", "in", "out", "GFLOP", "fwd", "bwd-in", "bwd-w", "sgemm", "fwd/sg",
             "bin/sg", "bw/sg", "fwd/sq");
  fmt::print("{:<16} {:>5} {:>5} {:>6} | {:>31} | {:>6} {:>6} {:>6} {:>6}\n", "", "", "", "",
             "GFLOPS", "", "", "", "");

  std::vector<LayerResult> results;
  double log_sum = 0.0, worst = 1e9;
  for (const Layer& l : kResNet18Layers) {
    const LayerResult r = bench_layer(opt, l);
    results.push_back(r);
    const double ratio = r.forward / r.sgemm;
    log_sum += std::log(ratio);
    worst = std::min(worst, ratio);
    fmt::print("{:<16} {:>5} {:>5} {:>6.2f} | {:>7.1f} {:>7.1f} {:>7.1f} {:>7.1f} | {:>6.2f} "
               "{:>6.2f} {:>6.2f} {:>6.2f}\n",
               l.name(), l.H, r.OH, r.gflop, r.forward, r.backward_input, r.backward_weight,
               r.sgemm, ratio, r.backward_input / r.sgemm, r.backward_weight / r.sgemm,
               r.forward / square);
    std::fflush(stdout);
  }
  fmt::print("\nforward / same-shape sgemm: geometric mean {:.2f}, worst {:.2f}\n",
             std::exp(log_sum / double(results.size())), worst);

  if (!opt.json.empty()) {
    nlohmann::json j{{"batch", opt.batch},     {"threads", omp_get_max_threads()},
                     {"repeats", opt.repeats}, {"kernels", reference ? "reference" : "optimized"},
                     {"square_sgemm", {{"size", opt.square}, {"gflops", square}}}};
    for (const LayerResult& r : results) {
      j["conv"].push_back({{"layer", r.layer.name()}, {"C", r.layer.C}, {"O", r.layer.O},
                           {"H", r.layer.H}, {"OH", r.OH}, {"k", r.layer.k},
                           {"stride", r.layer.stride}, {"pad", r.layer.pad}, {"gflop", r.gflop},
                           {"forward_gflops", r.forward}, {"backward_input_gflops", r.backward_input},
                           {"backward_weight_gflops", r.backward_weight},
                           {"sgemm_gflops", r.sgemm}});
    }
    std::ofstream(opt.json) << j.dump(2) << '\n';
    fmt::print("wrote {}\n", opt.json);
  }
  return 0;
}

}  // namespace

namespace lowbit::apps {
int run_bench_bgemm(std::int64_t batch, int repeats, int warmup, int threads,
                    const std::string& json);  // bench_bgemm.cpp
int run_bench_model(const std::string& checkpoint, const std::string& config,
                    const std::vector<std::int64_t>& batches, int repeats, int warmup,
                    int threads);  // bench_model.cpp
}  // namespace lowbit::apps

int main(int argc, char** argv) {
  CLI::App app{"bench: lowbit kernel speed against OpenBLAS sgemm on this machine"};
  Options opt;
  app.add_option("--batch", opt.batch, "batch size N")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--repeats", opt.repeats, "timed runs per measurement (the median is shown)")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", opt.warmup, "untimed runs before timing")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", opt.threads,
                 "threads for our kernels and OpenBLAS (0: OMP_NUM_THREADS, else every core)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--square", opt.square, "size of the reference square sgemm")
      ->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--json", opt.json, "also write the results as JSON to this file");
  CLI::App* conv = app.add_subcommand(
      "conv", "conv2d forward/backward on ResNet-18 shapes vs sgemm (the default mode)");
  conv->fallthrough();  // `bench conv --batch 8` works as well as `bench --batch 8 conv`
  CLI::App* bgemm = app.add_subcommand(
      "bgemm", "XNOR binary GEMM vs sgemm on ResNet-18 GEMM shapes, 1 and --threads threads");
  bgemm->fallthrough();
  std::string model_checkpoint, model_config;
  std::vector<std::int64_t> model_batches{1, 32};
  CLI::App* model = app.add_subcommand(
      "model", "an exported model in the XNOR engine vs its float twin in lowbit and PyTorch");
  model->add_option("--checkpoint", model_checkpoint, "trained checkpoint to export and time");
  model->add_option("--config", model_config, "or a config (untrained weights: speed only)");
  model->add_option("--batches", model_batches, "batch sizes")->delimiter(',')->capture_default_str();
  model->fallthrough();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (model->parsed()) {
    if (model_checkpoint.empty() == model_config.empty()) {
      fmt::print(stderr, "error: bench model needs --checkpoint FILE or --config FILE (one of them)\n");
      return 2;
    }
    return lowbit::apps::run_bench_model(model_checkpoint, model_config, model_batches, opt.repeats,
                                         opt.warmup, opt.threads);
  }

  if (bgemm->parsed()) {
    return lowbit::apps::run_bench_bgemm(opt.batch, opt.repeats, opt.warmup, opt.threads,
                                         opt.json);
  }
  if (opt.threads > 0) {
    omp_set_num_threads(opt.threads);
    openblas_set_num_threads(opt.threads);
  }
  try {
    return run_conv(opt);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bench: {}\n", e.what());
    return 1;
  }
}
