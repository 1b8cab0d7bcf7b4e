// reveal: term revealing with HESE (Kung, McDanel, Zhang, SC20; methods.md 6) of a full-precision
// checkpoint, post-training and without retraining. Every conv/linear layer but the first conv
// gets 8-bit uniform weights of which only the k largest signed power-of-two terms per group of g
// weights along the input channels are kept, and inputs limited to t terms per value at a scale
// calibrated on a few training batches. Reports test accuracy and term-pair multiplies (the
// paper's cost model) next to plain uniform quantization and the float model; --sweep varies k.

#include "apps/checkpoint.hpp"
#include "apps/evaluation.hpp"
#include "apps/plot_svg.hpp"
#include "apps/session.hpp"
#include "core/autograd.hpp"
#include "layers/layer_registry.hpp"
#include "layers/models.hpp"
#include "quant/reveal_model.hpp"
#include "quant/scheme.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <exception>
#include <sstream>

namespace {

using namespace lowbit;

// The first `n` examples of a dataset (calibration images, --limit).
class FirstN : public data::Dataset {
 public:
  FirstN(std::shared_ptr<const data::Dataset> base, std::int64_t n)
      : base_(std::move(base)), n_(std::min(n, base_->size())) {}
  std::int64_t size() const override { return n_; }
  std::int64_t num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  data::ItemShape item_shape() const override { return base_->item_shape(); }
  void get(std::int64_t i, float* image, std::int64_t& label) const override {
    check_index(i);
    base_->get(i, image, label);
  }
  std::int64_t label(std::int64_t i) const override { return base_->label(i); }
  std::string name() const override { return fmt::format("{}[:{}]", base_->name(), n_); }

 private:
  std::shared_ptr<const data::Dataset> base_;
  std::int64_t n_;
};

std::vector<int> parse_budgets(const std::string& list) {
  std::vector<int> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      std::size_t used = 0;
      const int k = std::stoi(item, &used);
      core::check(used == item.size() && k >= 0, "");
      out.push_back(k);
    } catch (const std::exception&) {
      core::fail("--sweep: '{}' is not a budget (a non-negative integer). HINT: --sweep 4,6,8,12",
                 item);
    }
  }
  core::check(!out.empty(), "--sweep: no budgets given. HINT: --sweep 4,6,8,12");
  return out;
}

struct Outcome {
  std::string name;
  double accuracy = 0.0;
  std::int64_t images = 0;
  double pairs = 0.0;         // exact term pairs per image
  double budget_pairs = 0.0;  // the reference profiler's closed form per image
  double macs = 0.0;          // quantized-layer MACs per image
  std::vector<quant::RevealLayerCost> layers;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "lowbit reveal: term revealing (HESE, Kung et al. SC20) of a full-precision checkpoint, "
      "post-training.\nExample: reveal --checkpoint runs/fmnist_lenet_fp/best.ckpt --group 8 "
      "--budget 12 --data-terms 3"};
  std::string checkpoint, encoding = "hese", sweep, plot, data_root;
  int group = 8, budget = 12, data_terms = 3, bits = 8;
  std::int64_t limit = 0, calib_images = 2000, threads = 0;
  std::vector<std::string> plugins;
  cli.add_option("--checkpoint", checkpoint, "full-precision checkpoint (e.g. runs/x/best.ckpt)")
      ->required();
  cli.add_option("--group", group, "g: weights per group along the input channels (default 8)")
      ->check(CLI::Range(1, 64));
  cli.add_option("--budget", budget, "k: terms kept per group of weights (default 12)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--data-terms", data_terms, "t: terms kept per input value (default 3)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--encoding", encoding,
                 "hese (the authors' encoder) or csd (minimum-weight); default hese")
      ->check(CLI::IsMember({"hese", "csd"}));
  cli.add_option("--bits", bits,
                 "uniform bits of weights and data before the term limits (default 8)")
      ->check(CLI::Range(2, 16));
  cli.add_option("--sweep", sweep,
                 "comma-separated budgets k, e.g. 4,6,8,10,12,16 (replaces --budget)");
  cli.add_option("--plot", plot, "write an SVG of accuracy against term pairs");
  cli.add_option("--limit", limit, "evaluate on the first N test images only (default: all)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--calib-images", calib_images,
                 "training images whose layer inputs calibrate the data scales (default 2000)")
      ->check(CLI::PositiveNumber);
  cli.add_option("--data-root", data_root, "dataset folder (default: the one the run used)");
  cli.add_option("--threads", threads, "threads (0 = OMP_NUM_THREADS or all cores)");
  cli.add_option("--plugin", plugins, "load a plugin shared library (repeatable)")->take_all();
  CLI11_PARSE(cli, argc, argv);

  try {
    const std::vector<int> budgets =
        sweep.empty() ? std::vector<int>{budget} : parse_budgets(sweep);
    app::load_plugins(plugins);
    app::load_checkpoint_plugins(checkpoint);
    app::Config config = app::read_checkpoint_config(checkpoint);
    core::check(
        !config.quant.plan().quantizes_anything(),
        "reveal: '{}' was trained with quant.scheme '{}'; term revealing starts from a "
        "full-precision model. HINT: pass the checkpoint of a float run (quant.scheme none)",
        checkpoint, config.quant.defaults.scheme);
    if (!data_root.empty()) config.data.root = data_root;
    config.train.threads = threads;
    const int used_threads = app::configure_threads(config.train);
    const auto data = app::load_datasets(config.data, config.train.seed);

    // The float model with every conv/linear but the first conv wrapped in term quantizers.
    const layers::ModelSpec spec = app::model_spec(config, *data.train);
    const auto names = quant::weight_layer_names([&](const layers::LayerFactory& f) {
      return layers::build_model(spec, config.train.seed, f);
    });
    layers::LayerFactory base = quant::make_layer_factory(config.quant.plan(), names);
    if (!config.model.activation.empty())
      base.make_activation = layers::activation_maker(config.model.activation);
    const auto model =
        layers::build_model(spec, config.train.seed, quant::make_reveal_factory(base, names));
    app::load_checkpoint_model(checkpoint, *model);
    quant::TermRevealer revealer(*model);

    // Calibration: histograms of every quantized layer's float inputs.
    {
      auto calib =
          app::make_eval_loader(config, data, std::make_shared<FirstN>(data.train, calib_images));
      model->eval();
      core::NoGradGuard no_grad;
      revealer.begin_calibration();
      for (std::int64_t b = 0; b < calib->batches_per_epoch(); ++b)
        (void)(*model)(calib->next().images);
      revealer.end_calibration();
    }
    auto test_split =
        limit > 0 ? std::shared_ptr<const data::Dataset>(std::make_shared<FirstN>(data.test, limit))
                  : data.test;
    auto loader = app::make_eval_loader(config, data, test_split);
    const std::int64_t classes = data.test->num_classes();

    auto run = [&](const quant::RevealVariant& v) {
      revealer.apply(v);
      const app::EvalResult r = app::evaluate(*model, *loader, config.train, classes);
      Outcome o;
      o.name = v.name;
      o.accuracy = 100.0 * r.accuracy;
      o.images = r.count;
      o.layers = revealer.costs();
      const double n = static_cast<double>(std::max<std::int64_t>(1, r.count));
      for (const auto& c : o.layers) {
        o.pairs += static_cast<double>(c.term_pairs) / n;
        o.budget_pairs += c.budget_pairs / n;
        o.macs += static_cast<double>(c.macs) / n;
      }
      return o;
    };

    quant::RevealVariant fp;
    fp.name = "float";
    fp.quantized = false;
    const Outcome float_out = run(fp);
    const Outcome uniform_out = run(quant::uniform_variant(bits, bits));
    const quant::terms::Encoding enc = quant::terms::parse_encoding(encoding);
    std::vector<Outcome> tr;
    for (int k : budgets) {
      quant::RevealVariant v;
      v.name = fmt::format("TR {} g={} k={} t={}", encoding, group, k, data_terms);
      v.weights.bits = bits;
      v.weights.group_size = group;
      v.weights.budget = k;
      v.weights.encoding = enc;
      v.data.bits = bits;
      v.data.terms = data_terms;
      v.data.encoding = enc;
      tr.push_back(run(v));
    }

    fmt::print(
        "reveal {}: {} on {} test images of {} ({} threads); data scales from {} training images\n",
        checkpoint, config.model.name, float_out.images, config.data.dataset, used_threads,
        std::min(calib_images, data.train->size()));
    for (const auto& name : revealer.float_layers()) {
      fmt::print("  {} stays float (the first conv, methods.md 6.2); its MACs are not counted\n",
                 name);
    }
    fmt::print(
        "term pairs per image over the {} quantized layers ({:.4g}M MACs per image): exact = "
        "sum of terms(w) x terms(x) on the data run; bit-serial = every one of {}x{} bits a term "
        "(the paper's uniform baseline); budget = MACs x t x k/g (the reference profiler)\n\n",
        revealer.size(), uniform_out.macs / 1e6, bits, bits);
    fmt::print("{:<28} {:>9} {:>9} {:>12} {:>10} {:>12} {:>11}\n", "variant", "accuracy",
               "vs unif.", "exact pairs", "x fewer", "budget pairs", "x fewer");
    fmt::print("{:<28} {:>8.2f}% {:>9} {:>12} {:>10} {:>12} {:>11}\n", float_out.name,
               float_out.accuracy, "", "-", "-", "-", "-");
    const double bit_serial = uniform_out.budget_pairs;
    fmt::print("{:<28} {:>8.2f}% {:>9} {:>11.4g}M {:>10} {:>11.4g}M {:>11}\n", uniform_out.name,
               uniform_out.accuracy, "", uniform_out.pairs / 1e6, "1.0 / 1.0", bit_serial / 1e6,
               "1.0");
    for (const auto& o : tr) {
      fmt::print(
          "{:<28} {:>8.2f}% {:>+8.2f}  {:>11.4g}M {:>4.1f} / {:<4.1f} {:>11.4g}M {:>11.1f}\n",
          o.name, o.accuracy, o.accuracy - uniform_out.accuracy, o.pairs / 1e6,
          uniform_out.pairs / o.pairs, bit_serial / o.pairs, o.budget_pairs / 1e6,
          bit_serial / o.budget_pairs);
    }
    fmt::print(
        "('x fewer' of exact pairs: against the uniform model's exact pairs / against bit-serial "
        "{}x{})\n",
        bits, bits);

    if (tr.size() == 1) {  // per-layer detail of the one configuration
      const Outcome& o = tr.front();
      fmt::print("\n{:<10} {:>11} {:>13} {:>13} {:>10} {:>12} {:>11}\n", "layer", "MACs/img",
                 "w terms/val", "x terms/val", "x scale", "pairs/img", "unif. pairs");
      for (std::size_t i = 0; i < o.layers.size(); ++i) {
        const auto& c = o.layers[i];
        const auto& u = uniform_out.layers[i];
        const double n = static_cast<double>(o.images);
        fmt::print(
            "{:<10} {:>10.4g}M {:>5.2f} -> {:<5.2f} {:>5.2f} -> {:<5.2f} {:>10.4g} {:>11.4g}M "
            "{:>10.4g}M\n",
            c.name, static_cast<double>(c.macs) / n / 1e6, c.weights.uniform_terms_per_value(),
            c.weights.kept_terms_per_value(), c.data.uniform_terms_per_value(),
            c.data.kept_terms_per_value(), c.data_scale,
            static_cast<double>(c.term_pairs) / n / 1e6,
            static_cast<double>(u.term_pairs) / n / 1e6);
      }
    }

    if (!plot.empty()) {
      app::PlotSeries line{fmt::format("TR {}", encoding), "#1f77b4", {}};
      for (const auto& o : tr) line.points.emplace_back(o.pairs / 1e6, o.accuracy);
      app::PlotSeries unif{fmt::format("uniform {}-bit", bits),
                           "#d62728",
                           {{uniform_out.pairs / 1e6, uniform_out.accuracy}}};
      app::PlotSeries flt{"float", "#2ca02c", {}};  // a level line across the plot
      double lo = uniform_out.pairs;
      for (const auto& o : tr) lo = std::min(lo, o.pairs);
      flt.points = {{lo / 1e6, float_out.accuracy}, {uniform_out.pairs / 1e6, float_out.accuracy}};
      const std::string title = fmt::format("{}: term revealing, g={}, t={} ({} test images)",
                                            config.model.name, group, data_terms, float_out.images);
      app::write_svg(
          app::render_xy_svg(title, "test accuracy (%)",
                             "term-pair multiplies per image (millions)", {line, unif, flt}),
          plot);
      fmt::print("wrote {}\n", plot);
    }
    return 0;
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
