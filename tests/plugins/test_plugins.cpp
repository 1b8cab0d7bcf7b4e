// Plugins end to end (issue 8, docs/plugins.md): the example plugins (examples/plugins) train from
// a config, their checkpoints evaluate in a fresh process, broken plugins end with a clear message
// and exit code 2 (never a crash), the gradients are checked with the gradcheck helper plugin
// authors get, and ([install], its own ctest entry) an installed lowbit builds the examples out of
// tree and trains with them.

#include "apps/checkpoint.hpp"
#include "apps/session.hpp"
#include "core/ops.hpp"
#include "layers/layer_registry.hpp"
#include "layers/plugin.hpp"
#include "tests/support/gradcheck.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using namespace lowbit;
using Catch::Matchers::Contains;

namespace {

using Result = test::CommandResult;
using test::TempDir;
Result run(const std::string& command) { return test::run_command(command); }

// Single-quoted for the shell (built by appending: GCC 12 warns falsely on "'" + s + "'").
std::string quote(const fs::path& p) {
  std::string q(1, '\'');
  q += p.string();
  q += '\'';
  return q;
}

// A small quick run on synthetic data, on top of the example configs.
std::string quick(const fs::path& out_dir) {
  return " --set data.dataset=synthetic --set model.name=mlp --set model.hidden=[32,32]"
         " --set train.limit_train_batches=4 --set train.threads=1 --set train.log_every_steps=2"
         " --set train.out_dir=" +
         quote(out_dir);
}

std::string example(const char* file) {
  return quote(fs::path(LOWBIT_SOURCE_DIR) / "examples" / "plugins" / file);
}

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

// The run's command failed cleanly: exit code 2 from the error handler, not a signal.
void require_clean_failure(const Result& r) {
  INFO(r.output);
  REQUIRE(r.exit_code == 2);
  REQUIRE_THAT(r.output, Contains("error: "));
}

}  // namespace

TEST_CASE("example plugins train from a config, checkpoint, and evaluate in a fresh process",
          "[plugins]") {
  TempDir dir("train");
  SECTION("layer plugin: rsign as the hidden activation") {
    const Result t = run(std::string(LOWBIT_TRAIN_EXE) + " --config " + example("rsign.yaml") +
                         " --plugin " + LOWBIT_RSIGN_PLUGIN + quick(dir.path));
    INFO(t.output);
    REQUIRE(t.exit_code == 0);
    REQUIRE_THAT(t.output, Contains("librsign.so: layer 'rsign'"));  // what the plugin added
    const fs::path ckpt = dir.path / "rsign" / "last.ckpt";
    REQUIRE(fs::exists(ckpt));
    // The run records the plugin file it loaded (the config's build/librsign.so does not exist
    // here: --plugin stood in for it).
    std::ifstream stored(dir.path / "rsign" / "config.yaml");
    std::stringstream text;
    text << stored.rdbuf();
    REQUIRE_THAT(text.str(), Contains(std::string("plugins: [") +
                                      fs::canonical(LOWBIT_RSIGN_PLUGIN).string() + "]"));

    const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + quote(ckpt));
    INFO(e.output);
    REQUIRE(e.exit_code == 0);
    REQUIRE_THAT(e.output, Contains("accuracy"));

    // In this process too: the stored config loads the plugin, the layers come back with their
    // trained thresholds.
    const app::Config config = app::read_checkpoint_config(ckpt.string());
    REQUIRE(config.model.activation == "rsign");
    const auto data = app::load_datasets(config.data, config.train.seed);
    const auto model = app::build_model(config, *data.train);
    app::load_checkpoint_model(ckpt.string(), *model);
    int thresholds = 0;
    bool trained = false;
    for (const auto& [name, p] : model->named_parameters()) {
      if (name.size() < 10 || name.substr(name.size() - 10) != ".threshold") continue;
      ++thresholds;
      trained = trained || p.detach().contiguous().data<float>()[0] != 0.0f;
    }
    REQUIRE(thresholds == 2);  // relu_fc1, relu_fc2
    REQUIRE(trained);
  }
  SECTION("quantizer plugin: ternary weights") {
    const Result t = run(std::string(LOWBIT_TRAIN_EXE) + " --config " + example("ternary.yaml") +
                         " --plugin " + LOWBIT_TERNARY_PLUGIN + quick(dir.path));
    INFO(t.output);
    REQUIRE(t.exit_code == 0);
    REQUIRE_THAT(t.output, Contains("QuantLinear    2"));  // fc2: 2-bit weights in the summary
    const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " +
                         quote(dir.path / "ternary" / "last.ckpt"));
    INFO(e.output);
    REQUIRE(e.exit_code == 0);
  }
}

TEST_CASE("a checkpoint whose plugin is gone names the file it needs; --plugin stands in",
          "[plugins]") {
  TempDir dir("missing");
  fs::create_directories(dir.path / "plugins");
  fs::copy_file(LOWBIT_RSIGN_PLUGIN, dir.path / "plugins" / "librsign.so");
  // A relative plugin path resolves against the config's folder, not the working directory.
  write(dir.path / "config.yaml", "plugins: [plugins/librsign.so]\nmodel: {activation: rsign}\n");
  const Result t = run("cd / && " + std::string(LOWBIT_TRAIN_EXE) + " --config " +
                       quote(dir.path / "config.yaml") + quick(dir.path));
  INFO(t.output);
  REQUIRE(t.exit_code == 0);
  const fs::path ckpt = dir.path / "config" / "last.ckpt";
  REQUIRE(fs::exists(ckpt));

  fs::remove_all(dir.path / "plugins");
  for (const std::string& exe :
       {std::string(LOWBIT_EVALUATE_EXE),
        std::string(LOWBIT_EXPORT_EXE) + " -o " + quote(dir.path / "m.lbm")}) {
    const Result e = run(exe + " --checkpoint " + quote(ckpt));
    require_clean_failure(e);
    REQUIRE_THAT(e.output,
                 Contains("needs the plugin '" + (dir.path / "plugins" / "librsign.so").string()));
    REQUIRE_THAT(e.output, Contains("--plugin PATH/librsign.so"));
  }
  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + quote(ckpt) +
                       " --plugin " + LOWBIT_RSIGN_PLUGIN);
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
}

TEST_CASE("broken plugins end with a clear message and a non-zero exit, never a crash",
          "[plugins]") {
  TempDir dir("broken");
  const std::string train = std::string(LOWBIT_TRAIN_EXE) + " --print-config";
  auto with_config = [&](const std::string& yaml) {
    write(dir.path / "config.yaml", yaml);
    return run(train + " --config " + quote(dir.path / "config.yaml"));
  };

  SECTION("wrong path: relative to the config's folder, named in full") {
    const Result r = with_config("plugins: [missing/libnope.so]\n");
    require_clean_failure(r);
    REQUIRE_THAT(r.output,
                 Contains("plugin file '" + (dir.path / "missing" / "libnope.so").string() +
                          "' does not exist"));
    REQUIRE_THAT(r.output, Contains("config.yaml"));
  }
  SECTION("not a shared library: dlerror() is quoted") {
    write(dir.path / "libtext.so", "not an ELF file\n");
    const Result r = run(train + " --plugin " + quote(dir.path / "libtext.so"));
    require_clean_failure(r);
    REQUIRE_THAT(r.output, Contains("cannot load plugin '" + (dir.path / "libtext.so").string()));
  }
  SECTION("missing entry point: the file, the symbol and dlerror()") {
    const Result r = run(train + " --plugin " + LOWBIT_NO_ENTRY_PLUGIN);
    require_clean_failure(r);
    REQUIRE_THAT(r.output, Contains(fs::canonical(LOWBIT_NO_ENTRY_PLUGIN).string()));
    REQUIRE_THAT(r.output, Contains("no entry point 'lowbit_plugin_register'"));
    REQUIRE_THAT(r.output, Contains("undefined symbol: lowbit_plugin_register"));
  }
  SECTION("wrong API version: both versions") {
    const Result r = with_config(std::string("plugins: [") + LOWBIT_WRONG_VERSION_PLUGIN + "]\n");
    require_clean_failure(r);
    REQUIRE_THAT(r.output,
                 Contains("was built for plugin API version 42, but this lowbit has plugin "
                          "API version 1"));
    REQUIRE_THAT(r.output, Contains("liblowbit_test_wrong_version.so"));
  }
  SECTION("a name lowbit already has: the plugin and the name") {
    const Result r = run(train + " --plugin " + LOWBIT_TAKEN_NAME_PLUGIN);
    require_clean_failure(r);
    REQUIRE_THAT(r.output,
                 Contains("liblowbit_test_taken_name.so' registers layer 'relu', but that name "
                          "is already taken by lowbit (built in)"));
  }
  SECTION("a name another plugin has: both plugins") {
    fs::copy_file(LOWBIT_TERNARY_PLUGIN, dir.path / "libternary_copy.so");
    const Result r = run(train + " --plugin " + LOWBIT_TERNARY_PLUGIN + " --plugin " +
                         quote(dir.path / "libternary_copy.so"));
    require_clean_failure(r);
    REQUIRE_THAT(r.output,
                 Contains("libternary_copy.so' registers quantizer 'ternary', but that name is "
                          "already taken by plugin '" +
                          fs::canonical(LOWBIT_TERNARY_PLUGIN).string() + "'"));
  }
  SECTION("a plugin's names are checked like built-in ones") {
    Result r = with_config(std::string("plugins: [") + LOWBIT_RSIGN_PLUGIN +
                           "]\nmodel: {activation: rsgn}\n");
    require_clean_failure(r);
    REQUIRE_THAT(r.output,
                 Contains("model.activation: unknown layer 'rsgn'; did you mean 'rsign'?"));
    r = with_config(std::string("plugins: [") + LOWBIT_TERNARY_PLUGIN +
                    "]\nquant: {activation_quantizer: ternary}\n");
    require_clean_failure(r);
    REQUIRE_THAT(r.output, Contains("ternary"));
  }
}

TEST_CASE("plugin gradients pass the gradcheck helper plugin authors get", "[plugins][gradcheck]") {
  SECTION("the example's own check, as its authors run it") {
    const Result r = run(std::string(LOWBIT_CHECK_GRADIENTS_EXE) + " " + LOWBIT_RSIGN_PLUGIN + " " +
                         LOWBIT_TERNARY_PLUGIN);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    REQUIRE_THAT(r.output, Contains("ok   rsign"));
    REQUIRE_THAT(r.output, Contains("ok   ternary"));
  }
  SECTION("loaded into this process: rsign's estimator is the gradient of hardtanh(x - t)") {
    app::load_plugins({LOWBIT_RSIGN_PLUGIN});
    app::load_plugins({LOWBIT_RSIGN_PLUGIN});  // a second load of the same file is a no-op
    REQUIRE(layers::find_loaded_plugin(LOWBIT_RSIGN_PLUGIN) != nullptr);
    REQUIRE(layers::registrant("layer", "rsign") ==
            "plugin '" + fs::canonical(LOWBIT_RSIGN_PLUGIN).string() + "'");
    const layers::ModulePtr layer = layers::make_layer("rsign", {"act"});
    core::Tensor t = layer->named_parameters().at(0).second;
    t.data<float>()[0] = -0.3f;
    // Away from the surrogate's kinks at |x - t| = 1.
    core::Tensor x = core::Tensor::from_vector(
        std::vector<float>{-2.0f, -1.1f, -0.9f, -0.31f, -0.2f, 0.0f, 0.5f, 0.8f}, {2, 4});
    x.set_requires_grad(true);
    const auto r = test::gradcheck(
        [&](const std::vector<core::Tensor>& in) {
          const core::Tensor y = layer->forward(in[0]);
          return core::hardtanh(in[0] - in[1]).detach() + (y - y.detach());
        },
        {x, t});
    INFO(r.message);
    REQUIRE(r);
    // sign(0) = +1 at the threshold.
    core::NoGradGuard no_grad;
    const core::Tensor y = layer->forward(core::Tensor::full({1}, -0.3));
    REQUIRE(y.contiguous().data<float>()[0] == 1.0f);
  }
}

TEST_CASE("an installed lowbit builds the example plugins out of tree, and trains with them",
          "[plugins][install]") {
  TempDir dir("install");
  const std::string cmake = quote(LOWBIT_CMAKE_COMMAND);
  const fs::path prefix = dir.path / "prefix", work = dir.path / "work";
  Result r = run(cmake + " --install " + quote(LOWBIT_BINARY_DIR) + " --prefix " + quote(prefix));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(prefix / "include" / "lowbit" / "layers" / "plugin_api.hpp"));
  REQUIRE(fs::exists(prefix / "include" / "lowbit" / "tests" / "support" / "gradcheck.hpp"));
  REQUIRE(fs::exists(prefix / "lib" / "cmake" / "lowbit" / "lowbitConfig.cmake"));

  // The example folder as a user has it: sources and configs, built in ./build.
  fs::create_directories(work);
  for (const auto& f :
       fs::directory_iterator(fs::path(LOWBIT_SOURCE_DIR) / "examples" / "plugins")) {
    if (f.is_regular_file()) fs::copy_file(f.path(), work / f.path().filename());
  }
  r = run(cmake + " -S " + quote(work) + " -B " + quote(work / "build") +
          " -DCMAKE_BUILD_TYPE=Release" + " -DCMAKE_PREFIX_PATH=" + quote(prefix) +
          " -DCMAKE_CXX_COMPILER=" + quote(LOWBIT_CXX_COMPILER));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = run(cmake + " --build " + quote(work / "build") + " -j2");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  r = run(quote(work / "build" / "check_plugin_gradients") + " " +
          quote(work / "build" / "librsign.so") + " " + quote(work / "build" / "libternary.so"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);

  // The installed train and evaluate with the out-of-tree plugin, named by the config alone.
  r = run(quote(prefix / "bin" / "train") + " --config " + quote(work / "rsign.yaml") +
          quick(dir.path));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  r = run(quote(prefix / "bin" / "evaluate") + " --checkpoint " +
          quote(dir.path / "rsign" / "last.ckpt"));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}
