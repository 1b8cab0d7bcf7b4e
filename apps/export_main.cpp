// export: a training checkpoint -> an integer model (.lbm) for the XNOR engine (quant/export.hpp).

#include "apps/checkpoint.hpp"
#include "apps/evaluation.hpp"
#include "apps/session.hpp"
#include "quant/export.hpp"
#include "quant/pbnet_export.hpp"
#include "quant/xnor/model.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <exception>
#include <filesystem>

namespace {

// The network the engine runs. A PBNet checkpoint (model pbnet_vgg_small) exports its MAP network
// (w = sign(theta), h = sign), copied into the BNN of the same spec: vgg_small under the bnn scheme
// with the default first/last float layers (quant/pbnet_export.hpp), after re-estimating its BN
// statistics on `recalibrate` training batches when > 0 (as `evaluate --recalibrate-bn`). Other
// models export as trained.
lowbit::layers::ModulePtr engine_network(const lowbit::app::TrainedModel& trained,
                                         std::int64_t recalibrate) {
  using namespace lowbit;
  if (trained.config.model.name != "pbnet_vgg_small") {
    core::check(recalibrate == 0,
                "--recalibrate-bn applies to PBNet checkpoints (model pbnet_vgg_small), and "
                "this one is model '{}'. HINT: drop --recalibrate-bn",
                trained.config.model.name);
    return trained.model;
  }
  if (recalibrate > 0) {
    auto loader = app::make_eval_loader(trained.config, trained.data, trained.data.train);
    app::recalibrate_pbnet_bn(*trained.model, *loader, recalibrate);
  }
  app::Config c = trained.config;
  c.model.name = "vgg_small";
  c.quant = app::QuantSection{};
  c.quant.defaults.scheme = "bnn";
  layers::ModulePtr bnn = app::build_model(c, *trained.data.train);
  quant::copy_map_into_bnn(*trained.model, *bnn);
  fmt::print("PBNet checkpoint: exporting its MAP network (w = sign(theta), h = sign) as a vgg_small "
             "BNN\n");
  return bnn;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace lowbit;
  CLI::App cli{"lowbit export: turns a trained checkpoint into an integer model (.lbm) that `infer` "
               "runs with the bit-packed XNOR/popcount engine.\n"
               "Example: export --checkpoint runs/fmnist_bnn/best.ckpt -o bnn.lbm"};
  std::string checkpoint, output, data_root;
  std::vector<std::string> plugins;
  bool quiet = false;
  std::int64_t recalibrate = 0;
  cli.add_option("--checkpoint", checkpoint, "checkpoint file (best.ckpt, last.ckpt, ...)")->required();
  cli.add_option("-o,--output", output, "integer model file to write (.lbm)")->required();
  cli.add_option("--data-root", data_root, "dataset folder for the normalisation statistics "
                                           "(default: the one the run used)");
  cli.add_flag("-q,--quiet", quiet, "do not print the model summary");
  cli.add_option("--recalibrate-bn", recalibrate,
                 "PBNet checkpoints: first re-estimate the MAP net's BN statistics on this many "
                 "train-split batches, as `evaluate --recalibrate-bn` (0 = training's statistics)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--plugin", plugins,
                 "load a plugin shared library (repeatable); the checkpoint's own plugins load "
                 "by themselves, this stands in for one that has moved")
      ->take_all();
  CLI11_PARSE(cli, argc, argv);

  try {
    app::load_plugins(plugins);
    app::load_checkpoint_plugins(checkpoint);
    const app::TrainedModel trained = app::load_trained_model(checkpoint, data_root);
    const app::Config& config = trained.config;
    const app::Datasets& data = trained.data;
    const layers::ModulePtr model = engine_network(trained, recalibrate);
    model->eval();
    const data::ItemShape s = data.train->item_shape();
    quant::ExportInput in;
    in.channels = s.c;
    in.height = s.h;
    in.width = s.w;
    if (config.data.normalize) {
      in.mean = data.stats.mean;
      in.std = data.stats.std;
    }
    quant::xnor::Model m = quant::export_model(*model, in);
    m.class_names = data.train->class_names();
    m.metadata["source"] = std::filesystem::absolute(checkpoint).string();
    m.metadata["dataset"] = config.data.dataset;
    m.metadata["model"] = config.model.name;
    m.metadata["scheme"] = config.quant.defaults.scheme;
    quant::xnor::save_model(m, output);
    if (!quiet) fmt::print("{}\n", quant::xnor::summary(m));
    const auto ckpt_bytes = std::filesystem::file_size(checkpoint);
    const auto lbm_bytes = std::filesystem::file_size(output);
    const auto float_bytes = static_cast<std::uintmax_t>(model->num_parameters()) * 4;
    fmt::print("wrote {}: {} bytes; the float parameters take {} bytes ({:.1f}x), the checkpoint {} "
               "bytes with optimizer state ({:.1f}x)\n",
               output, lbm_bytes, float_bytes, static_cast<double>(float_bytes) / static_cast<double>(lbm_bytes),
               ckpt_bytes, static_cast<double>(ckpt_bytes) / static_cast<double>(lbm_bytes));
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
