#include "apps/trainer.hpp"

#include "apps/checkpoint.hpp"
#include "apps/ebp_trainer.hpp"
#include "apps/evaluation.hpp"
#include "apps/metrics.hpp"
#include "apps/plot_svg.hpp"
#include "apps/progress.hpp"
#include "apps/run_control.hpp"
#include "apps/session.hpp"
#include "core/ops.hpp"
#include "optim/clip.hpp"
#include "quant/grid_reg.hpp"
#include "quant/training.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

namespace lowbit::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct Run {
  Config config;
  fs::path dir;
  Datasets data;
  layers::ModulePtr model;
  std::unique_ptr<optim::Optimizer> optimizer;
  std::unique_ptr<data::DataLoader> train_loader, test_loader;
  std::unique_ptr<optim::LrSchedule> schedule;
  TrainingState state;

};


}  // namespace

std::string resume_path(const TrainRequest& request, const std::string& run_dir) {
  const fs::path dir = run_dir;
  if (request.resume.empty()) return "";
  if (request.resume == "auto") {
    const fs::path last = dir / "last.ckpt";
    return fs::exists(last) ? last.string() : "";
  }
  core::check(fs::exists(request.resume), "--resume {}: no such checkpoint file", request.resume);
  return request.resume;
}

std::string run_directory(const TrainRequest& request) {
  if (!request.run_dir.empty()) return request.run_dir;
  std::string name = request.config.train.name;
  if (name.empty()) {
    name = request.config_path.empty() ? "run" : fs::path(request.config_path).stem().string();
  }
  return (fs::path(request.config.train.out_dir) / name).string();
}

int run_training(const TrainRequest& request) {
  if (is_ebp_config(request.config)) return run_ebp_training(request);  // methods.md 3a
  Run run;
  run.config = request.config;
  const Config& cfg = run.config;
  run.dir = run_directory(request);
  fs::create_directories(run.dir);
  const int threads = configure_threads(cfg.train);

  const std::string resume_from = resume_path(request, run.dir.string());
  if (!resume_from.empty()) {
    const auto diffs = incompatible_keys(read_checkpoint_config(resume_from), cfg);
    if (!diffs.empty()) {
      std::string msg = fmt::format("cannot resume from '{}': it was made with a different config:", resume_from);
      for (const auto& d : diffs) msg += "\n  " + d;
      msg += "\nHINT: resume with the checkpoint's own config, or start a new run (another train.name).";
      throw core::Error(msg);
    }
  }

  run.data = load_datasets(cfg.data, cfg.train.seed);
  run.model = build_model(cfg, *run.data.train);
  std::string init_line;  // a new run may start from another checkpoint's weights (fine-tuning)
  if (resume_from.empty() && !cfg.train.init_from.empty()) {
    init_line = init_model_from(cfg.train.init_from, *run.model).summary(cfg.train.init_from);
  }
  run.optimizer = make_optimizer(cfg.optim, *run.model);
  run.train_loader = make_train_loader(cfg, run.data);
  run.test_loader = make_eval_loader(cfg, run.data, run.data.test);
  const std::int64_t steps_per_epoch = run.train_loader->batches_per_epoch();
  run.schedule = make_schedule(cfg, steps_per_epoch);
  run.state.model = run.model.get();
  run.state.optimizer = run.optimizer.get();
  run.state.loader = run.train_loader.get();

  Progress progress;
  if (!resume_from.empty()) {
    load_checkpoint(resume_from, run.state);
    progress.line(fmt::format("resumed from {} at epoch {}, step {}", resume_from, run.state.progress.epoch + 1,
                              run.state.progress.step));
  } else if (request.resume == "auto") {
    progress.line(fmt::format("no checkpoint in {}: starting a new run", run.dir.string()));
  }
  if (!init_line.empty()) progress.line(init_line);
  write_text_atomically(run.dir / "config.yaml", to_yaml(cfg));
  MetricsLog metrics(run.dir.string(), std::move(run.state.history));
  // The metric history lives in `metrics`; a checkpoint copies it only when it is written.
  auto save = [&](const std::string& name) {
    run.state.history = metrics.history();
    save_checkpoint((run.dir / name).string(), run.config, run.state);
  };

  progress.line(model_summary(*run.model, *run.data.train));
  quant::GridRegularizer grid_reg(cfg.quant.grid_reg.s,  // quant.grid_reg (off unless weight > 0)
                                  quant::grid_layers(*run.model, cfg.quant.keep_first, cfg.quant.keep_last));
  if (grid_reg.enabled()) progress.line(grid_reg.describe());
  progress.line(fmt::format("data: {} train / {} test examples of {}, {} classes; {} steps per epoch; {} threads",
                            run.data.train->size(), run.data.test->size(), run.data.train->item_shape().str(),
                            run.data.train->num_classes(), steps_per_epoch, threads));
  progress.line(fmt::format("run directory: {}", run.dir.string()));

  StopSignals stop;
  RunProgress& p = run.state.progress;
  const std::int64_t total_steps = steps_per_epoch * cfg.train.epochs;
  auto row_start = Clock::now();
  std::int64_t row_images = 0;
  StepTimer timer;

  auto log_train_row = [&](double lr) {
    if (p.seen == 0) return;
    const double secs = std::chrono::duration<double>(Clock::now() - row_start).count();
    MetricRow row{"train", p.epoch, p.step, lr, p.loss_sum / static_cast<double>(p.seen),
                  static_cast<double>(p.correct) / static_cast<double>(p.seen),
                  secs > 0 ? static_cast<double>(row_images) / secs : 0.0};
    metrics.append(row);
    p.loss_sum = 0.0;
    p.correct = 0;
    p.seen = 0;
    row_images = 0;
    row_start = Clock::now();
  };

  while (p.epoch < cfg.train.epochs) {
    const std::int64_t epoch = p.epoch;
    run.model->train();
    quant::set_quantizer_epoch(*run.model, epoch, cfg.train.epochs);  // schedules (DBSSQ eps, temperatures)
    grid_reg.set_epoch(epoch, cfg.train.epochs);
    if (grid_reg.enabled()) progress.line(grid_reg.status());
    bool epoch_done = false;
    while (!epoch_done) {
      const auto t0 = Clock::now();
      const data::Batch batch = run.train_loader->next();
      epoch_done = batch.last_in_epoch;
      const double lr = optim::apply_schedule(*run.schedule, p.step, *run.optimizer);

      const core::Tensor logits = (*run.model)(batch.images);
      core::Tensor loss = compute_loss(cfg.train, logits, batch.labels);
      if (const core::Tensor reg = quant::quantizer_regularization(*run.model); reg.defined()) {
        loss = loss + reg;
      }
      if (const core::Tensor g = grid_reg.term(); g.defined()) loss = loss + g;
      const double loss_value = loss.item();
      if (!std::isfinite(loss_value)) {
        const fs::path last = run.dir / "last.ckpt";
        progress.line(fmt::format(
            "error: the loss became {} at epoch {}, step {} (lr {:.4g}); training stopped. The last good "
            "checkpoint is {}.\nHINT: lower optim.lr, set optim.clip_grad_norm, or check the data.",
            loss_value, epoch + 1, p.step + 1, lr, fs::exists(last) ? last.string() : "(none yet)"));
        return kExitNonFiniteLoss;
      }
      run.optimizer->zero_grad();
      loss.backward();
      if (cfg.optim.clip_grad_norm > 0) optim::clip_grad_norm(run.optimizer->params(), cfg.optim.clip_grad_norm);
      run.optimizer->step();
      quant::apply_latent_constraints(*run.model);
      ++p.step;

      const auto pred = core::argmax(logits.detach(), 1).to_vector<std::int64_t>();
      const auto truth = batch.labels.to_vector<std::int64_t>();
      for (std::size_t i = 0; i < pred.size(); ++i) p.correct += pred[i] == truth[i];
      p.loss_sum += loss_value * static_cast<double>(batch.size());
      p.seen += batch.size();
      row_images += batch.size();

      timer.add(std::chrono::duration<double>(Clock::now() - t0).count());
      const double shown_loss = p.seen > 0 ? p.loss_sum / static_cast<double>(p.seen) : loss_value;
      const double shown_accuracy = p.seen > 0 ? static_cast<double>(p.correct) / static_cast<double>(p.seen) : 0.0;
      progress.update(step_progress(epoch, cfg.train.epochs, batch.index_in_epoch, steps_per_epoch,
                                  total_steps - p.step, shown_loss, shown_accuracy, timer, batch.size()));

      if (p.step % cfg.train.log_every_steps == 0) log_train_row(lr);
      if (epoch_done) {
        log_train_row(lr);
        p.epoch = epoch + 1;
      }
      const bool periodic = cfg.train.checkpoint_every_steps > 0 && p.step % cfg.train.checkpoint_every_steps == 0;
      if (stop.requested()) {
        save("last.ckpt");
        progress.line(fmt::format("interrupted at epoch {}, step {}; saved {}. Resume with --resume auto.",
                                  epoch + 1, p.step, (run.dir / "last.ckpt").string()));
        return kExitInterrupted;
      }
      if (periodic && !epoch_done) save("last.ckpt");
      maybe_debug_kill(p.step);  // tests: a kill -9 at a known step
    }

    const bool evaluate_now = (epoch + 1) % cfg.train.eval_every_epochs == 0 || epoch + 1 == cfg.train.epochs;
    if (evaluate_now) {
      const EvalResult r = evaluate(*run.model, *run.test_loader, cfg.train, run.data.test->num_classes());
      metrics.append({"test", epoch + 1, p.step, run.optimizer->lr(), r.loss, r.accuracy, 0.0});
      const bool best = r.accuracy > p.best_accuracy;
      if (best) {
        p.best_accuracy = r.accuracy;
        p.best_epoch = epoch + 1;
      }
      progress.line(fmt::format("epoch {}/{}: test accuracy {:.2f}%  loss {:.4f}{}", epoch + 1, cfg.train.epochs,
                                100.0 * r.accuracy, r.loss, best ? "  (best)" : ""));
      if (best) save("best.ckpt");
    }
    save("last.ckpt");
    if (cfg.train.keep_last > 0) {
      save(checkpoint_name(epoch + 1));
      prune_checkpoints(run.dir, cfg.train.keep_last);
    }
    write_curves_svg(metrics.history(), run.dir.filename().string(), (run.dir / "curves.svg").string());
    if (stop.requested()) {
      progress.line(fmt::format("interrupted after epoch {}; resume with --resume auto.", epoch + 1));
      return kExitInterrupted;
    }
  }
  progress.line(fmt::format("done: best test accuracy {:.2f}% at epoch {}. Run directory: {}",
                            100.0 * p.best_accuracy, p.best_epoch, run.dir.string()));
  return kExitDone;
}

}  // namespace lowbit::app
