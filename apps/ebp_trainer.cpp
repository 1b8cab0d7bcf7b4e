#include "apps/ebp_trainer.hpp"

#include "apps/checkpoint.hpp"
#include "apps/metrics.hpp"
#include "apps/plot_svg.hpp"
#include "apps/progress.hpp"
#include "apps/run_control.hpp"
#include "apps/session.hpp"
#include "core/io.hpp"
#include "quant/ebp.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>

namespace lowbit::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::uint32_t kEbpLayout = 1;

// Layer sizes {V_0, hidden..., classes} of the run's network.
std::vector<std::int64_t> ebp_sizes(const Config& cfg, const data::Dataset& dataset) {
  const data::ItemShape s = dataset.item_shape();
  std::vector<std::int64_t> sizes{s.c * s.h * s.w};
  sizes.insert(sizes.end(), cfg.model.hidden.begin(), cfg.model.hidden.end());
  sizes.push_back(dataset.num_classes());
  return sizes;
}

void save_ebp_checkpoint(const fs::path& path, const Config& cfg, const quant::EbpNetwork& net,
                         const RunProgress& p, const data::DataLoader& loader,
                         const std::vector<MetricRow>& history) {
  core::BinaryWriter out(path.string(), kCheckpointMagic, kCheckpointVersion);
  write_checkpoint_head(out, cfg, p);
  out.begin_section("ebp");
  out.put_u32(kEbpLayout);
  out.put_u64(net.layers().size());
  for (const quant::EbpLayer& layer : net.layers()) {
    out.put_i64(layer.in);
    out.put_i64(layer.out);
    out.put_vector(layer.h);
    out.put_vector(layer.b);
  }
  out.end_section();
  out.write_section("loader", loader.position().to_bytes());
  out.write_section("metrics", MetricsLog::encode(history));
  out.commit();
}

quant::EbpNetwork read_ebp_network(const core::BinaryReader& in) {
  core::SectionReader s = in.section("ebp");
  const std::uint32_t layout = s.get_u32();
  if (layout != kEbpLayout) s.fail_format(fmt::format("unknown EBP layout {}", layout));
  const std::uint64_t count = s.get_u64();
  if (count == 0 || count > 1024) s.fail_format(fmt::format("implausible layer count {}", count));
  std::vector<quant::EbpLayer> layers(count);
  for (quant::EbpLayer& layer : layers) {
    layer.in = s.get_i64();
    layer.out = s.get_i64();
    layer.h = s.get_vector<float>();
    layer.b = s.get_vector<float>();
  }
  s.expect_end();
  try {
    return quant::EbpNetwork(std::move(layers));
  } catch (const core::Error& e) {
    s.fail_format(e.what());
  }
}

// Loads a whole run state; the network must have the shape the config gives.
quant::EbpNetwork load_ebp_checkpoint(const std::string& path,
                                      const std::vector<std::int64_t>& sizes, RunProgress& p,
                                      data::DataLoader& loader, std::vector<MetricRow>& history) {
  const core::BinaryReader in(path, kCheckpointMagic, kCheckpointVersion, "checkpoint");
  p = read_checkpoint_progress(in);
  quant::EbpNetwork net = read_ebp_network(in);
  core::check(net.sizes() == sizes,
              "checkpoint '{}': its EBP network has layer sizes {}, the config gives {}", path,
              fmt::join(net.sizes(), "x"), fmt::join(sizes, "x"));
  loader.set_position(data::LoaderPosition::from_bytes(in.section_bytes("loader")));
  history = MetricsLog::decode(in.section_bytes("metrics"));
  return net;
}

// EBP-D and EBP-P over one pass of an evaluation loader.
EbpEvalResult evaluate_ebp(const quant::EbpNetwork& net, data::DataLoader& loader) {
  EbpEvalResult r;
  loader.set_position({0, 0});
  const std::int64_t classes = net.outputs();
  quant::EbpMeanField f;
  std::vector<float> d, z;
  std::int64_t hits_d = 0, hits_p = 0;
  for (std::int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    const data::Batch batch = loader.next();
    const core::Tensor images = batch.images.contiguous();
    const std::int64_t n = batch.size();
    const auto labels = batch.labels.to_vector<std::int64_t>();
    d.resize(static_cast<std::size_t>(n * classes));
    z.resize(d.size());
    net.predict_deterministic(images.data<float>(), n, d.data());
    net.mean_field(images.data<float>(), n, f);
    for (std::size_t k = 0; k < z.size(); ++k) {
      z[k] = f.mu.back()[k] / std::sqrt(f.var.back()[k]);
      const double y =
          static_cast<std::int64_t>(k) % classes == labels[k / static_cast<std::size_t>(classes)]
              ? 1
              : -1;
      const double p = 0.5 * std::erfc(-y * z[k] / std::sqrt(2.0));
      r.nll -= p > 0 ? std::log(p) : -0.5 * z[k] * z[k];  // asymptote where Phi underflows
    }
    const auto pred_d = quant::ebp_argmax(d.data(), n, classes);
    const auto pred_p = quant::ebp_argmax(z.data(), n, classes);
    for (std::size_t k = 0; k < labels.size(); ++k) {
      hits_d += pred_d[k] == labels[k];
      hits_p += pred_p[k] == labels[k];
    }
    r.count += n;
  }
  if (r.count > 0) {
    r.accuracy_deterministic = static_cast<double>(hits_d) / static_cast<double>(r.count);
    r.accuracy_probabilistic = static_cast<double>(hits_p) / static_cast<double>(r.count);
    r.nll /= static_cast<double>(r.count);
  }
  return r;
}


}  // namespace

bool is_ebp_config(const Config& config) { return config.optim.name == "ebp"; }

void check_ebp_config(const Config& cfg) {
  core::check(
      cfg.model.name == "mlp",
      "config: optim.name ebp trains fully connected binary-weight networks, model.name is '{}'. "
      "HINT: set model.name: mlp and model.hidden: [sizes]",
      cfg.model.name);
  core::check(
      !cfg.model.hidden.empty(),
      "config: optim.name ebp needs the hidden layer sizes. HINT: set model.hidden, e.g. [500]");
  // Every key EBP has no use for must keep its default: compare against the config with those
  // keys reset (incompatible_keys lists "key: ..., ..." per difference).
  Config ref = cfg;
  ref.model = ModelConfig{};
  ref.model.name = cfg.model.name;
  ref.model.hidden = cfg.model.hidden;
  ref.optim = OptimConfig{};
  ref.optim.name = cfg.optim.name;
  ref.schedule = ScheduleConfig{};
  ref.quant = QuantSection{};
  ref.train.loss = TrainConfig{}.loss;
  ref.train.label_smoothing = TrainConfig{}.label_smoothing;
  std::vector<std::string> keys;
  for (const std::string& d : incompatible_keys(ref, cfg)) keys.push_back(d.substr(0, d.find(':')));
  if (!cfg.train.init_from.empty()) keys.push_back("train.init_from");
  core::check(
      keys.empty(),
      "config: optim.name ebp (Expectation BackPropagation) has no learning rate, optimizer, "
      "schedule, loss, quantizer or other layer options, yet the config sets {}. HINT: delete "
      "these keys; EBP's update is parameter-free (methods.md 3a), only model.hidden, data.* and "
      "train.* apply",
      fmt::join(keys, ", "));
}

int run_ebp_training(const TrainRequest& request) {
  const Config& cfg = request.config;
  check_ebp_config(cfg);
  const fs::path dir = run_directory(request);
  fs::create_directories(dir);
  const int threads = configure_threads(cfg.train);
  const std::string resume_from = resume_path(request, dir.string());
  if (!resume_from.empty()) {
    const auto diffs = incompatible_keys(read_checkpoint_config(resume_from), cfg);
    if (!diffs.empty()) {
      std::string msg =
          fmt::format("cannot resume from '{}': it was made with a different config:", resume_from);
      for (const auto& d : diffs) msg += "\n  " + d;
      msg +=
          "\nHINT: resume with the checkpoint's own config, or start a new run (another "
          "train.name).";
      throw core::Error(msg);
    }
  }

  const Datasets data = load_datasets(cfg.data, cfg.train.seed);
  const auto train_loader = make_train_loader(cfg, data);
  const auto test_loader = make_eval_loader(cfg, data, data.test);
  const std::vector<std::int64_t> sizes = ebp_sizes(cfg, *data.train);
  const std::int64_t steps_per_epoch = train_loader->batches_per_epoch();
  RunProgress p;
  std::vector<MetricRow> history;
  Progress progress;
  quant::EbpNetwork net = resume_from.empty()
                              ? quant::EbpNetwork(sizes, cfg.train.seed)
                              : load_ebp_checkpoint(resume_from, sizes, p, *train_loader, history);
  if (!resume_from.empty()) {
    progress.line(
        fmt::format("resumed from {} at epoch {}, step {}", resume_from, p.epoch + 1, p.step));
  } else if (request.resume == "auto") {
    progress.line(fmt::format("no checkpoint in {}: starting a new run", dir.string()));
  }
  write_text_atomically(dir / "config.yaml", to_yaml(cfg));
  MetricsLog metrics(dir.string(), std::move(history));
  auto save = [&](const std::string& name) {
    save_ebp_checkpoint(dir / name, cfg, net, p, *train_loader, metrics.history());
  };

  std::int64_t fields = 0;
  for (const auto& layer : net.layers()) fields += layer.in * layer.out;
  progress.line(
      fmt::format("EBP (methods.md 3a): binary-weight MLP {}, {} fields h, binary neurons; one "
                  "parameter-free update per batch of {} (no learning rate)",
                  fmt::join(sizes, "-"), fields, cfg.train.batch_size));
  progress.line(fmt::format(
      "data: {} train / {} test examples of {}, {} classes; {} steps per epoch; {} threads",
      data.train->size(), data.test->size(), data.train->item_shape().str(),
      data.train->num_classes(), steps_per_epoch, threads));
  progress.line(fmt::format("run directory: {}", dir.string()));

  StopSignals stop;
  const std::int64_t total_steps = steps_per_epoch * cfg.train.epochs;
  auto row_start = Clock::now();
  std::int64_t row_images = 0;
  StepTimer timer;
  auto log_train_row = [&] {
    if (p.seen == 0) return;
    const double secs = std::chrono::duration<double>(Clock::now() - row_start).count();
    const double seen = static_cast<double>(p.seen);
    metrics.append({"train", p.epoch, p.step, 0.0, p.loss_sum / seen,
                    static_cast<double>(p.correct) / seen,
                    secs > 0 ? static_cast<double>(row_images) / secs : 0.0});
    p.loss_sum = 0.0;
    p.correct = 0;
    p.seen = 0;
    row_images = 0;
    row_start = Clock::now();
  };

  while (p.epoch < cfg.train.epochs) {
    const std::int64_t epoch = p.epoch;
    bool epoch_done = false;
    while (!epoch_done) {
      const auto t0 = Clock::now();
      const data::Batch batch = train_loader->next();
      epoch_done = batch.last_in_epoch;
      const core::Tensor images = batch.images.contiguous();
      const core::Tensor labels = batch.labels.contiguous();
      const quant::EbpStepStats s =
          net.update(images.data<float>(), labels.data<std::int64_t>(), batch.size());
      // EBP's update is derived for one example; a batch adds up B of them unscaled, and where
      // the output is confidently wrong each is a full Newton-like step, so large batches overshoot
      // (measured on Fashion-MNIST: batch 128 diverged within 32 steps; 1, 10, 32, 64 trained).
      if (!std::isfinite(s.nll)) {
        progress.line(fmt::format(
            "error: the mean-field NLL became {} at epoch {}, step {} (batch size {}); training "
            "stopped. The last good checkpoint is {}.\nHINT: lower train.batch_size (EBP sums one "
            "update per example; 1-64 trained stably here), or check the data for non-finite "
            "values.",
            s.nll, epoch + 1, p.step + 1, cfg.train.batch_size,
            fs::exists(dir / "last.ckpt") ? (dir / "last.ckpt").string() : "(none yet)"));
        return kExitNonFiniteLoss;
      }
      ++p.step;
      p.loss_sum += s.nll;
      p.correct += s.correct;
      p.seen += batch.size();
      row_images += batch.size();

      timer.add(std::chrono::duration<double>(Clock::now() - t0).count());
      const double shown_loss = p.seen > 0 ? p.loss_sum / static_cast<double>(p.seen) : 0.0;
      const double shown_accuracy = p.seen > 0 ? static_cast<double>(p.correct) / static_cast<double>(p.seen) : 0.0;
      progress.update(step_progress(epoch, cfg.train.epochs, batch.index_in_epoch, steps_per_epoch,
                                  total_steps - p.step, shown_loss, shown_accuracy, timer, batch.size()));

      if (p.step % cfg.train.log_every_steps == 0) log_train_row();
      if (epoch_done) {
        log_train_row();
        p.epoch = epoch + 1;
      }
      if (stop.requested()) {
        save("last.ckpt");
        progress.line(
            fmt::format("interrupted at epoch {}, step {}; saved {}. Resume with --resume auto.",
                        epoch + 1, p.step, (dir / "last.ckpt").string()));
        return kExitInterrupted;
      }
      const bool periodic =
          cfg.train.checkpoint_every_steps > 0 && p.step % cfg.train.checkpoint_every_steps == 0;
      if (periodic && !epoch_done) save("last.ckpt");
      maybe_debug_kill(p.step);  // tests: a kill -9 at a known step
    }

    const bool evaluate_now =
        (epoch + 1) % cfg.train.eval_every_epochs == 0 || epoch + 1 == cfg.train.epochs;
    if (evaluate_now) {
      const EbpEvalResult r = evaluate_ebp(net, *test_loader);
      metrics.append({"test", epoch + 1, p.step, 0.0, r.nll, r.accuracy_deterministic, 0.0});
      metrics.append({"test_ebp_p", epoch + 1, p.step, 0.0, r.nll, r.accuracy_probabilistic, 0.0});
      const bool best = r.accuracy_deterministic > p.best_accuracy;
      if (best) {
        p.best_accuracy = r.accuracy_deterministic;
        p.best_epoch = epoch + 1;
      }
      progress.line(
          fmt::format("epoch {}/{}: test accuracy EBP-D {:.2f}%  EBP-P {:.2f}%  NLL {:.4f}{}",
                      epoch + 1, cfg.train.epochs, 100.0 * r.accuracy_deterministic,
                      100.0 * r.accuracy_probabilistic, r.nll, best ? "  (best EBP-D)" : ""));
      if (best) save("best.ckpt");
    }
    save("last.ckpt");
    if (cfg.train.keep_last > 0) {
      save(checkpoint_name(epoch + 1));
      prune_checkpoints(dir, cfg.train.keep_last);
    }
    write_curves_svg(metrics.history(), dir.filename().string(), (dir / "curves.svg").string());
    if (stop.requested()) {
      progress.line(
          fmt::format("interrupted after epoch {}; resume with --resume auto.", epoch + 1));
      return kExitInterrupted;
    }
  }
  progress.line(fmt::format("done: best EBP-D test accuracy {:.2f}% at epoch {}. Run directory: {}",
                            100.0 * p.best_accuracy, p.best_epoch, dir.string()));
  return kExitDone;
}

bool is_ebp_checkpoint(const std::string& checkpoint) {
  return is_ebp_config(read_checkpoint_config(checkpoint));
}

EbpEvalResult evaluate_ebp_checkpoint(const std::string& checkpoint, const std::string& split,
                                      const std::string& data_root, std::int64_t threads) {
  Config cfg = read_checkpoint_config(checkpoint);
  if (!data_root.empty()) cfg.data.root = data_root;
  cfg.train.threads = threads;
  configure_threads(cfg.train);
  const Datasets data = load_datasets(cfg.data, cfg.train.seed);
  const core::BinaryReader in(checkpoint, kCheckpointMagic, kCheckpointVersion, "checkpoint");
  const quant::EbpNetwork net = read_ebp_network(in);
  core::check(net.sizes() == ebp_sizes(cfg, *data.train),
              "checkpoint '{}': its EBP network has layer sizes {}, its data gives {}", checkpoint,
              fmt::join(net.sizes(), "x"), fmt::join(ebp_sizes(cfg, *data.train), "x"));
  auto loader = make_eval_loader(cfg, data, split == "test" ? data.test : data.train);
  return evaluate_ebp(net, *loader);
}

int report_ebp_evaluation(const std::string& checkpoint, const std::string& split,
                          const std::string& data_root, std::int64_t threads, bool json) {
  const EbpEvalResult r = evaluate_ebp_checkpoint(checkpoint, split, data_root, threads);
  if (json) {
    nlohmann::json j = {{"method", "ebp"},
                        {"split", split},
                        {"count", r.count},
                        {"accuracy_ebp_d", r.accuracy_deterministic},
                        {"accuracy_ebp_p", r.accuracy_probabilistic},
                        {"nll", r.nll}};
    fmt::print("{}\n", j.dump(2));
  } else {
    fmt::print(
        "{} on the {} split ({} examples), Expectation BackPropagation:\n"
        "  EBP-D (binary weights sign(h), binary neurons)  accuracy {:.2f}%\n"
        "  EBP-P (mean-field posterior average)             accuracy {:.2f}%\n"
        "  mean-field NLL per example                        {:.4f}\n",
        checkpoint, split, r.count, 100.0 * r.accuracy_deterministic,
        100.0 * r.accuracy_probabilistic, r.nll);
  }
  return 0;
}

}  // namespace lowbit::app
