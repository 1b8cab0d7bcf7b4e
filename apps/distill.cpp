#include "apps/distill.hpp"

#include "apps/checkpoint.hpp"
#include "apps/evaluation.hpp"
#include "apps/metrics.hpp"
#include "apps/plot_svg.hpp"
#include "apps/progress.hpp"
#include "apps/run_control.hpp"
#include "apps/session.hpp"
#include "core/autograd.hpp"
#include "core/ops.hpp"
#include "layers/losses.hpp"
#include "optim/clip.hpp"
#include "quant/dcq.hpp"
#include "quant/training.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>

namespace lowbit::app {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using core::Tensor;

std::int64_t section_epochs(const Config& cfg) {
  return cfg.distill.epochs > 0 ? cfg.distill.epochs : cfg.train.epochs;
}

// The config section i (0-based) trains under: the run's, with the section's epoch count (so the
// schedule spans one section) and its distill.per_section settings.
Config section_config(const Config& cfg, std::size_t i) {
  Config s = cfg;
  s.train.epochs = section_epochs(cfg);
  for (const SectionSettings& p : cfg.distill.per_section) {
    if (p.section != static_cast<std::int64_t>(i) + 1) continue;
    if (p.epochs > 0) s.train.epochs = p.epochs;
    if (!p.optimizer.empty()) s.optim.name = p.optimizer;
    if (p.lr > 0) s.optim.lr = p.lr;
  }
  return s;
}

// Epochs over all sections (the budget plain training is compared with).
std::int64_t total_section_epochs(const Config& cfg, std::size_t sections) {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < sections; ++i) total += section_config(cfg, i).train.epochs;
  return total;
}

// Keys a section's training does not read: what happens after stitching, and the last section's
// loss for the others. Changing them keeps finished sections reusable.
bool section_ignores(const std::string& key, bool last_section) {
  for (const char* k : {"distill.finetune_epochs", "distill.bn_batches"}) {
    if (key == k) return true;
  }
  if (last_section) return false;
  for (const char* k : {"distill.last_loss", "distill.kd_weight", "distill.kd_temperature"}) {
    if (key == k) return true;
  }
  return false;
}

void check_compatible(const std::string& checkpoint, const Config& cfg, const std::string& what,
                      bool last_section) {
  std::vector<std::string> diffs;
  for (const std::string& d : incompatible_keys(read_checkpoint_config(checkpoint), cfg)) {
    if (!section_ignores(d.substr(0, d.find(':')), last_section)) diffs.push_back(d);
  }
  if (diffs.empty()) return;
  std::string msg = fmt::format("{} '{}' was made with a different config:", what, checkpoint);
  for (const auto& d : diffs) msg += "\n  " + d;
  msg += "\nHINT: use the config it was made with, or another run directory (train.name or --out).";
  throw core::Error(msg);
}

// The teacher must be the student's own architecture, so both split at the same layer names.
void check_teacher(const Config& cfg, const Config& teacher_cfg, const layers::Module& teacher,
                   const layers::Module& student) {
  const ModelConfig &a = cfg.model, &b = teacher_cfg.model;
  core::check(a.name == b.name && a.width == b.width && a.hidden == b.hidden && a.stem == b.stem &&
                  a.block == b.block,
              "distill.teacher '{}' is a {} (width {}), the student config builds a {} (width {}). HINT: train the "
              "teacher from this config's model: section with quant.scheme: none",
              cfg.distill.teacher, b.name, b.width, a.name, a.width);
  const auto& tc = teacher.named_children();
  const auto& sc = student.named_children();
  core::check(tc.size() == sc.size(), "distill.teacher: the teacher has {} top-level layers, the student {}",
              tc.size(), sc.size());
  for (std::size_t i = 0; i < tc.size(); ++i) {
    core::check(tc[i].first == sc[i].first, "distill.teacher: layer {} is '{}' in the teacher, '{}' in the student", i,
                tc[i].first, sc[i].first);
  }
}

struct Teacher {
  TrainedModel trained;
  layers::Module& model() { return *trained.model; }
};

Teacher load_teacher(const Config& cfg) {
  core::check(fs::exists(cfg.distill.teacher),
              "distill.teacher '{}': no such checkpoint. HINT: train the float teacher first, e.g. train --config "
              "configs/fmnist_vgg_small_fp.yaml, and point distill.teacher at its best.ckpt",
              cfg.distill.teacher);
  Teacher t{load_trained_model(cfg.distill.teacher, cfg.data.root)};
  t.model().eval();  // frozen: BN running statistics, no dropout; never given to an optimizer
  return t;
}

// What the teacher gives section s for a batch: its input a_{s-1} and its output a_s (the output is
// only computed when the loss needs it).
struct TeacherMaps {
  Tensor input, output;
};

TeacherMaps teacher_maps(Teacher& teacher, const quant::dcq::Section& s, const Tensor& images, bool need_output) {
  core::NoGradGuard no_grad;
  TeacherMaps m;
  m.input = quant::dcq::run_children(teacher.model(), 0, s.begin, images);
  if (need_output) m.output = quant::dcq::run_children(teacher.model(), s.begin, s.end, m.input);
  return m;
}

struct SectionLoss {
  const Config& cfg;
  bool last;
  quant::dcq::RegressionLoss kind;

  bool needs_teacher_output() const { return !last || cfg.distill.last_loss == "kd"; }

  Tensor operator()(const Tensor& out, const TeacherMaps& t, const Tensor& labels) const {
    if (!last) return quant::dcq::regression_loss(kind, out, t.output, cfg.distill.huber_delta);
    Tensor ce = compute_loss(cfg.train, out, labels);
    if (cfg.distill.last_loss != "kd") return ce;
    const auto w = static_cast<float>(cfg.distill.kd_weight);
    return (1.0f - w) * ce +
           w * layers::distillation_kl(out, t.output, static_cast<float>(cfg.distill.kd_temperature));
  }
};

// The section's loss on the test split, from the teacher's inputs; accuracy for the last section.
std::pair<double, double> evaluate_section(Teacher& teacher, layers::Module& view, const quant::dcq::Section& s,
                                           const SectionLoss& loss, data::DataLoader& loader) {
  const bool was_training = view.is_training();
  view.eval();
  core::NoGradGuard no_grad;
  loader.set_position({0, 0});
  double loss_sum = 0.0;
  std::int64_t correct = 0, count = 0;
  for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
    const data::Batch batch = loader.next();
    const TeacherMaps t = teacher_maps(teacher, s, batch.images, loss.needs_teacher_output());
    const Tensor out = view(t.input);
    loss_sum += loss(out, t, batch.labels).item() * static_cast<double>(batch.size());
    if (loss.last) {
      const auto pred = core::argmax(out, 1).to_vector<std::int64_t>();
      const auto truth = batch.labels.to_vector<std::int64_t>();
      for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
    }
    count += batch.size();
  }
  view.train(was_training);
  return {loss_sum / static_cast<double>(std::max<std::int64_t>(1, count)),
          static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(1, count))};
}

fs::path section_dir(const fs::path& run_dir, std::size_t i) { return run_dir / fmt::format("section-{}", i + 1); }
fs::path finished_checkpoint(const fs::path& run_dir, std::size_t i) {
  return section_dir(run_dir, i) / "section.ckpt";
}

struct RunContext {
  explicit RunContext(const TrainRequest& r) : request(r), cfg(r.config), dir(run_directory(r)) {}
  const TrainRequest& request;
  Config cfg;
  fs::path dir;
  Datasets data;
  Teacher teacher;
  std::vector<quant::dcq::Section> sections;
  Progress progress;
  StopSignals stop;
};

// Trains section i of the student (or reuses it when it is already finished).
int train_section(RunContext& run, std::size_t i) {
  const quant::dcq::Section& s = run.sections[i];
  const fs::path dir = section_dir(run.dir, i);
  const Config cfg = section_config(run.cfg, i);
  const std::string label = fmt::format("section {}/{} ({})", i + 1, run.sections.size(), quant::dcq::describe(s));
  if (fs::exists(finished_checkpoint(run.dir, i))) {
    check_compatible(finished_checkpoint(run.dir, i).string(), cfg, "the finished " + label,
                     i + 1 == run.sections.size());
    run.progress.line(fmt::format("{}: finished earlier ({}); reused", label, finished_checkpoint(run.dir, i).string()));
    return kExitDone;
  }
  fs::create_directories(dir);

  // The student starts as the teacher (methods.md 5.1 step 2); only this section's layers train.
  const layers::ModulePtr student = build_model(cfg, *run.data.train);
  (void)init_model_from(cfg.distill.teacher, *student);
  quant::dcq::SectionModule view(*student, s);
  view.train();
  const auto optimizer = make_optimizer(cfg.optim, view);
  const auto loader = make_train_loader(cfg, run.data);
  const auto test_loader = make_eval_loader(cfg, run.data, run.data.test);
  const std::int64_t steps_per_epoch = loader->batches_per_epoch();
  const auto schedule = make_schedule(cfg, steps_per_epoch);
  TrainingState state;
  state.model = &view;
  state.optimizer = optimizer.get();
  state.loader = loader.get();

  const fs::path last = dir / "last.ckpt";
  if (run.request.resume == "auto" && fs::exists(last)) {
    check_compatible(last.string(), cfg, "the checkpoint of " + label, i + 1 == run.sections.size());
    load_checkpoint(last.string(), state);
    run.progress.line(fmt::format("{}: resumed from {} at epoch {}, step {}", label, last.string(),
                                  state.progress.epoch + 1, state.progress.step));
  } else {
    run.progress.line(fmt::format("{}: training {} parameters for {} epochs", label, view.num_parameters(),
                                  cfg.train.epochs));
  }
  MetricsLog metrics(dir.string(), std::move(state.history));
  auto save = [&](const fs::path& path) {
    state.history = metrics.history();
    save_checkpoint(path.string(), cfg, state);
  };

  const bool last_section = i + 1 == run.sections.size();
  const SectionLoss loss_fn{cfg, last_section, quant::dcq::parse_regression_loss(cfg.distill.loss)};
  RunProgress& p = state.progress;
  const std::int64_t total_steps = steps_per_epoch * cfg.train.epochs;
  const std::int64_t step_offset = steps_per_epoch * total_section_epochs(run.cfg, i);  // sections before i
  double loss_sum = 0.0;
  StepTimer timer;
  std::int64_t correct = 0, seen = 0;
  auto row_start = Clock::now();
  auto log_row = [&](double lr) {
    if (seen == 0) return;
    const double secs = std::chrono::duration<double>(Clock::now() - row_start).count();
    metrics.append({"train", p.epoch, p.step, lr, loss_sum / static_cast<double>(seen),
                    static_cast<double>(correct) / static_cast<double>(seen),
                    secs > 0 ? static_cast<double>(seen) / secs : 0.0});
    loss_sum = 0.0;
    correct = seen = 0;
    row_start = Clock::now();
  };

  while (p.epoch < cfg.train.epochs) {
    const std::int64_t epoch = p.epoch;
    view.train();
    quant::set_quantizer_epoch(view, epoch, cfg.train.epochs);
    bool epoch_done = false;
    while (!epoch_done) {
      const auto t0 = Clock::now();
      const data::Batch batch = loader->next();
      epoch_done = batch.last_in_epoch;
      const double lr = optim::apply_schedule(*schedule, p.step, *optimizer);
      const TeacherMaps t = teacher_maps(run.teacher, s, batch.images, loss_fn.needs_teacher_output());
      const Tensor out = view(t.input);
      Tensor loss = loss_fn(out, t, batch.labels);
      if (const Tensor reg = quant::quantizer_regularization(view); reg.defined()) loss = loss + reg;
      const double value = loss.item();
      if (!std::isfinite(value)) {
        run.progress.line(fmt::format("error: {}: the loss became {} at epoch {}, step {}; stopped. HINT: lower "
                                      "optim.lr or set optim.clip_grad_norm.",
                                      label, value, epoch + 1, p.step + 1));
        return kExitNonFiniteLoss;
      }
      optimizer->zero_grad();
      loss.backward();
      if (cfg.optim.clip_grad_norm > 0) optim::clip_grad_norm(optimizer->params(), cfg.optim.clip_grad_norm);
      optimizer->step();
      quant::apply_latent_constraints(view);
      ++p.step;
      if (last_section) {
        const auto pred = core::argmax(out.detach(), 1).to_vector<std::int64_t>();
        const auto truth = batch.labels.to_vector<std::int64_t>();
        for (std::size_t k = 0; k < pred.size(); ++k) correct += pred[k] == truth[k];
      }
      loss_sum += value * static_cast<double>(batch.size());
      seen += batch.size();

      timer.add(std::chrono::duration<double>(Clock::now() - t0).count());
      const double shown_loss = loss_sum / static_cast<double>(std::max<std::int64_t>(1, seen));
      const double shown_accuracy = static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(1, seen));
      run.progress.update(step_progress(epoch, cfg.train.epochs, batch.index_in_epoch, steps_per_epoch,
                                  total_steps - p.step, shown_loss, shown_accuracy, timer, batch.size()));

      if (p.step % cfg.train.log_every_steps == 0) log_row(lr);
      if (epoch_done) {
        log_row(lr);
        p.epoch = epoch + 1;
      }
      if (run.stop.requested()) {
        save(last);
        run.progress.line(fmt::format("{}: interrupted at epoch {}, step {}; saved {}. Resume with --resume auto.",
                                      label, epoch + 1, p.step, last.string()));
        return kExitInterrupted;
      }
      const bool periodic = cfg.train.checkpoint_every_steps > 0 && p.step % cfg.train.checkpoint_every_steps == 0;
      if (periodic && !epoch_done) save(last);
      // The test hook counts steps over the whole run (sections before this one ran total_steps each).
      maybe_debug_kill(step_offset + p.step);
    }
    const auto [test_loss, test_acc] = evaluate_section(run.teacher, view, s, loss_fn, *test_loader);
    metrics.append({"test", epoch + 1, p.step, optimizer->lr(), test_loss, test_acc, 0.0});
    run.progress.line(fmt::format("{}: epoch {}/{}: test section loss {:.5f}{}", label, epoch + 1, cfg.train.epochs,
                                  test_loss,
                                  last_section ? fmt::format("  accuracy {:.2f}%", 100.0 * test_acc) : ""));
    save(last);
    write_curves_svg(metrics.history(), dir.filename().string(), (dir / "curves.svg").string());
    if (run.stop.requested()) {
      run.progress.line(fmt::format("{}: interrupted after epoch {}; resume with --resume auto.", label, epoch + 1));
      return kExitInterrupted;
    }
  }
  save(finished_checkpoint(run.dir, i));
  return kExitDone;
}

// S = S_m o ... o S_1 from the finished sections, BN statistics re-estimated, written as the run's
// last.ckpt and best.ckpt.
void stitch(RunContext& run) {
  const Config& cfg = run.cfg;
  const layers::ModulePtr student = build_model(cfg, *run.data.train);
  for (std::size_t i = 0; i < run.sections.size(); ++i) {
    quant::dcq::SectionModule view(*student, run.sections[i]);
    load_checkpoint_model(finished_checkpoint(run.dir, i).string(), view);
  }
  const auto test_loader = make_eval_loader(cfg, run.data, run.data.test);
  const std::int64_t classes = run.data.test->num_classes();
  const EvalResult teacher = evaluate(run.teacher.model(), *test_loader, cfg.train, classes);
  const EvalResult before = evaluate(*student, *test_loader, cfg.train, classes);
  std::string report = fmt::format("teacher {}: test accuracy {:.2f}%\nstitched, section BN statistics: {:.2f}%\n",
                                   cfg.distill.teacher, 100.0 * teacher.accuracy, 100.0 * before.accuracy);
  EvalResult after = before;
  if (cfg.distill.bn_batches > 0) {
    Config recal = cfg;  // training-size batches, no augmentation, no shuffle
    recal.train.eval_batch_size = cfg.train.batch_size;
    const auto loader = make_eval_loader(recal, run.data, run.data.train);
    loader->set_position({0, 0});
    std::int64_t left = loader->batches_per_epoch();
    const std::int64_t used = quant::dcq::recalibrate_batch_norm(
        *student,
        [&]() -> std::optional<Tensor> {
          if (left-- <= 0) return std::nullopt;
          return loader->next().images;
        },
        cfg.distill.bn_batches);
    after = evaluate(*student, *test_loader, cfg.train, classes);
    report += fmt::format("stitched, BN re-estimated on {} training batches: {:.2f}%\n", used, 100.0 * after.accuracy);
  }
  run.progress.line(report);
  write_text_atomically(run.dir / "stitch.txt", report);

  const auto optimizer = make_optimizer(cfg.optim, *student);
  const auto loader = make_train_loader(cfg, run.data);
  TrainingState state;
  state.model = student.get();
  state.optimizer = optimizer.get();
  state.loader = loader.get();
  state.progress.epoch = total_section_epochs(cfg, run.sections.size());
  state.progress.best_accuracy = after.accuracy;
  state.progress.best_epoch = state.progress.epoch;
  state.history.push_back({"test", state.progress.epoch, 0, 0.0, after.loss, after.accuracy, 0.0});
  save_checkpoint((run.dir / "last.ckpt").string(), cfg, state);
  save_checkpoint((run.dir / "best.ckpt").string(), cfg, state);
}

std::string plan_line(const RunContext& run) {
  std::vector<std::string> parts;
  for (const auto& s : run.sections) parts.push_back(quant::dcq::describe(s));
  std::vector<std::string> epochs;
  for (std::size_t i = 0; i < run.sections.size(); ++i) {
    epochs.push_back(std::to_string(section_config(run.cfg, i).train.epochs));
  }
  return fmt::format("DCQ: teacher {}; {} sections: {}; epochs {} ({} in all); section loss {}, last section {}",
                     run.cfg.distill.teacher, run.sections.size(), fmt::join(parts, " | "), fmt::join(epochs, "+"),
                     total_section_epochs(run.cfg, run.sections.size()), run.cfg.distill.loss,
                     run.cfg.distill.last_loss);
}

}  // namespace

int run_distillation(const TrainRequest& request, std::int64_t section) {
  core::check(request.resume.empty() || request.resume == "auto",
              "a DCQ run resumes with --resume auto (each section continues from its own last.ckpt), not from '{}'",
              request.resume);
  RunContext run(request);
  fs::create_directories(run.dir);
  const int threads = configure_threads(run.cfg.train);
  run.data = load_datasets(run.cfg.data, run.cfg.train.seed);
  run.teacher = load_teacher(run.cfg);
  {
    const layers::ModulePtr student = build_model(run.cfg, *run.data.train);
    check_teacher(run.cfg, run.teacher.trained.config, run.teacher.model(), *student);
    run.sections = quant::dcq::plan_sections(*student, run.cfg.distill.splits, run.cfg.distill.auto_sections);
    run.progress.line(model_summary(*student, *run.data.train));
  }
  const auto m = static_cast<std::int64_t>(run.sections.size());
  core::check(section >= 0 && section <= m, "--section {}: the plan has sections 1..{}", section, m);
  for (const SectionSettings& p : run.cfg.distill.per_section) {
    core::check(p.section <= m, "distill.per_section: section {} does not exist; the plan has sections 1..{}",
                p.section, m);
  }
  write_text_atomically(run.dir / "config.yaml", to_yaml(run.cfg));
  run.progress.line(plan_line(run));
  run.progress.line(fmt::format("run directory: {}; {} threads", run.dir.string(), threads));

  if (section > 0) return train_section(run, static_cast<std::size_t>(section - 1));
  for (std::size_t i = 0; i < run.sections.size(); ++i) {
    if (const int code = train_section(run, i); code != kExitDone) return code;
  }
  stitch(run);
  if (run.cfg.distill.finetune_epochs > 0) {
    TrainRequest ft = request;
    ft.config.distill = DistillConfig{};
    ft.config.train.epochs = run.cfg.distill.finetune_epochs;
    ft.config.train.init_from = (run.dir / "last.ckpt").string();
    ft.run_dir = (run.dir / "finetune").string();
    run.progress.line(fmt::format("end-to-end fine-tune of the stitched network for {} epochs in {}",
                                  ft.config.train.epochs, ft.run_dir));
    return run_training(ft);
  }
  run.progress.line(fmt::format("done: the stitched network is {} (evaluate / export it like any checkpoint)",
                                (run.dir / "best.ckpt").string()));
  return kExitDone;
}

}  // namespace lowbit::app
