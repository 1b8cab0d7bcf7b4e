// infer: runs an exported integer model (.lbm) with the XNOR engine, on a dataset split (accuracy,
// throughput, optional per-example predictions) or on one image file (top classes).
//
//   infer --model model.lbm --data fashion_mnist [--split test] [--predictions preds.csv]
//   infer --model model.lbm --image shirt.png [--top 3]
//
// The images go to the engine as data/ yields them, (C, H, W) floats in [0, 1]; the model
// normalizes them itself (its input spec holds training's mean/std). Predictions are the first
// maximum of the logits, as `evaluate` (core::argmax) takes them.

#include "apps/session.hpp"
#include "data/registry.hpp"
#include "data/resize.hpp"
#include "quant/xnor/kernels.hpp"
#include "quant/xnor/model.hpp"
#include "quant/xnor/runner.hpp"

#include <fmt/format.h>
#include <stb/stb_image.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <numeric>
#include <stdexcept>

namespace {

using namespace lowbit;
namespace xnor = lowbit::quant::xnor;

struct Options {
  std::string model, data, root, split = "test", image, predictions;
  std::int64_t batch = 32, threads = 0, limit = 0, top = 5, resize = -1, crop = -1;
  bool summary = false, profile = false;
};

[[noreturn]] void fail(const std::string& msg) { throw std::runtime_error(msg); }

std::int64_t argmax(const float* logits, std::int64_t classes) {
  std::int64_t best = 0;
  for (std::int64_t k = 1; k < classes; ++k) {
    if (logits[k] > logits[best]) best = k;
  }
  return best;
}

std::string class_name(const xnor::Model& m, std::int64_t k) {
  return m.class_names.empty() ? std::to_string(k) : m.class_names[static_cast<std::size_t>(k)];
}

// A size option given on the command line, else the model's metadata value, else 0.
std::int64_t size_option(std::int64_t given, const xnor::Model& m, const char* key) {
  if (given >= 0) return given;
  const auto it = m.metadata.find(key);
  if (it == m.metadata.end()) return 0;
  try {
    return std::stoll(it->second);
  } catch (const std::exception&) {
    fail(fmt::format("the model's metadata '{}' is '{}', not a number", key, it->second));
  }
}

std::string input_shape(const xnor::Model& m) {
  return fmt::format("({}, {}, {})", m.input.channels, m.input.height, m.input.width);
}

// Per-op wall time of the dataset run, per image.
void print_profile(const xnor::Runner& runner, std::int64_t images) {
  const auto& ops = runner.model().ops;
  const auto& seconds = runner.op_seconds();
  double total = 0.0;
  for (double s : seconds) total += s;
  fmt::print("{:>4}  {:<24} {:<15} {:>12} {:>7}\n", "#", "op", "kind", "us/image", "share");
  for (std::size_t i = 0; i < ops.size(); ++i) {
    fmt::print("{:>4}  {:<24} {:<15} {:>12.2f} {:>6.1f}%\n", i, ops[i].name,
               xnor::op_kind_name(xnor::op_kind(ops[i].params)),
               1e6 * seconds[i] / static_cast<double>(std::max<std::int64_t>(images, 1)),
               total > 0 ? 100.0 * seconds[i] / total : 0.0);
  }
}

int run_image(const Options& o, xnor::Runner& runner) {
  const xnor::Model& m = runner.model();
  const int channels = static_cast<int>(m.input.channels);
  if (channels != 1 && channels != 3) {
    fail(
        fmt::format("the model takes {} channels; single images can be given to 1- or 3-channel "
                    "models only",
                    channels));
  }
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<unsigned char, void (*)(void*)> pixels(
      stbi_load(o.image.c_str(), &w, &h, &comp, channels), stbi_image_free);
  if (!pixels) fail(fmt::format("cannot decode '{}': {}", o.image, stbi_failure_reason()));
  const std::int64_t resize = size_option(o.resize, m, "resize"),
                     crop = size_option(o.crop, m, "crop");
  const data::ResizeCrop g = data::resize_crop_geometry(h, w, resize, crop, o.image);
  if (g.out_h != m.input.height || g.out_w != m.input.width) {
    fail(
        fmt::format("'{}' is {}x{} (width x height){}, the model takes {}x{} images. HINT: "
                    "resize it, or pass --resize / --crop as the training data was prepared",
                    o.image, g.out_w, g.out_h, resize || crop ? " after resize/crop" : "",
                    m.input.width, m.input.height));
  }
  std::vector<float> image(static_cast<std::size_t>(channels * g.out_h * g.out_w));
  data::resize_crop_bilinear(pixels.get(), h, w, channels, g, image.data());
  const std::vector<float> logits = runner.run(image.data(), 1);
  const auto classes = static_cast<std::int64_t>(logits.size());
  // Softmax for display (max-subtracted, double).
  const double mx = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(logits.size());
  double sum = 0.0;
  for (std::size_t k = 0; k < p.size(); ++k) sum += p[k] = std::exp(logits[k] - mx);
  std::vector<std::int64_t> order(logits.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return logits[static_cast<std::size_t>(a)] > logits[static_cast<std::size_t>(b)];
  });
  fmt::print("{} ({}x{}, {} channel{}): prediction {} '{}'\n", o.image, w, h, channels,
             channels == 1 ? "" : "s", argmax(logits.data(), classes),
             class_name(m, argmax(logits.data(), classes)));
  fmt::print("{:>5}  {:<24} {:>10} {:>8}\n", "class", "name", "logit", "prob");
  for (std::int64_t i = 0; i < std::min(o.top, classes); ++i) {
    const auto k = static_cast<std::size_t>(order[static_cast<std::size_t>(i)]);
    fmt::print("{:>5}  {:<24} {:>10.4f} {:>7.2f}%\n", k,
               class_name(m, static_cast<std::int64_t>(k)), logits[k], 100.0 * p[k] / sum);
  }
  return 0;
}

int run_dataset(const Options& o, xnor::Runner& runner, int threads) {
  const xnor::Model& m = runner.model();
  std::string name = o.data;
  if (name.empty()) {
    const auto it = m.metadata.find("dataset");
    if (it == m.metadata.end()) {
      fail(
          "give --data NAME (fashion_mnist, mnist, cifar10, image_folder, synthetic) or --image "
          "FILE; the model names no dataset in its metadata");
    }
    name = it->second;
  }
  app::register_builtins();
  data::DatasetSpec spec;
  spec.name = name;
  spec.root = o.root;
  spec.split = o.split;
  spec.channels = m.input.channels;
  spec.resize = size_option(o.resize, m, "resize");
  spec.crop = size_option(o.crop, m, "crop");
  const std::shared_ptr<data::Dataset> dataset = data::make_dataset(spec);
  const data::ItemShape shape = dataset->item_shape();
  if (shape.c != m.input.channels || shape.h != m.input.height || shape.w != m.input.width) {
    fail(
        fmt::format("{} images are {}, the model takes {} (C, H, W). HINT: is this the dataset "
                    "the model was trained on?",
                    dataset->name(), shape.str(), input_shape(m)));
  }
  const std::int64_t classes = runner.num_classes();
  if (dataset->num_classes() != classes) {
    fail(fmt::format("{} has {} classes, the model predicts {}", dataset->name(),
                     dataset->num_classes(), classes));
  }
  std::int64_t count = dataset->size();
  if (o.limit > 0) count = std::min(count, o.limit);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> csv(nullptr, std::fclose);
  if (!o.predictions.empty()) {
    csv.reset(std::fopen(o.predictions.c_str(), "w"));
    if (!csv) fail(fmt::format("cannot write '{}': {}", o.predictions, std::strerror(errno)));
    fmt::print(csv.get(), "index,label,prediction\n");
  }
  const std::int64_t numel = shape.numel();
  std::vector<float> images(static_cast<std::size_t>(o.batch * numel));
  std::vector<float> logits(static_cast<std::size_t>(o.batch * classes));
  std::vector<std::int64_t> labels(static_cast<std::size_t>(o.batch));
  std::int64_t correct = 0;
  double engine_seconds = 0.0;
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t first = 0; first < count; first += o.batch) {
    const std::int64_t n = std::min(o.batch, count - first);
    for (std::int64_t j = 0; j < n; ++j) {
      dataset->get(first + j, images.data() + j * numel, labels[static_cast<std::size_t>(j)]);
    }
    const auto t0 = std::chrono::steady_clock::now();
    runner.run(images.data(), n, logits.data());
    engine_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t pred = argmax(logits.data() + j * classes, classes);
      const std::int64_t label = labels[static_cast<std::size_t>(j)];
      correct += pred == label;
      if (csv) fmt::print(csv.get(), "{},{},{}\n", first + j, label, pred);
    }
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (csv && std::fflush(csv.get()) != 0) fail(fmt::format("cannot write '{}'", o.predictions));
  const double acc =
      count > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(count) : 0.0;
  fmt::print("{} on {} ({} split, {} examples): accuracy {:.2f}% ({}/{})\n", o.model,
             dataset->name(), o.split, count, acc, correct, count);
  fmt::print(
      "engine: {:.1f} images/s ({:.3f} ms/image; {:.1f} images/s with data loading), batch "
      "{}, {} thread{}, kernels {}\n",
      engine_seconds > 0 ? static_cast<double>(count) / engine_seconds : 0.0,
      count > 0 ? 1e3 * engine_seconds / static_cast<double>(count) : 0.0,
      total > 0 ? static_cast<double>(count) / total : 0.0, o.batch, threads,
      threads == 1 ? "" : "s", xnor::xnor_kernel_path_name());
  if (csv) fmt::print("predictions: {}\n", o.predictions);
  if (o.profile) print_profile(runner, count);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{
      "lowbit infer: runs an integer model (.lbm, written by `export`) with the XNOR "
      "engine.\n"
      "Examples:\n"
      "  infer --model model.lbm --data fashion_mnist --predictions preds.csv\n"
      "  infer --model model.lbm --image shirt.png"};
  Options o;
  cli.add_option("--model", o.model, "integer model file (.lbm)")->required();
  cli.add_option("--data", o.data,
                 "dataset as in the configs: fashion_mnist, mnist, cifar10, image_folder, "
                 "synthetic (default: the model's metadata 'dataset')");
  cli.add_option("--image", o.image,
                 "one image file (png, jpg, bmp, ppm, pgm): print the top classes")
      ->excludes("--data");
  cli.add_option("--root", o.root, "dataset folder (default: the dataset's default location)");
  cli.add_option("--split", o.split, "dataset split")
      ->check(CLI::IsMember({"test", "train"}))
      ->capture_default_str();
  cli.add_option("--batch", o.batch, "images per engine call")
      ->check(CLI::Range(1, 1 << 16))
      ->capture_default_str();
  cli.add_option("--threads", o.threads, "threads (0 = OMP_NUM_THREADS or all cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cli.add_option("--limit", o.limit, "evaluate only the first N examples (0 = all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cli.add_option("--predictions", o.predictions, "write index,label,prediction per example (CSV)");
  cli.add_option("--top", o.top, "--image: classes to list")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cli.add_option("--resize", o.resize,
                 "image_folder / --image: short side after resizing (default: the model's "
                 "metadata 'resize', else keep)")
      ->check(CLI::NonNegativeNumber);
  cli.add_option("--crop", o.crop,
                 "image_folder / --image: square center crop (default: the model's metadata "
                 "'crop', else none)")
      ->check(CLI::NonNegativeNumber);
  cli.add_flag("--summary", o.summary, "print the model's layer table first");
  cli.add_flag("--profile", o.profile, "print the engine's time per op after a dataset run");
  std::vector<std::string> plugins;
  cli.add_option("--plugin", plugins,
                 "load a plugin shared library, e.g. one adding a dataset for --data (repeatable)")
      ->take_all();
  CLI11_PARSE(cli, argc, argv);

  try {
    app::load_plugins(plugins);
    app::TrainConfig threads_config;
    threads_config.threads = o.threads;
    const int threads = app::configure_threads(threads_config);
    xnor::Runner runner(xnor::load_model(o.model));
    if (o.summary) fmt::print("{}", xnor::summary(runner.model()));
    return o.image.empty() ? run_dataset(o, runner, threads) : run_image(o, runner);
  } catch (const std::exception& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  }
}
