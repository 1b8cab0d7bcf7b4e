// End-to-end runs of the train and evaluate executables on a small synthetic problem: exact
// resume after kill -9, bad inputs, non-finite loss, checkpoint files.

#include "apps/checkpoint.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

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

const char* const kConfig = R"(model:
  name: mlp
  hidden: [32]
data:
  dataset: synthetic
  hflip: false
  synthetic: {train_size: 256, test_size: 64, num_classes: 4, channels: 1, height: 8, width: 8}
optim:
  name: sgd
  lr: 0.05
schedule:
  name: cosine
train:
  epochs: 3
  batch_size: 32
  threads: 1
  seed: 3
  log_every_steps: 1
  checkpoint_every_steps: 5
  keep_last: 2
)";

std::string write_config(const fs::path& dir, const std::string& text) {
  const fs::path p = dir / "config.yaml";
  std::ofstream(p) << text;
  return p.string();
}

std::string train(const std::string& args) { return std::string(LOWBIT_TRAIN_EXE) + " " + args; }

// The train rows of metrics.csv without the images/s column (timing differs between runs).
std::vector<std::string> train_rows(const fs::path& run_dir) {
  std::ifstream in(run_dir / "metrics.csv");
  std::vector<std::string> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("train,", 0) != 0 && line.rfind("test,", 0) != 0) continue;
    rows.push_back(line.substr(0, line.rfind(',')));
  }
  return rows;
}

}  // namespace

TEST_CASE("train: a run writes config, metrics, curves and checkpoints; evaluate reads them",
          "[apps][runs]") {
  TempDir tmp("files");
  const std::string cfg = write_config(tmp.path, kConfig);
  const fs::path out = tmp.path / "run";
  const Result r = run(train("--config " + cfg + " --out " + out.string()));
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const char* f : {"config.yaml", "metrics.csv", "metrics.jsonl", "curves.svg", "last.ckpt", "best.ckpt",
                        "epoch-002.ckpt", "epoch-003.ckpt"}) {
    CHECK(fs::exists(out / f));
  }
  CHECK_FALSE(fs::exists(out / "epoch-001.ckpt"));  // keep_last: 2
  CHECK(train_rows(out).size() == 3 * 8 + 3);       // a row per step and per evaluation

  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + (out / "best.ckpt").string() + " --json");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  CHECK_THAT(e.output, Contains("\"accuracy\"") && Contains("\"confusion\""));
  // A learnable problem: well above chance (25%).
  const auto pos = e.output.find("\"accuracy\": ");
  REQUIRE(pos != std::string::npos);
  CHECK(std::stod(e.output.substr(pos + 12)) > 0.6);
}

TEST_CASE("train: kill -9 then --resume auto reproduces the uninterrupted run exactly", "[apps][runs]") {
  TempDir tmp("resume");
  const std::string cfg = write_config(tmp.path, kConfig);
  const fs::path a = tmp.path / "a", b = tmp.path / "b";
  const Result full = run(train("--config " + cfg + " --out " + a.string()));
  INFO(full.output);
  REQUIRE(full.exit_code == 0);

  // Killed after step 13: the last checkpoint is from step 10, so steps 11..13 are redone.
  const Result killed = run("LOWBIT_DEBUG_KILL_AT_STEP=13 " + train("--config " + cfg + " --out " + b.string()));
  REQUIRE(killed.exit_code == 128 + 9);
  const Result resumed = run(train("--config " + cfg + " --out " + b.string() + " --resume auto"));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK_THAT(resumed.output, Contains("resumed from"));
  const auto rows_a = train_rows(a), rows_b = train_rows(b);
  REQUIRE(rows_a.size() == 27);
  CHECK(rows_a == rows_b);
}

TEST_CASE("train: bad inputs end with a one-line error and a non-zero exit", "[apps][runs]") {
  TempDir tmp("bad");
  const fs::path out = tmp.path / "run";
  const std::string bad_key = write_config(tmp.path, std::string(kConfig) + "  epocs: 2\n");
  Result r = run(train("--config " + bad_key + " --out " + out.string()));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("error: config: unknown key 'train.epocs'") && Contains("train.epochs"));

  const std::string malformed = write_config(tmp.path, "model: {name: mlp\n");
  r = run(train("--config " + malformed));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("not valid YAML"));

  r = run(train("--config " + write_config(tmp.path, "train:\n  batch_size: big\n")));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("train.batch_size must be an integer"));

  r = run(train("--config " + write_config(tmp.path, "data:\n  dataset: fashion_mnist\n  root: /nonexistent/fm\n") +
                " --out " + out.string()));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("/nonexistent/fm") && Contains("HINT"));

  // A truncated checkpoint: resume and evaluate both refuse it with a clear message.
  const std::string cfg = write_config(tmp.path, kConfig);
  REQUIRE(run(train("--config " + cfg + " --out " + out.string() + " --set train.epochs=1")).exit_code == 0);
  const fs::path ckpt = out / "last.ckpt";
  const auto size = fs::file_size(ckpt);
  fs::resize_file(ckpt, size / 2);
  r = run(train("--config " + cfg + " --out " + out.string() + " --set train.epochs=1 --resume auto"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("truncated"));
  r = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + ckpt.string());
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("truncated"));

  // A checkpoint from another config is refused with what differs.
  REQUIRE(run(train("--config " + cfg + " --out " + (tmp.path / "other").string() + " --set train.epochs=1"))
              .exit_code == 0);
  r = run(train("--config " + cfg + " --out " + (tmp.path / "other").string() +
                " --set train.epochs=1 --set model.hidden=[16] --resume auto"));
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Contains("model.hidden") && Contains("[32]") && Contains("[16]"));
}

TEST_CASE("train: a non-finite loss stops the run and keeps the last good checkpoint", "[apps][runs]") {
  TempDir tmp("nan");
  // Epoch 1 trains normally; the step schedule then multiplies the LR by 1e30 and the loss blows up.
  const std::string cfg = write_config(tmp.path, kConfig);
  const fs::path out = tmp.path / "run";
  const Result r = run(train("--config " + cfg + " --out " + out.string() +
                             " --set train.checkpoint_every_steps=0 --set schedule.name=step --set schedule.step_epochs=1"
                             " --set schedule.gamma=1e30"));
  INFO(r.output);
  CHECK(r.exit_code == 3);
  CHECK_THAT(r.output, Contains("the loss became") && Contains("last good checkpoint"));
  REQUIRE(fs::exists(out / "last.ckpt"));
  const lowbit::app::Config stored = lowbit::app::read_checkpoint_config((out / "last.ckpt").string());
  CHECK(stored.model.name == "mlp");
  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + (out / "last.ckpt").string());
  CHECK(e.exit_code == 0);
}

TEST_CASE("train: quantized schemes train, resume exactly after kill -9, and evaluate", "[apps][runs]") {
  // mlp fc1 (float: first), fc2 (quantized), fc (float: last). Each scheme brings its own state:
  // Bop's gradient EMA behind a routing optimizer, stochastic BinaryConnect's generator, LSQ's
  // learned steps and their initialisation flag, PACT's alpha.
  const std::vector<std::pair<std::string, std::string>> schemes{
      {"bnn_bop", "--set quant.scheme=bnn --set optim.name=adam --set optim.lr=0.01 "
                  "--set optim.binary_optimizer=bop --set optim.bop_gamma=0.001"},
      {"bc_stochastic", "--set quant.scheme=binary_connect --set quant.stochastic=true"},
      {"lsq", "--set quant.scheme=lsq --set quant.weight_bits=2 --set quant.activation_bits=2"},
      {"pact", "--set quant.scheme=pact --set quant.weight_bits=2 --set quant.activation_bits=2"},
  };
  for (const auto& [name, sets] : schemes) {
    SECTION(name) {
      TempDir tmp("quant_" + name);
      std::string text = kConfig;
      text.replace(text.find("hidden: [32]"), 12, "hidden: [32, 32]");
      const std::string cfg = write_config(tmp.path, text);
      const fs::path a = tmp.path / "a", b = tmp.path / "b";
      const Result full = run(train("--config " + cfg + " --out " + a.string() + " " + sets));
      INFO(full.output);
      REQUIRE(full.exit_code == 0);
      CHECK_THAT(full.output, Contains("QuantLinear"));
      const Result killed =
          run("LOWBIT_DEBUG_KILL_AT_STEP=13 " + train("--config " + cfg + " --out " + b.string() + " " + sets));
      REQUIRE(killed.exit_code == 128 + 9);
      const Result resumed = run(train("--config " + cfg + " --out " + b.string() + " --resume auto " + sets));
      INFO(resumed.output);
      REQUIRE(resumed.exit_code == 0);
      CHECK(train_rows(a) == train_rows(b));
      const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + (a / "best.ckpt").string() + " --json");
      INFO(e.output);
      REQUIRE(e.exit_code == 0);
      const auto pos = e.output.find("\"accuracy\": ");
      REQUIRE(pos != std::string::npos);
      CHECK(std::stod(e.output.substr(pos + 12)) > 0.5);
    }
  }
}

TEST_CASE("train: init_from fine-tunes a float checkpoint with DBSSQ and resumes exactly",
          "[apps][runs]") {
  // A float mlp, then DBSSQ (weights and activations of fc2) started from its weights: the
  // quantizer buffers are missing from the float checkpoint and keep their initial values; sigma
  // is captured on the first training step, and the eps schedule follows the epoch on resume.
  TempDir tmp("init_from");
  std::string text = kConfig;
  text.replace(text.find("hidden: [32]"), 12, "hidden: [32, 32]");
  const std::string cfg = write_config(tmp.path, text);
  const fs::path fp = tmp.path / "fp", a = tmp.path / "a", b = tmp.path / "b";
  REQUIRE(run(train("--config " + cfg + " --out " + fp.string())).exit_code == 0);
  const std::string sets =
      " --set quant.scheme=dbssq --set quant.weight_bits=2 --set "
      "quant.activation_quantizer=dbssq --set quant.activation_bits=2 --set optim.lr=0.01 "
      "--set train.init_from=" +
      (fp / "best.ckpt").string();
  const Result full = run(train("--config " + cfg + " --out " + a.string() + sets));
  INFO(full.output);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.output, Contains("init_from") && Contains("fc2.weight_quantizer.sigma") &&
                              Contains("QuantLinear"));
  const Result killed = run("LOWBIT_DEBUG_KILL_AT_STEP=13 " +
                            train("--config " + cfg + " --out " + b.string() + sets));
  REQUIRE(killed.exit_code == 128 + 9);
  const Result resumed =
      run(train("--config " + cfg + " --out " + b.string() + " --resume auto" + sets));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(train_rows(a) == train_rows(b));
  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " +
                       (a / "best.ckpt").string() + " --json");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  const auto pos = e.output.find("\"accuracy\": ");
  REQUIRE(pos != std::string::npos);
  CHECK(std::stod(e.output.substr(pos + 12)) > 0.5);

  // Another architecture: the error names the key and both shapes.
  const Result bad = run(
      train("--config " + cfg + " --out " + (tmp.path / "c").string() +
            " --set model.hidden=[16,32] --set train.init_from=" + (fp / "best.ckpt").string()));
  CHECK(bad.exit_code != 0);
  CHECK_THAT(bad.output, Contains("train.init_from") && Contains("'fc1.weight'"));
  const Result missing = run(train("--config " + cfg + " --out " + (tmp.path / "d").string() +
                                   " --set train.init_from=" + (tmp.path / "nope.ckpt").string()));
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.output, Contains("nope.ckpt"));
}

TEST_CASE("train: EBP (no learning rate) learns, refuses optimizer keys, resumes exactly after kill -9",
          "[apps][runs][ebp]") {
  TempDir tmp("ebp");
  const std::string text = R"(model:
  name: mlp
  hidden: [32]
data:
  dataset: synthetic
  hflip: false
  synthetic: {train_size: 256, test_size: 64, num_classes: 4, channels: 1, height: 8, width: 8}
optim:
  name: ebp
train:
  epochs: 3
  batch_size: 32
  threads: 1
  seed: 3
  log_every_steps: 1
  checkpoint_every_steps: 5
)";
  const std::string cfg = write_config(tmp.path, text);
  const fs::path a = tmp.path / "a", b = tmp.path / "b";
  const Result full = run(train("--config " + cfg + " --out " + a.string()));
  INFO(full.output);
  REQUIRE(full.exit_code == 0);
  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + (a / "last.ckpt").string());
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  CHECK_THAT(e.output, Contains("EBP-D") && Contains("EBP-P"));

  const Result killed = run("LOWBIT_DEBUG_KILL_AT_STEP=13 " + train("--config " + cfg + " --out " + b.string()));
  REQUIRE(killed.exit_code == 128 + 9);
  const Result resumed = run(train("--config " + cfg + " --out " + b.string() + " --resume auto"));
  INFO(resumed.output);
  REQUIRE(resumed.exit_code == 0);
  CHECK(train_rows(a) == train_rows(b));
  CHECK(train_rows(a).size() >= 3 * 8);

  const Result lr = run(train("--config " + cfg + " --out " + (tmp.path / "c").string() + " --set optim.lr=0.5"));
  CHECK(lr.exit_code == 2);
  CHECK_THAT(lr.output, Contains("optim.lr"));
}

TEST_CASE("export: a PBNet checkpoint exports its MAP network; infer predicts what evaluate does",
          "[apps][runs][pbnet]") {
  // infer rebuilds the synthetic test split from its own defaults (512 images, 4 classes, 8x8,
  // seed 0), so the run uses those too.
  TempDir tmp("pbnet_export");
  const std::string text = R"(model:
  name: pbnet_vgg_small
  width: 8
data:
  dataset: synthetic
  hflip: false
  synthetic: {train_size: 512, test_size: 512, num_classes: 4, channels: 1, height: 8, width: 8}
optim:
  name: adam
  lr: 0.01
train:
  epochs: 8
  batch_size: 32
  threads: 1
  seed: 0
)";
  const std::string cfg = write_config(tmp.path, text);
  const fs::path dir = tmp.path / "run";
  const Result t = run(train("--config " + cfg + " --out " + dir.string()));
  INFO(t.output);
  REQUIRE(t.exit_code == 0);
  const std::string ckpt = (dir / "last.ckpt").string();
  const fs::path lbm = tmp.path / "map.lbm", by_eval = tmp.path / "evaluate.csv",
                 by_infer = tmp.path / "infer.csv";
  const Result x = run(std::string(LOWBIT_EXPORT_EXE) + " --checkpoint " + ckpt + " -o " + lbm.string());
  INFO(x.output);
  REQUIRE(x.exit_code == 0);
  CHECK_THAT(x.output, Contains("MAP network"));
  const Result e = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + ckpt + " --predictions " +
                       by_eval.string());
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  const Result i = run(std::string(LOWBIT_INFER_EXE) + " --model " + lbm.string() +
                       " --data synthetic --predictions " + by_infer.string());
  INFO(i.output);
  REQUIRE(i.exit_code == 0);
  auto rows = [](const fs::path& p) {
    std::ifstream in(p);
    std::vector<std::string> out;
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) out.push_back(line);
    return out;
  };
  const std::vector<std::string> a = rows(by_eval), b = rows(by_infer);
  REQUIRE(a.size() == 512);
  CHECK(a == b);
  // The MAP net learned something (4 classes: chance is 25%), so the agreement is not vacuous.
  std::int64_t correct = 0;
  for (const std::string& r : a) {
    const auto c1 = r.find(','), c2 = r.rfind(',');
    correct += r.substr(c1 + 1, c2 - c1 - 1) == r.substr(c2 + 1);
  }
  CHECK(correct > 512 * 0.5);  // 72% when written

  // With BN recalibration on both sides (3 training batches) they agree again, and the
  // recalibrated statistics reached the engine (its predictions changed).
  const Result xr = run(std::string(LOWBIT_EXPORT_EXE) + " --checkpoint " + ckpt + " -o " +
                        lbm.string() + " --recalibrate-bn 3");
  INFO(xr.output);
  REQUIRE(xr.exit_code == 0);
  const Result er = run(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + ckpt +
                        " --recalibrate-bn 3 --predictions " + by_eval.string());
  INFO(er.output);
  REQUIRE(er.exit_code == 0);
  const Result ir = run(std::string(LOWBIT_INFER_EXE) + " --model " + lbm.string() +
                        " --data synthetic --predictions " + by_infer.string());
  INFO(ir.output);
  REQUIRE(ir.exit_code == 0);
  const std::vector<std::string> ar = rows(by_eval), br = rows(by_infer);
  REQUIRE(ar.size() == 512);
  CHECK(ar == br);
  CHECK(ar != a);
}
