// train: trains a network from a YAML config (see configs/ and `train --print-config`).

#include "apps/config.hpp"
#include "apps/distill.hpp"
#include "apps/session.hpp"
#include "apps/trainer.hpp"
#include "core/error.hpp"
#include "layers/module.hpp"
#include "layers/plugin.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>

int main(int argc, char** argv) {
  using namespace lowbit;
  CLI::App cli{"lowbit train: trains a network described by a YAML config.\n"
               "Example: train --config configs/fmnist_lenet_fp.yaml --set optim.lr=0.05"};
  std::string config_path, resume, out;
  std::vector<std::string> overrides, plugins;
  bool print_config = false, summary_only = false, print_run_dir = false;
  std::int64_t section = 0;
  cli.add_option("-c,--config", config_path, "YAML config file (keys not given take their defaults)");
  cli.add_option("--resume", resume, "'auto' (the run directory's last.ckpt, if any) or a checkpoint path");
  cli.add_option("-o,--out", out, "run directory (default: train.out_dir/<train.name or config name>)");
  cli.add_option("--set", overrides, "override a config key, e.g. --set optim.lr=0.05 (repeatable)")
      ->take_all();
  cli.add_option("--plugin", plugins,
                 "load a plugin shared library before the config is read (docs/plugins.md); "
                 "repeatable, recorded in checkpoints")
      ->take_all();
  cli.add_option("--section", section,
                 "DCQ (a config with distill:): train only section i (1-based) into its own checkpoint; without "
                 "it every unfinished section is trained, then the sections are stitched")
      ->check(CLI::NonNegativeNumber);
  cli.add_flag("--print-config", print_config, "print the effective config (every key) and exit");
  cli.add_flag("--summary", summary_only, "print the model summary and exit");
  cli.add_flag("--print-run-dir", print_run_dir, "print the run directory this command would use and exit");
  CLI11_PARSE(cli, argc, argv);

  try {
    app::TrainRequest request;
    app::load_plugins(plugins);
    request.config = app::load_config(config_path, overrides);
    request.config.plugins = app::recorded_plugins(request.config.plugins, plugins);
    request.config_path = config_path;
    request.resume = resume;
    request.run_dir = out;
    if (print_run_dir) {
      fmt::print("{}\n", app::run_directory(request));
      return 0;
    }
    if (print_config) {
      fmt::print("{}", app::to_yaml(request.config));
      return 0;
    }
    for (const auto& p : layers::loaded_plugins()) {
      fmt::print("plugin {}: {}\n", p.path, fmt::join(p.registered, ", "));
    }
    if (summary_only) {
      const auto data = app::load_datasets(request.config.data, request.config.train.seed);
      const auto model = app::build_model(request.config, *data.train);
      fmt::print("{}\n", app::model_summary(*model, *data.train));
      return 0;
    }
    if (request.config.distill.enabled()) return app::run_distillation(request, section);
    if (section != 0) throw core::Error("--section applies to DCQ runs only. HINT: set distill.teacher in the config");
    return app::run_training(request);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
