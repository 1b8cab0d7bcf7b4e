// `bench model`: an exported model in the XNOR engine against the same network's float forward in
// lowbit and, when python3-torch is installed, in PyTorch (scripts/bench_engine_torch.py), in the
// same run: end-to-end latency at each --batches size (median of --repeats after --warmup), images/s,
// and the engine's per-op time at batch 1.
//
//   bench model --checkpoint runs/fmnist_bnn/best.ckpt [--batches 1,32] [--threads 2]
//   bench model --config configs/resnet18_w1a1.yaml       (untrained weights: speed only)
//
// The float twin is the checkpoint's config with quant.scheme = none and no overrides (same
// architecture, every layer float).

#include "apps/checkpoint.hpp"
#include "apps/session.hpp"
#include "core/autograd.hpp"
#include "core/random.hpp"
#include "quant/export.hpp"
#include "quant/xnor/runner.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

namespace lowbit::apps {

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double median_ms(int warmup, int repeats, F&& f) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// PyTorch's median ms per batch, or a negative number when torch is not there.
double torch_ms(const app::Config& c, std::int64_t channels, std::int64_t size, std::int64_t classes,
                std::int64_t batch, int threads, int repeats) {
  const std::string script = "scripts/bench_engine_torch.py";
  if (!std::filesystem::exists(script) || !std::filesystem::exists("/usr/bin/python3")) return -1.0;
  const std::string cmd = fmt::format("/usr/bin/python3 {} {} {} {} {} {} {} {} {} {} 2>/dev/null", script,
                                      c.model.name, c.model.width, c.model.block, channels, size, classes,
                                      batch, threads, repeats);
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1.0;
  char buf[128] = {};
  const bool got = std::fgets(buf, sizeof buf, pipe) != nullptr;
  const int status = pclose(pipe);
  if (!got || status != 0) return -1.0;
  return std::atof(buf);
}

}  // namespace

int run_bench_model(const std::string& checkpoint, const std::string& config_path,
                    const std::vector<std::int64_t>& batches, int repeats, int warmup, int threads) {
  try {
    app::Config config = checkpoint.empty() ? app::load_config(config_path, {})
                                            : app::read_checkpoint_config(checkpoint);
    config.train.threads = threads;
    threads = app::configure_threads(config.train);
    const auto data = app::load_datasets(config.data, config.train.seed);
    const data::ItemShape s = data.train->item_shape();
    const std::int64_t classes = data.train->num_classes();
    auto model = app::build_model(config, *data.train);
    if (!checkpoint.empty()) app::load_checkpoint_model(checkpoint, *model);
    model->eval();
    quant::ExportInput in{s.c, s.h, s.w, data.stats.mean, data.stats.std};
    quant::xnor::Runner runner(quant::export_model(*model, in));

    app::Config float_config = config;
    float_config.quant = app::QuantSection{};
    auto float_model = app::build_model(float_config, *data.train);
    float_model->eval();

    fmt::print("bench model: {} ({} {}, scheme {}), {}x{}x{} input, {} threads, median of {} runs\n",
               checkpoint.empty() ? config_path : checkpoint, config.model.name, config.model.block,
               config.quant.defaults.scheme, s.c, s.h, s.w, threads, repeats);
    fmt::print("{:>6} {:>12} {:>12} {:>12} {:>10} {:>10} {:>12}\n", "batch", "engine ms", "lowbit fp ms",
               "pytorch ms", "vs lowbit", "vs torch", "engine img/s");
    for (const std::int64_t n : batches) {
      core::Rng rng(7);
      const core::Tensor images = core::uniform_tensor({n, s.c, s.h, s.w}, 0.0f, 1.0f, rng);
      std::vector<float> logits(static_cast<std::size_t>(n * classes));
      const double engine = median_ms(warmup, repeats, [&] { runner.run(images.data<float>(), n, logits.data()); });
      core::NoGradGuard no_grad;
      const double lowbit_fp = median_ms(warmup, repeats, [&] { float_model->forward(images); });
      const double torch = torch_ms(config, s.c, s.h, classes, n, threads, repeats);
      fmt::print("{:>6} {:>12.3f} {:>12.3f} {:>12} {:>9.1f}x {:>10} {:>12.0f}\n", n, engine, lowbit_fp,
                 torch > 0 ? fmt::format("{:.3f}", torch) : "-", lowbit_fp / engine,
                 torch > 0 ? fmt::format("{:.1f}x", torch / engine) : "-",
                 1000.0 * static_cast<double>(n) / engine);
    }
    // Per-op engine time at batch 1.
    core::Rng rng(8);
    const core::Tensor one = core::uniform_tensor({1, s.c, s.h, s.w}, 0.0f, 1.0f, rng);
    std::vector<float> logits(static_cast<std::size_t>(classes));
    for (int i = 0; i < warmup; ++i) runner.run(one.data<float>(), 1, logits.data());
    runner.reset_timing();
    for (int i = 0; i < repeats; ++i) runner.run(one.data<float>(), 1, logits.data());
    const auto& ops = runner.model().ops;
    double total = 0.0;
    for (double t : runner.op_seconds()) total += t;
    fmt::print("\nper op at batch 1 (mean ms over {} runs):\n", runner.runs());
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const double ms = 1000.0 * runner.op_seconds()[i] / static_cast<double>(std::max<std::int64_t>(1, runner.runs()));
      fmt::print("  {:<32} {:<14} {:>9.4f} ms {:>5.1f}%\n", ops[i].name,
                 quant::xnor::op_kind_name(quant::xnor::op_kind(ops[i].params)), ms,
                 total > 0 ? 100.0 * runner.op_seconds()[i] / total : 0.0);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}

}  // namespace lowbit::apps
