#pragma once
// The training config: plain structs whose defaults are the defaults, read strictly from YAML.
// configs/*.yaml hold only what differs from these; `train --print-config` shows all of it.

#include "apps/config_schema.hpp"
#include "quant/pbnet_model.hpp"
#include "quant/scheme.hpp"
#include "quant/settings.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace lowbit::app {

// model.pbnet: the PBNet builder's options (quant::PbnetOptions holds the defaults); only model
// pbnet_vgg_small reads them.
struct PbnetConfig {
  double theta_init = quant::PbnetOptions{}.theta_init;
  double logit_scale = quant::PbnetOptions{}.logit_scale;
  double tau = quant::PbnetOptions{}.tau_start;
  double tau_end = quant::PbnetOptions{}.tau_end;
  double weight_tau = quant::PbnetOptions{}.weight_tau_start;
  double weight_tau_end = quant::PbnetOptions{}.weight_tau_end;
  bool straight_through = quant::PbnetOptions{}.straight_through;

  template <typename V> void visit(V& v) {
    v.field("theta_init", theta_init, "weight logits start uniform in [-theta_init, theta_init]",
            Validator<double>(positive));
    v.field("logit_scale", logit_scale,
            "theta = logit_scale * weight: the logits' learning-rate multiplier under Adam",
            Validator<double>(positive));
    v.field("tau", tau, "concrete temperature of the first epoch (annealed geometrically)",
            Validator<double>(positive));
    v.field("tau_end", tau_end, "concrete temperature of the last epoch", Validator<double>(positive));
    v.field("weight_tau", weight_tau,
            "weight temperature of the first epoch: training uses q(w = +1) = sigmoid(theta / "
            "temperature), annealed geometrically",
            Validator<double>(positive));
    v.field("weight_tau_end", weight_tau_end,
            "weight temperature of the last epoch; the learned q (ensemble samples) uses it",
            Validator<double>(positive));
    v.field("straight_through", straight_through,
            "hard +-1 activation samples forward (as evaluation sees them), relaxed gradient backward");
  }

  quant::PbnetOptions options() const {
    return {static_cast<float>(theta_init), static_cast<float>(logit_scale), static_cast<float>(tau),
            static_cast<float>(tau_end),      static_cast<float>(weight_tau),
            static_cast<float>(weight_tau_end), straight_through};
  }
  bool operator==(const PbnetConfig&) const = default;
  bool is_default() const { return *this == PbnetConfig{}; }
};

struct ModelConfig {
  std::string name = "lenet";
  std::int64_t width = 0;              // 0: the builder's default width
  std::vector<std::int64_t> hidden{};  // mlp hidden sizes (empty: builder default)
  std::string stem = "cifar";
  std::string block = "basic";
  double dropout = 0.0;
  std::string activation = "";  // empty: the quant scheme's (relu, hardtanh or identity)
  PbnetConfig pbnet;

  template <typename V> void visit(V& v) {
    v.field("name", name, "model builder: mlp, lenet, vgg_small, resnet18, resnet20");
    v.field("activation", activation,
            "hidden activation by layer name: relu, hardtanh, identity or a plugin's (empty = the "
            "quant scheme's)");
    v.field("width", width, "base width (0 = the builder's default)", Validator<std::int64_t>(non_negative_int));
    v.field("hidden", hidden, "hidden layer sizes for mlp");
    v.field("stem", stem, "resnet stem: cifar (3x3, stride 1) or imagenet (7x7/2 + maxpool)",
            one_of({"cifar", "imagenet"}));
    v.field("block", block,
            "resnet block: basic (two convs, one shortcut) or bireal (one shortcut around every conv, "
            "no ReLU: Bi-Real Net)",
            one_of({"basic", "bireal"}));
    v.field("dropout", dropout, "dropout after each hidden FC layer (before fc when there is none; 0 = none)",
            Validator<double>(non_negative));
    v.section("pbnet", pbnet, "pbnet_vgg_small only: weight-distribution init and concrete sampling");
  }
};

struct SyntheticDataConfig {
  std::int64_t train_size = 2048;
  std::int64_t test_size = 512;
  std::int64_t num_classes = 4;
  std::int64_t channels = 1;
  std::int64_t height = 8;
  std::int64_t width = 8;
  double noise = 0.25;

  template <typename V> void visit(V& v) {
    v.field("train_size", train_size, "examples in the train split", Validator<std::int64_t>(positive_int));
    v.field("test_size", test_size, "examples in the test split", Validator<std::int64_t>(positive_int));
    v.field("num_classes", num_classes, "classes", Validator<std::int64_t>(positive_int));
    v.field("channels", channels, "image channels", Validator<std::int64_t>(positive_int));
    v.field("height", height, "image height", Validator<std::int64_t>(positive_int));
    v.field("width", width, "image width", Validator<std::int64_t>(positive_int));
    v.field("noise", noise, "noise std around each class pattern", Validator<double>(non_negative));
  }
};

struct DataConfig {
  std::string dataset = "fashion_mnist";
  std::string root = "";  // empty: the dataset's default location
  bool hflip = true;
  std::int64_t crop_padding = 0;  // random crop with this zero padding (0 = off)
  bool normalize = true;
  std::vector<double> mean{};  // empty: the dataset's statistics
  std::vector<double> std_dev{};
  std::int64_t workers = 1;
  std::int64_t channels = 0;  // image_folder: 1 or 3 (0 = 3)
  std::int64_t resize = 0;    // image_folder: short side after resizing (0 = keep)
  std::int64_t crop = 0;      // image_folder: center crop (0 = none)
  SyntheticDataConfig synthetic;

  template <typename V> void visit(V& v) {
    v.field("dataset", dataset, "fashion_mnist, mnist, cifar10, image_folder, synthetic");
    v.field("root", root, "data folder (empty = the dataset's default)");
    v.field("hflip", hflip, "random horizontal flips when training");
    v.field("crop_padding", crop_padding, "random crop after zero padding by this many pixels (0 = off)",
            Validator<std::int64_t>(non_negative_int));
    v.field("normalize", normalize, "normalize each channel by mean/std");
    v.field("mean", mean, "per-channel mean (empty = dataset default)");
    v.field("std", std_dev, "per-channel std (empty = dataset default)");
    v.field("workers", workers, "background loader threads", Validator<std::int64_t>(positive_int));
    v.field("channels", channels, "image_folder: output channels, 1 or 3 (0 = 3)",
            Validator<std::int64_t>(non_negative_int));
    v.field("resize", resize, "image_folder: short side after resizing (0 = keep)",
            Validator<std::int64_t>(non_negative_int));
    v.field("crop", crop, "image_folder: square center crop (0 = none)", Validator<std::int64_t>(non_negative_int));
    v.section("synthetic", synthetic, "the synthetic dataset (tests, smoke runs)");
  }
};

struct OptimConfig {
  std::string name = "sgd";
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = true;
  double weight_decay = 5e-4;
  bool decay_all = false;  // false: no weight decay on biases and BN parameters
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double clip_grad_norm = 0.0;  // 0 = off
  std::string binary_optimizer = "none";  // bop: binary weights go to Bop, the rest to `name`
  double bop_gamma = 1e-4;
  double bop_threshold = 1e-8;

  template <typename V> void visit(V& v) {
    v.field("name", name, "optimizer: sgd, adam, adamw or ebp (Expectation BackPropagation: no lr)",
            one_of({"sgd", "adam", "adamw", "ebp"}));
    v.field("lr", lr, "base (peak) learning rate", Validator<double>(positive));
    v.field("momentum", momentum, "sgd momentum", Validator<double>(non_negative));
    v.field("nesterov", nesterov, "sgd Nesterov momentum");
    v.field("weight_decay", weight_decay, "weight decay", Validator<double>(non_negative));
    v.field("decay_all", decay_all, "also decay biases and batch-norm parameters");
    v.field("beta1", beta1, "adam beta1", Validator<double>(non_negative));
    v.field("beta2", beta2, "adam beta2", Validator<double>(non_negative));
    v.field("eps", eps, "adam epsilon", Validator<double>(positive));
    v.field("clip_grad_norm", clip_grad_norm, "clip the global gradient norm (0 = off)",
            Validator<double>(non_negative));
    v.field("binary_optimizer", binary_optimizer,
            "none, or bop: binary weights are trained by Bop (flips, no latent weights), every other "
            "parameter by `name`",
            one_of({"none", "bop"}));
    v.field("bop_gamma", bop_gamma, "Bop adaptivity rate (follows the LR schedule's decay)",
            Validator<double>(positive));
    v.field("bop_threshold", bop_threshold, "Bop flip threshold tau", Validator<double>(non_negative));
  }
};

struct ScheduleConfig {
  std::string name = "onecycle";
  double warmup_epochs = 0.0;
  double step_epochs = 30.0;
  std::vector<double> milestones{};  // in epochs
  double gamma = 0.1;
  double min_lr = 0.0;
  double pct_start = 0.3;
  double div_factor = 25.0;
  double final_div_factor = 1e4;
  bool cycle_momentum = true;
  double base_momentum = 0.85;
  double max_momentum = 0.95;

  template <typename V> void visit(V& v) {
    v.field("name", name, "constant, step, multistep, cosine, onecycle",
            one_of({"constant", "step", "multistep", "cosine", "onecycle"}));
    v.field("warmup_epochs", warmup_epochs, "linear warmup length in epochs", Validator<double>(non_negative));
    v.field("step_epochs", step_epochs, "step: epochs between decays", Validator<double>(positive));
    v.field("milestones", milestones, "multistep: epochs at which the LR is multiplied by gamma");
    v.field("gamma", gamma, "step/multistep decay factor", Validator<double>(positive));
    v.field("min_lr", min_lr, "cosine: final learning rate", Validator<double>(non_negative));
    v.field("pct_start", pct_start, "onecycle: fraction of steps spent increasing", Validator<double>(positive));
    v.field("div_factor", div_factor, "onecycle: initial lr = lr / div_factor", Validator<double>(positive));
    v.field("final_div_factor", final_div_factor, "onecycle: final lr = initial lr / final_div_factor",
            Validator<double>(positive));
    v.field("cycle_momentum", cycle_momentum,
            "onecycle: cycle the momentum (SGD momentum, Adam beta1) inversely to the LR, as "
            "PyTorch's OneCycleLR");
    v.field("base_momentum", base_momentum, "onecycle: momentum at the LR peak", Validator<double>(non_negative));
    v.field("max_momentum", max_momentum, "onecycle: momentum at the start and the end",
            Validator<double>(non_negative));
  }
};

struct TrainConfig {
  std::int64_t epochs = 10;
  std::int64_t batch_size = 128;
  std::int64_t eval_batch_size = 500;
  std::uint64_t seed = 1;
  std::int64_t threads = 0;  // 0: OMP_NUM_THREADS or all cores
  std::string loss = "cross_entropy";
  double label_smoothing = 0.0;
  std::int64_t eval_every_epochs = 1;
  std::string out_dir = "runs";
  std::string name = "";  // run name; empty: the config file's stem
  std::int64_t checkpoint_every_steps = 0;  // 0: at the end of every epoch only
  std::int64_t keep_last = 3;
  std::int64_t log_every_steps = 50;
  std::int64_t limit_train_batches = 0;  // 0: all; >0: truncate each epoch (smoke tests)
  std::string init_from = "";  // a new run starts from this checkpoint's weights (fine-tuning)

  template <typename V> void visit(V& v) {
    v.field("epochs", epochs, "training epochs", Validator<std::int64_t>(positive_int));
    v.field("batch_size", batch_size, "training batch size", Validator<std::int64_t>(positive_int));
    v.field("eval_batch_size", eval_batch_size, "evaluation batch size", Validator<std::int64_t>(positive_int));
    v.field("seed", seed, "seed for init, shuffling, augmentation and stochastic layers");
    v.field("threads", threads, "threads (0 = OMP_NUM_THREADS or all cores)",
            Validator<std::int64_t>(non_negative_int));
    v.field("loss", loss, "cross_entropy, squared_hinge, mse", one_of({"cross_entropy", "squared_hinge", "mse"}));
    v.field("label_smoothing", label_smoothing, "cross-entropy label smoothing", Validator<double>(non_negative));
    v.field("eval_every_epochs", eval_every_epochs, "evaluate on the test split every N epochs",
            Validator<std::int64_t>(positive_int));
    v.field("out_dir", out_dir, "parent folder of run directories");
    v.field("name", name, "run name (empty = config file name)");
    v.field("checkpoint_every_steps", checkpoint_every_steps,
            "also checkpoint every N steps (0 = end of each epoch only)", Validator<std::int64_t>(non_negative_int));
    v.field("keep_last", keep_last, "numbered checkpoints kept besides last and best",
            Validator<std::int64_t>(non_negative_int));
    v.field("log_every_steps", log_every_steps, "metrics/progress every N steps",
            Validator<std::int64_t>(positive_int));
    v.field("limit_train_batches", limit_train_batches, "train on at most N batches per epoch (0 = all)",
            Validator<std::int64_t>(non_negative_int));
    v.field("init_from", init_from,
            "a new run (not a resume) starts from this lowbit checkpoint's model weights, loaded "
            "non-strictly (e.g. a float checkpoint into a quantized model; empty = random init)");
  }
};

// The fields of one layer's quantization (quant/settings.hpp), shared by quant: and its overrides.
template <typename V>
void visit_quant_settings(V& v, quant::QuantSettings& s) {
  v.field("scheme", s.scheme,
          "none, binary_connect, bnn, xnor, bireal, dorefa, lsq, pact, dbssq, rq (see "
          "quant/scheme.hpp)",
          one_of(quant::scheme_names()));
  v.field("weight_quantizer", s.weight_quantizer, "weight quantizer by name (empty = the scheme's)");
  v.field("activation_quantizer", s.activation_quantizer,
          "input (activation) quantizer by name (empty = the scheme's)");
  v.field("weight_bits", s.weight_bits, "bits of multi-bit weight quantizers (dorefa, lsq, rq)",
          Validator<std::int64_t>(positive_int));
  v.field("activation_bits", s.activation_bits, "bits of multi-bit activation quantizers (dorefa, lsq, pact, rq)",
          Validator<std::int64_t>(positive_int));
  v.field("gradient_bits", s.gradient_bits, "DoReFa gradient bits on each quantized layer's output (32 = off)",
          Validator<std::int64_t>(positive_int));
  v.field("stochastic", s.stochastic, "binary_connect: stochastic binarization (evaluated with real weights)");
  v.field("h", s.h, "binary_connect: binary weights are +-h", Validator<double>(positive));
  v.field("h_glorot", s.h_glorot, "binary_connect: h = sqrt(1.5 / (fan_in + fan_out))");
  v.field("latent_lr_scale", s.latent_lr_scale,
          "binary_connect latent-weight LR multiplier: auto/glorot (1/sqrt(1.5/(fan_in+fan_out))) or none",
          one_of({"auto", "glorot", "none"}));
  v.field("clip_latent", s.clip_latent, "clip latent weights to the quantizer's range after each step");
  v.field("bireal_weight_grad", s.bireal_weight_grad,
          "bireal weight gradient: paper (x alpha) or code (clip STE only)", one_of({"paper", "code"}));
  v.field("pact_alpha", s.pact_alpha, "pact: initial clipping level", Validator<double>(positive));
  v.field("pact_alpha_decay", s.pact_alpha_decay, "pact: L2 weight on alpha",
          Validator<double>(non_negative));
  v.field("dbssq_levels", s.dbssq_levels,
          "dbssq levels: shift (powers of two; weight_bits/activation_bits = shift bits s) or "
          "uniform (n bits)",
          one_of({"shift", "uniform"}));
  v.field("dbssq_grad_scaling", s.dbssq_grad_scaling,
          "dbssq: gradient 1 (the exact gradient eps divided by eps) instead of eps");
  v.field("eps_schedule", s.eps_schedule,
          "dbssq eps per epoch: halving (the paper's 15-epoch table mapped onto train.epochs) or "
          "constant (eps); evaluation uses eps = 0",
          one_of({"halving", "constant"}));
  v.field("eps", s.eps, "dbssq: eps of the constant schedule, in [0, 1] (1 = full precision)",
          Validator<double>(non_negative));
  v.field("rq_temperature", s.rq_temperature,
          "rq: Gumbel-softmax temperature of the first epoch (annealed geometrically)",
          Validator<double>(positive));
  v.field("rq_temperature_end", s.rq_temperature_end, "rq: temperature of the last epoch",
          Validator<double>(positive));
  v.field("rq_delta_sigmas", s.rq_delta_sigmas,
          "rq: local grid = the bins within this many sigma of x (paper: 3; 8 keeps E[x^] within "
          "1e-3 alpha of the full grid)",
          Validator<double>(positive));
  v.field("rq_straight_through", s.rq_straight_through,
          "rq: RQ-ST, hard one-hot sample forward, relaxed gradient backward");
}

struct QuantOverrideConfig {
  std::string match;
  quant::QuantSettings settings;

  template <typename V> void visit(V& v) {
    v.field("match", match, "layer name or glob (* and ?), e.g. 'layer*.conv*' or '*downsample*'");
    visit_quant_settings(v, settings);
  }
};

// quant.grid_reg: the penalty that pulls latent weights onto a symmetric k-bit grid
// (quant/grid_reg.hpp; defaults in quant::GridRegSettings).
struct GridRegConfig {
  quant::GridRegSettings s;

  template <typename V> void visit(V& v) {
    v.field("weight", s.weight,
            "penalty weight on sum (w - Q(w))^2 over the quantizable layers' weights (0 = off)",
            Validator<double>(non_negative));
    v.field("bits", s.bits, "bits of the symmetric grid the weights are pulled onto (1..8)",
            Validator<std::int64_t>(positive_int));
    v.field("warmup_epochs", s.warmup_epochs, "epochs trained without the penalty first",
            Validator<std::int64_t>(non_negative_int));
    v.field("ramp_epochs", s.ramp_epochs,
            "after the warm-up the weight grows linearly to `weight` over this many epochs (0 = at once)",
            Validator<std::int64_t>(non_negative_int));
  }
};

struct QuantSection {
  quant::QuantSettings defaults;
  bool keep_first = true;
  bool keep_last = true;
  std::vector<QuantOverrideConfig> overrides{};
  GridRegConfig grid_reg;

  template <typename V> void visit(V& v) {
    visit_quant_settings(v, defaults);
    v.field("keep_first", keep_first, "keep the first conv/linear layer full precision");
    v.field("keep_last", keep_last, "keep the last (classifier) layer full precision");
    v.list("overrides", overrides,
           "per-layer settings: each item has `match` plus any key above; it starts from the "
           "defaults above and a later match wins",
           QuantOverrideConfig{"", defaults});
    v.section("grid_reg", grid_reg,
              "penalty pulling the quantizable layers' weights onto a symmetric k-bit grid (any scheme)");
  }

  quant::QuantConfig plan() const {
    quant::QuantConfig q;
    q.defaults = defaults;
    q.keep_first = keep_first;
    q.keep_last = keep_last;
    for (const auto& o : overrides) q.overrides.push_back({o.match, o.settings});
    return q;
  }
};

// distill.per_section: what one section trains with instead of the run's settings.
struct SectionSettings {
  std::int64_t section = 0;  // 1-based
  std::int64_t epochs = 0;   // 0: distill.epochs
  std::string optimizer = "";  // empty: optim.name
  double lr = 0.0;             // 0: optim.lr

  template <typename V> void visit(V& v) {
    v.field("section", section, "the section these settings apply to (1-based)", Validator<std::int64_t>(positive_int));
    v.field("epochs", epochs, "its training epochs (0 = distill.epochs)", Validator<std::int64_t>(non_negative_int));
    v.field("optimizer", optimizer, "its optimizer: sgd, adam, adamw (empty = optim.name)",
            one_of({"", "sgd", "adam", "adamw"}));
    v.field("lr", lr, "its base learning rate (0 = optim.lr)", Validator<double>(non_negative));
  }
};

// distill: DCQ sectional distillation (methods.md 5; apps/distill.hpp). Off while teacher is empty.
struct DistillConfig {
  std::string teacher = "";                 // a lowbit checkpoint of the float teacher
  std::vector<std::string> splits{};        // top-level layers after which a section ends
  std::int64_t auto_sections = 0;           // N > 0: N sections cut at stage boundaries
  std::string loss = "mse";                 // sections before the last: mse, l1, huber
  double huber_delta = 0.4;
  std::string last_loss = "cross_entropy";  // the last section: cross_entropy or kd (CE + KD on teacher logits)
  double kd_weight = 0.5;
  double kd_temperature = 4.0;
  std::int64_t epochs = 0;  // per section; 0 = train.epochs
  std::int64_t bn_batches = 200;
  std::int64_t finetune_epochs = 0;
  std::vector<SectionSettings> per_section{};

  template <typename V> void visit(V& v) {
    v.field("teacher", teacher,
            "float teacher checkpoint trained by lowbit (same model as this config); empty = no distillation");
    v.field("splits", splits, "names of the top-level layers after which a section ends, e.g. [pool1, pool2]");
    v.field("auto", auto_sections, "N > 0: N sections cut at stage boundaries (pool<k>, layer<k>) instead of splits",
            Validator<std::int64_t>(non_negative_int));
    v.field("loss", loss, "loss of every section but the last, on feature maps: mse, l1, huber",
            one_of({"mse", "l1", "huber"}));
    v.field("huber_delta", huber_delta, "huber: delta", Validator<double>(positive));
    v.field("last_loss", last_loss,
            "loss of the last section: cross_entropy (labels) or kd (cross-entropy plus KD on teacher logits)",
            one_of({"cross_entropy", "kd"}));
    v.field("kd_weight", kd_weight, "kd: weight of the KD term (the cross-entropy gets 1 - kd_weight)",
            Validator<double>(non_negative));
    v.field("kd_temperature", kd_temperature, "kd: softmax temperature", Validator<double>(positive));
    v.field("epochs", epochs, "training epochs of each section (0 = train.epochs)",
            Validator<std::int64_t>(non_negative_int));
    v.field("bn_batches", bn_batches,
            "training batches over which the stitched network's BN statistics are re-estimated (0 = off)",
            Validator<std::int64_t>(non_negative_int));
    v.field("finetune_epochs", finetune_epochs,
            "end-to-end fine-tuning epochs of the stitched network (0 = off, as in the paper)",
            Validator<std::int64_t>(non_negative_int));
    v.list("per_section", per_section,
           "settings of single sections: each item has `section` (1-based) and any of epochs, optimizer, lr",
           SectionSettings{});
  }

  bool enabled() const { return !teacher.empty(); }
};

struct Config {
  std::vector<std::string> plugins{};  // shared libraries loaded before the rest is checked
  ModelConfig model;
  DataConfig data;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  QuantSection quant;
  DistillConfig distill;

  template <typename V> void visit(V& v) {
    v.field("plugins", plugins,
            "plugin shared libraries (docs/plugins.md); relative paths are against the config's folder");
    v.section("model", model, "network architecture");
    v.section("quant", quant, "how each layer's weights and inputs are quantized");
    v.section("data", data, "dataset and augmentation");
    v.section("optim", optim, "optimizer");
    v.section("schedule", schedule, "learning-rate schedule (per step)");
    v.section("train", train, "training loop");
    v.section("distill", distill, "DCQ sectional distillation from a float teacher (train --section i)");
  }
};

// Loads `path` (may be empty: all defaults), applies --set overrides in order, reads strictly.
// Errors name the file, the key path and the closest valid key.
Config load_config(const std::string& path, const std::vector<std::string>& overrides);
// Parses YAML text (a checkpoint's stored config) strictly.
Config parse_config(const std::string& yaml_text);
std::string to_yaml(const Config& config);

}  // namespace lowbit::app
