#include "apps/session.hpp"

#include "apps/checkpoint.hpp"
#include "core/io.hpp"
#include "data/registry.hpp"
#include "data/transforms.hpp"
#include "layers/layer_registry.hpp"
#include "layers/losses.hpp"
#include "layers/plugin.hpp"
#include "optim/adam.hpp"
#include "optim/bop.hpp"
#include "optim/registry.hpp"
#include "optim/routing.hpp"
#include "optim/sgd.hpp"
#include "quant/pbnet_model.hpp"
#include "quant/quantizer.hpp"
#include "quant/scheme.hpp"
#include "quant/summary.hpp"
#include "quant/training.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

namespace lowbit::app {

void register_builtins() {
  static std::once_flag once;
  std::call_once(once, [] {
    data::register_builtin_datasets();
    layers::register_builtin_models();
    quant::register_pbnet_models();  // pbnet_vgg_small (lives in quant/: it needs its layers)
    layers::register_builtin_layers();
    optim::register_builtin_optimizers();
    optim::register_builtin_schedules();
    quant::register_builtin_quantizers();
  });
}

void check_config(const Config& config) {
  register_builtins();
  load_plugins(config.plugins);
  if (!config.model.activation.empty()) {
    try {
      layers::layer_registry().get(config.model.activation);
    } catch (const core::Error& e) {
      core::fail("config: model.activation: {}", e.what());
    }
  }
  quant::validate(config.quant.plan());
  core::check(config.model.name == "pbnet_vgg_small" || config.model.pbnet.is_default(),
              "config: model.pbnet applies to model pbnet_vgg_small only, and model.name is '{}'. "
              "HINT: remove model.pbnet", config.model.name);
}

void load_plugins(const std::vector<std::string>& paths) {
  register_builtins();
  for (const auto& p : paths) layers::load_plugin(p);
}

void load_checkpoint_plugins(const std::string& checkpoint) {
  YAML::Node root;
  {
    const core::BinaryReader in(checkpoint, kCheckpointMagic, kCheckpointVersion, "checkpoint");
    core::SectionReader s = in.section("config");
    try {
      root = YAML::Load(s.get_string());
    } catch (const YAML::Exception&) {
      return;  // read_checkpoint_config reports it
    }
  }
  const YAML::Node list = root.IsMap() ? root["plugins"] : YAML::Node();
  if (!list || !list.IsSequence()) return;
  for (const auto& item : list) {
    if (!item.IsScalar()) continue;
    const std::string path = item.Scalar();
    if (layers::find_loaded_plugin(path) != nullptr) continue;
    core::check(std::filesystem::exists(path),
                "checkpoint '{}' needs the plugin '{}', which does not exist. HINT: build the plugin "
                "again at that path, or pass --plugin PATH/{} to load it from elsewhere",
                checkpoint, path, std::filesystem::path(path).filename().string());
    load_plugins({path});
  }
}

std::vector<std::string> recorded_plugins(const std::vector<std::string>& config_plugins,
                                          const std::vector<std::string>& cli_plugins) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& p) {
    const layers::LoadedPlugin* loaded = layers::find_loaded_plugin(p);
    const std::string path =
        loaded != nullptr ? loaded->path : std::filesystem::absolute(p).lexically_normal().string();
    if (std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
  };
  for (const auto& p : cli_plugins) add(p);
  for (const auto& p : config_plugins) add(p);
  return out;
}

int configure_threads(const TrainConfig& train) {
  int threads = static_cast<int>(train.threads);
  if (threads == 0) {
    const char* env = std::getenv("OMP_NUM_THREADS");
    threads = env != nullptr ? std::atoi(env) : 0;
  }
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(threads);  // OpenBLAS's OpenMP build follows the same setting
  return threads;
}

namespace {

data::DatasetSpec dataset_spec(const DataConfig& c, const std::string& split, std::uint64_t seed) {
  data::DatasetSpec s;
  s.name = c.dataset;
  s.root = c.root;
  s.split = split;
  s.channels = c.dataset == "synthetic" ? c.synthetic.channels : c.channels;
  s.resize = c.resize;
  s.crop = c.crop;
  s.size = split == "train" ? c.synthetic.train_size : c.synthetic.test_size;
  s.num_classes = c.synthetic.num_classes;
  s.height = c.synthetic.height;
  s.width = c.synthetic.width;
  s.noise = static_cast<float>(c.synthetic.noise);
  s.seed = seed;
  return s;
}

data::TransformPtr normalizer(const Config& config, const Datasets& d) {
  if (!config.data.normalize) return nullptr;
  return std::make_shared<data::Normalize>(d.stats.mean, d.stats.std);
}

}  // namespace

Datasets load_datasets(const DataConfig& config, std::uint64_t seed) {
  register_builtins();
  Datasets d;
  const auto& make = data::dataset_registry().get(config.dataset);
  d.train = make(dataset_spec(config, "train", seed));
  d.test = make(dataset_spec(config, "test", seed));
  core::check(d.train->item_shape() == d.test->item_shape(),
              "data: train images {} and test images {} differ in shape", d.train->item_shape().str(),
              d.test->item_shape().str());
  if (config.normalize) {
    d.stats = d.train->channel_stats();
    const auto c = static_cast<std::size_t>(d.train->item_shape().c);
    auto pick = [c](const std::vector<double>& given, std::vector<float>& out, const char* key) {
      if (given.empty()) return;
      core::check(given.size() == 1 || given.size() == c,
                  "config: data.{} has {} values; the images have {} channels (give 1 or {})", key,
                  given.size(), c, c);
      out.assign(c, 0.0f);
      for (std::size_t i = 0; i < c; ++i) out[i] = static_cast<float>(given[given.size() == 1 ? 0 : i]);
    };
    pick(config.mean, d.stats.mean, "mean");
    pick(config.std_dev, d.stats.std, "std");
  }
  return d;
}

std::unique_ptr<data::DataLoader> make_train_loader(const Config& config, const Datasets& d) {
  std::vector<data::TransformPtr> stages;
  if (config.data.crop_padding > 0) {
    stages.push_back(std::make_shared<data::RandomCrop>(0, config.data.crop_padding));
  }
  if (config.data.hflip) stages.push_back(std::make_shared<data::RandomHorizontalFlip>());
  if (auto n = normalizer(config, d)) stages.push_back(n);
  data::LoaderOptions o;
  o.batch_size = config.train.batch_size;
  o.shuffle = true;
  o.drop_last = false;
  o.seed = config.train.seed;
  o.workers = config.data.workers;
  o.limit_batches = config.train.limit_train_batches;
  if (!stages.empty()) o.transform = std::make_shared<data::Compose>(std::move(stages));
  return std::make_unique<data::DataLoader>(d.train, o);
}

std::unique_ptr<data::DataLoader> make_eval_loader(const Config& config, const Datasets& d,
                                                   std::shared_ptr<const data::Dataset> split) {
  data::LoaderOptions o;
  o.batch_size = config.train.eval_batch_size;
  o.shuffle = false;
  o.seed = config.train.seed;
  o.workers = config.data.workers;
  o.transform = normalizer(config, d);
  return std::make_unique<data::DataLoader>(std::move(split), o);
}

layers::ModelSpec model_spec(const Config& config, const data::Dataset& dataset) {
  const data::ItemShape shape = dataset.item_shape();
  core::check(shape.h == shape.w, "model: the builders take square images, the data is {}x{}", shape.h,
              shape.w);
  layers::ModelSpec s;
  s.name = config.model.name;
  s.in_channels = shape.c;
  s.image_size = shape.h;
  s.num_classes = dataset.num_classes();
  s.width = config.model.width;
  s.hidden = config.model.hidden;
  s.stem = config.model.stem;
  s.block = config.model.block;
  s.dropout = config.model.dropout;
  return s;
}

layers::ModulePtr build_model(const Config& config, const data::Dataset& dataset) {
  register_builtins();
  const layers::ModelSpec spec = model_spec(config, dataset);
  const std::uint64_t seed = config.train.seed;
  // Quantized layers are planned per name: the first and last layer are found by building the
  // model once with a recording factory.
  const quant::QuantConfig plan = config.quant.plan();
  const auto names = quant::weight_layer_names(
      [&](const layers::LayerFactory& f) { return layers::build_model(spec, seed, f); });
  layers::LayerFactory factory = quant::make_layer_factory(plan, names);
  // model.activation (a layer-registry name, perhaps a plugin's) replaces the scheme's activation.
  if (!config.model.activation.empty()) {
    factory.make_activation = layers::activation_maker(config.model.activation);
  }
  if (spec.name == "pbnet_vgg_small") {  // its options come from model.pbnet
    layers::validate(spec);
    return quant::build_pbnet_vgg_small(spec, factory, seed, config.model.pbnet.options());
  }
  return layers::build_model(spec, seed, factory);
}

TrainedModel load_trained_model(const std::string& checkpoint, const std::string& data_root) {
  TrainedModel t;
  t.config = read_checkpoint_config(checkpoint);
  if (!data_root.empty()) t.config.data.root = data_root;
  t.data = load_datasets(t.config.data, t.config.train.seed);
  t.model = build_model(t.config, *t.data.train);
  load_checkpoint_model(checkpoint, *t.model);
  return t;
}

std::string model_summary(layers::Module& model, const data::Dataset& dataset) {
  const data::ItemShape s = dataset.item_shape();
  return quant::format_summary(quant::model_cost(model, core::Shape({s.c, s.h, s.w})));
}

namespace {

// The configured SGD/Adam/AdamW over ready-made parameter groups.
std::unique_ptr<optim::Optimizer> make_plain_optimizer(const OptimConfig& c,
                                                       std::vector<optim::ParamGroup> groups) {
  if (c.name == "sgd") {
    optim::SgdOptions o;
    o.lr = c.lr;
    o.momentum = c.momentum;
    o.nesterov = c.nesterov && c.momentum > 0;
    return std::make_unique<optim::Sgd>(std::move(groups), o);
  }
  optim::AdamOptions o;
  o.lr = c.lr;
  o.beta1 = c.beta1;
  o.beta2 = c.beta2;
  o.eps = c.eps;
  if (c.name == "adam") return std::make_unique<optim::Adam>(std::move(groups), o, false);
  if (c.name == "adamw") return std::make_unique<optim::Adam>(std::move(groups), o, true);
  core::fail("config: optim.name '{}' is not an optimizer (sgd, adam, adamw)", c.name);
}

}  // namespace

std::unique_ptr<optim::Optimizer> make_optimizer(const OptimConfig& c, layers::Module& model) {
  const auto rule = c.decay_all ? optim::NoDecayRule::none : optim::NoDecayRule::vectors;
  if (c.binary_optimizer == "bop") {
    // Bop (Helwegen et al. 2019) trains the binary weights themselves: they are set to sign(W)
    // here (a resumed run then loads its own +-1 weights), every other parameter goes to `name`.
    const auto binary = quant::binary_weight_names(model);
    core::check(!binary.empty(),
                "config: optim.binary_optimizer is bop, but no layer has binary weights. HINT: set "
                "quant.scheme to bnn, xnor, bireal or binary_connect");
    for (const auto& [name, p] : model.named_parameters()) {
      if (std::find(binary.begin(), binary.end(), name) != binary.end()) optim::binarize_in_place(p);
    }
    return optim::make_routing(
        model.named_parameters(),
        [binary](const std::string& name, const core::Tensor&) {
          return std::find(binary.begin(), binary.end(), name) != binary.end();
        },
        [&c](const optim::NamedParams& p) {
          return optim::make_bop(p, {.lr = c.bop_gamma, .threshold = c.bop_threshold});
        },
        [&c, rule](const optim::NamedParams& p) {
          return make_plain_optimizer(c, optim::make_param_groups(p, c.weight_decay, rule));
        });
  }
  // Latent weights with an LR multiplier (BinaryConnect's Glorot scale) get groups of their own.
  return make_plain_optimizer(c, quant::make_param_groups(model, c.weight_decay, rule));
}

std::unique_ptr<optim::LrSchedule> make_schedule(const Config& config, std::int64_t steps_per_epoch) {
  const ScheduleConfig& s = config.schedule;
  const double lr = config.optim.lr;
  const std::int64_t total = std::max<std::int64_t>(1, steps_per_epoch * config.train.epochs);
  auto steps = [steps_per_epoch](double epochs) {
    return static_cast<std::int64_t>(std::llround(epochs * static_cast<double>(steps_per_epoch)));
  };
  std::unique_ptr<optim::LrSchedule> inner;
  if (s.name == "constant") {
    inner = optim::make_constant_schedule(lr);
  } else if (s.name == "step") {
    inner = optim::make_step_schedule(lr, {std::max<std::int64_t>(1, steps(s.step_epochs)), s.gamma});
  } else if (s.name == "multistep") {
    optim::MultiStepOptions o;
    for (double e : s.milestones) o.milestones.push_back(steps(e));
    o.gamma = s.gamma;
    inner = optim::make_multistep_schedule(lr, o);
  } else if (s.name == "cosine") {
    inner = optim::make_cosine_schedule(lr, {total, s.min_lr});
  } else if (s.name == "onecycle") {
    optim::OneCycleOptions o;
    o.total_steps = total;
    o.max_lr = lr;
    o.pct_start = s.pct_start;
    o.div_factor = s.div_factor;
    o.final_div_factor = s.final_div_factor;
    o.cycle_momentum = s.cycle_momentum;
    o.base_momentum = s.base_momentum;
    o.max_momentum = s.max_momentum;
    inner = optim::make_one_cycle_schedule(lr, o);
  } else {
    core::fail("config: schedule.name '{}' is not a schedule", s.name);
  }
  if (s.warmup_epochs > 0) {
    optim::WarmupOptions w;
    w.warmup_steps = steps(s.warmup_epochs);
    inner = optim::with_warmup(std::move(inner), w);
  }
  return inner;
}

core::Tensor compute_loss(const TrainConfig& config, const core::Tensor& logits,
                          const core::Tensor& labels) {
  if (config.loss == "cross_entropy") {
    return layers::cross_entropy(logits, labels, static_cast<float>(config.label_smoothing));
  }
  if (config.loss == "squared_hinge") return layers::squared_hinge(logits, labels);
  if (config.loss == "mse") return layers::mse(logits, layers::one_hot(labels, logits.size(1)));
  core::fail("config: train.loss '{}' is not a loss (cross_entropy, squared_hinge, mse)", config.loss);
}

}  // namespace lowbit::app
