#include "apps/config.hpp"
#include "apps/session.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace lowbit::app;
using Catch::Matchers::Contains;

namespace {

Config parse(const std::string& text) { return parse_config(text); }

std::string write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / ("lowbit_test_config_" + name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("config: defaults live in the structs; a partial file overrides only its keys", "[config]") {
  const Config c = parse("optim:\n  lr: 0.05\ntrain:\n  epochs: 3\n");
  CHECK(c.optim.lr == 0.05);
  CHECK(c.train.epochs == 3);
  CHECK(c.train.batch_size == Config{}.train.batch_size);
  CHECK(c.model.name == "lenet");
}

TEST_CASE("config: unknown keys name the path and the closest valid key", "[config]") {
  CHECK_THROWS_WITH(parse("optim:\n  lrr: 0.1\n"),
                    Contains("unknown key 'optim.lrr'") && Contains("did you mean 'optim.lr'"));
  CHECK_THROWS_WITH(parse("trian:\n  epochs: 1\n"),
                    Contains("unknown key 'trian'") && Contains("did you mean 'train'"));
  CHECK_THROWS_WITH(parse("data:\n  synthetic:\n    hieght: 4\n"),
                    Contains("data.synthetic.hieght") && Contains("data.synthetic.height"));
}

TEST_CASE("config: wrong types and bad values name the key", "[config]") {
  CHECK_THROWS_WITH(parse("train:\n  epochs: ten\n"),
                    Contains("train.epochs") && Contains("an integer") && Contains("'ten'"));
  CHECK_THROWS_WITH(parse("train:\n  epochs: 2.5\n"), Contains("train.epochs"));
  CHECK_THROWS_WITH(parse("optim:\n  lr: -1\n"), Contains("optim.lr") && Contains("must be > 0"));
  CHECK_THROWS_WITH(parse("optim:\n  name: adma\n"),
                    Contains("optim.name") && Contains("did you mean 'adam'"));
  CHECK_THROWS_WITH(parse("model: lenet\n"), Contains("'model' must be a mapping"));
  CHECK_THROWS_WITH(parse("model:\n  hidden: 5\n"), Contains("model.hidden") && Contains("list"));
  CHECK_THROWS_WITH(parse("data:\n  hflip: maybe\n"), Contains("data.hflip") && Contains("true or false"));
}

TEST_CASE("config: files, malformed YAML and --set overrides", "[config]") {
  const std::string good = write_temp("good.yaml", "optim:\n  lr: 0.2\n");
  const Config c = load_config(good, {"optim.lr=0.01", "train.epochs=4", "model.hidden=[64, 32]"});
  CHECK(c.optim.lr == 0.01);
  CHECK(c.train.epochs == 4);
  CHECK(c.model.hidden == std::vector<std::int64_t>{64, 32});
  CHECK_THROWS_WITH(load_config(good, {"optim.lrate=0.1"}), Contains("optim.lrate") && Contains(good));
  CHECK_THROWS_WITH(load_config(good, {"optim.lr"}), Contains("KEY.PATH=VALUE"));

  const std::string bad = write_temp("bad.yaml", "optim:\n  lr: [0.1\n");
  CHECK_THROWS_WITH(load_config(bad, {}), Contains("not valid YAML") && Contains("line"));
  CHECK_THROWS_WITH(load_config("/nonexistent/x.yaml", {}), Contains("does not exist"));
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}

TEST_CASE("config: the printed config reads back to the same config", "[config]") {
  Config c;
  c.optim.lr = 0.0125;
  c.model.hidden = {7, 9};
  c.data.mean = {0.5};
  c.data.std_dev = {0.1, 1e-8};
  const std::string text = to_yaml(c);
  CHECK_THAT(text, Contains("lr: 0.0125"));
  // Numbers print in their shortest exact form and read back to the same bits.
  CHECK_THAT(text, Contains("momentum: 0.9  #") && Contains("std: [0.1, 1e-08]"));
  const Config again = parse(text);
  CHECK(again.optim.momentum == 0.9);
  CHECK(again.data.std_dev == std::vector<double>{0.1, 1e-8});
  CHECK(to_yaml(again) == text);
}

TEST_CASE("config: the quant section, its per-layer overrides and their errors", "[config]") {
  const std::string text = R"(quant:
  scheme: dorefa
  weight_bits: 2
  activation_bits: 2
  overrides:
    - match: "layer*.conv*"
      weight_bits: 4
    - match: "*downsample*"
      scheme: none
)";
  const lowbit::app::Config c = lowbit::app::parse_config(text);
  REQUIRE(c.quant.overrides.size() == 2);
  // An item starts from the defaults above it and changes only what it states.
  CHECK(c.quant.overrides[0].settings.scheme == "dorefa");
  CHECK(c.quant.overrides[0].settings.weight_bits == 4);
  CHECK(c.quant.overrides[0].settings.activation_bits == 2);
  CHECK(c.quant.overrides[1].settings.scheme == "none");
  // The printed config reads back to the same plan.
  const lowbit::app::Config again = lowbit::app::parse_config(lowbit::app::to_yaml(c));
  REQUIRE(again.quant.overrides.size() == 2);
  CHECK(again.quant.overrides[0].match == "layer*.conv*");
  CHECK(again.quant.overrides[0].settings.weight_bits == 4);

  using Catch::Matchers::Contains;
  CHECK_THROWS_WITH(lowbit::app::parse_config("quant:\n  scheme: bnnn\n"), Contains("bnn"));
  CHECK_THROWS_WITH(lowbit::app::parse_config("quant:\n  overrides:\n    - match: fc\n      sceme: none\n"),
                    Contains("quant.overrides[0].sceme") && Contains("scheme"));
  CHECK_THROWS_WITH(lowbit::app::parse_config("quant:\n  overrides: {match: fc}\n"), Contains("must be a list"));
  CHECK_THROWS_WITH(lowbit::app::parse_config("quant:\n  activation_quantizer: xnor\n"),
                    Contains("quantizes weights only"));
  CHECK_THROWS_WITH(lowbit::app::parse_config("quant:\n  overrides:\n    - scheme: bnn\n"),
                    Contains("match is empty"));
}

TEST_CASE("config: model.pbnet reaches the PBNet builder and no other model", "[config][pbnet]") {
  const Config c = parse(
      "model:\n  name: pbnet_vgg_small\n  pbnet:\n    tau: 2.0\n    tau_end: 0.5\n    weight_tau_end: 0.25\n"
      "    straight_through: true\n");
  const lowbit::quant::PbnetOptions o = c.model.pbnet.options();
  CHECK(o.tau_start == 2.0f);
  CHECK(o.tau_end == 0.5f);
  CHECK(o.straight_through);
  CHECK(o.weight_tau_start == 1.0f);
  CHECK(o.weight_tau_end == 0.25f);
  CHECK(o.theta_init == lowbit::quant::PbnetOptions{}.theta_init);
  CHECK(parse(to_yaml(c)).model.pbnet.options().straight_through);
  CHECK_NOTHROW(check_config(c));
  CHECK_THROWS_WITH(parse("model:\n  pbnet:\n    tau: 0\n"), Contains("model.pbnet.tau"));
  CHECK_THROWS_WITH(check_config(parse("model:\n  name: vgg_small\n  pbnet:\n    straight_through: true\n")),
                    Contains("model.pbnet applies to model pbnet_vgg_small only"));
  CHECK_NOTHROW(check_config(parse("model:\n  name: vgg_small\n")));
}
