// evaluate: accuracy, loss, per-class accuracy and confusion matrix of a checkpoint.

#include "apps/checkpoint.hpp"
#include "apps/evaluation.hpp"
#include "apps/session.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>

int main(int argc, char** argv) {
  using namespace lowbit;
  CLI::App cli{"lowbit evaluate: evaluates a training checkpoint on a dataset split.\n"
               "Example: evaluate --checkpoint runs/fmnist_lenet_fp/best.ckpt"};
  std::string checkpoint, split = "test", data_root, predictions;
  std::vector<std::string> plugins;
  bool json = false;
  std::int64_t threads = 0;
  cli.add_option("--checkpoint", checkpoint, "checkpoint file (last.ckpt, best.ckpt, ...)")->required();
  cli.add_option("--split", split, "test or train")->check(CLI::IsMember({"test", "train"}));
  cli.add_option("--data-root", data_root, "dataset folder (default: the one the run used)");
  cli.add_option("--threads", threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  cli.add_flag("--json", json, "print the result as JSON");
  cli.add_option("--predictions", predictions, "write index,label,prediction per example (CSV)");
  cli.add_option("--plugin", plugins,
                 "load a plugin shared library (repeatable); the checkpoint's own plugins load "
                 "by themselves, this stands in for one that has moved")
      ->take_all();
  CLI11_PARSE(cli, argc, argv);

  try {
    app::load_plugins(plugins);
    app::load_checkpoint_plugins(checkpoint);
    app::TrainedModel trained = app::load_trained_model(checkpoint, data_root);
    app::Config& config = trained.config;
    config.train.threads = threads;
    app::configure_threads(config.train);
    const app::Datasets& data = trained.data;
    const auto& model = trained.model;
    const auto& dataset = split == "test" ? data.test : data.train;
    auto loader = app::make_eval_loader(config, data, dataset);
    const app::EvalResult r = app::evaluate(*model, *loader, config.train, dataset->num_classes());
    if (!predictions.empty()) app::write_predictions_csv(r, predictions);
    if (json) {
      fmt::print("{}", app::format_json(r, dataset->class_names()));
    } else {
      fmt::print("{} on the {} split of {}\n{}", checkpoint, split, config.data.dataset,
                 app::format_report(r, dataset->class_names()));
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
