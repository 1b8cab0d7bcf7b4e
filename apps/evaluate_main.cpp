// evaluate: accuracy, loss, per-class accuracy and confusion matrix of a checkpoint.

#include "apps/checkpoint.hpp"
#include "apps/ebp_trainer.hpp"
#include "apps/evaluation.hpp"
#include "apps/session.hpp"
#include "quant/pbnet_model.hpp"
#include "quant/grid_reg.hpp"

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
  int round_bits = 0;
  std::int64_t samples = 0;
  std::uint64_t sample_seed = 0;
  std::int64_t recalibrate = 0;
  cli.add_option("--checkpoint", checkpoint, "checkpoint file (last.ckpt, best.ckpt, ...)")->required();
  cli.add_option("--split", split, "test or train")->check(CLI::IsMember({"test", "train"}));
  cli.add_option("--data-root", data_root, "dataset folder (default: the one the run used)");
  cli.add_option("--threads", threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  cli.add_flag("--json", json, "print the result as JSON");
  cli.add_option("--round-weights", round_bits,
                 "first round the weights of every conv/linear layer (except the first/last ones the "
                 "config's quant.keep_first/keep_last keep) to the symmetric K-bit grid of "
                 "quant.grid_reg, MSE-optimal step per layer (0 = off)")
      ->check(CLI::Range(0, 8));
  cli.add_option("--samples", samples,
                 "PBNet models: average the softmax outputs of S binary nets whose weights are "
                 "sampled from the learned distribution (0 = the model's default, MAP weights)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--sample-seed", sample_seed, "seed of the --samples weight draws (default 0)");
  cli.add_option("--recalibrate-bn", recalibrate,
                 "PBNet models: first re-estimate the BN statistics of each evaluated binary net "
                 "(MAP, or every --samples member) on this many train-split batches, no "
                 "augmentation (0 = use training's running statistics)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--predictions", predictions, "write index,label,prediction per example (CSV)");
  cli.add_option("--plugin", plugins,
                 "load a plugin shared library (repeatable); the checkpoint's own plugins load "
                 "by themselves, this stands in for one that has moved")
      ->take_all();
  CLI11_PARSE(cli, argc, argv);

  try {
    app::load_plugins(plugins);
    app::load_checkpoint_plugins(checkpoint);
    if (app::is_ebp_checkpoint(checkpoint)) {  // EBP (methods.md 3a): fields h, not a Module
      return app::report_ebp_evaluation(checkpoint, split, data_root, threads, json);
    }
    app::TrainedModel trained = app::load_trained_model(checkpoint, data_root);
    app::Config& config = trained.config;
    config.train.threads = threads;
    app::configure_threads(config.train);
    const app::Datasets& data = trained.data;
    const auto& model = trained.model;
    if (round_bits > 0) {
      const std::string report = quant::round_weights_to_grid(*model, round_bits, config.quant.keep_first,
                                                              config.quant.keep_last);
      fmt::print(json ? stderr : stdout, "{}", report);
    }
    const auto& dataset = split == "test" ? data.test : data.train;
    auto loader = app::make_eval_loader(config, data, dataset);
    // BN recalibration of the binary net about to be evaluated (PBNet: quant/pbnet_model.hpp).
    auto calibration_loader = app::make_eval_loader(config, data, data.train);
    auto recalibrate_bn = [&] {
      if (recalibrate > 0) app::recalibrate_pbnet_bn(*model, *calibration_loader, recalibrate);
    };
    app::EvalResult r;
    if (samples > 0) {
      const app::EnsembleResult e = app::evaluate_ensemble(
          *model, *loader, samples, dataset->num_classes(),
          [&](std::int64_t k) {
            quant::pbnet_sample_weights(*model, sample_seed, static_cast<std::uint64_t>(k));
            recalibrate_bn();
          });
      quant::pbnet_use_map_weights(*model);
      std::string members;
      for (double a : e.member_accuracy) members += fmt::format(" {:.2f}%", 100.0 * a);
      fmt::print(json ? stderr : stdout, "ensemble of {} sampled binary nets (seed {}); each alone:{}\n",
                 samples, sample_seed, members);
      r = e.ensemble;
    } else {
      recalibrate_bn();
      r = app::evaluate(*model, *loader, config.train, dataset->num_classes());
    }
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
