#include "core/error.hpp"
#include "core/registry.hpp"
#include "core/strings.hpp"

#include <catch2/catch.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

using lowbit::core::closest_match;
using lowbit::core::Error;
using lowbit::core::levenshtein;
using lowbit::core::Registry;

namespace {

struct Optimizer {
  virtual ~Optimizer() = default;
  virtual std::string name() const = 0;
};
struct Sgd : Optimizer {
  std::string name() const override { return "sgd"; }
};
struct Adam : Optimizer {
  explicit Adam(float lr) : lr(lr) {}
  std::string name() const override { return "adam"; }
  float lr;
};

using OptimizerFactory = std::function<std::unique_ptr<Optimizer>(float lr)>;

Registry<OptimizerFactory> make_optimizers() {
  Registry<OptimizerFactory> reg("optimizer");
  reg.add("sgd", [](float) { return std::make_unique<Sgd>(); });
  reg.add("adam", [](float lr) { return std::make_unique<Adam>(lr); });
  return reg;
}

}  // namespace

TEST_CASE("Registry: add, get, create, contains, sorted names", "[registry]") {
  auto reg = make_optimizers();
  CHECK(reg.kind() == "optimizer");
  CHECK(reg.size() == 2);
  CHECK(reg.contains("adam"));
  CHECK_FALSE(reg.contains("adamw"));
  CHECK(reg.names() == std::vector<std::string>{"adam", "sgd"});
  CHECK(reg.get("sgd")(0.1f)->name() == "sgd");
  auto adam = reg.create("adam", 0.25f);
  CHECK(adam->name() == "adam");
  CHECK(static_cast<Adam&>(*adam).lr == 0.25f);
}

TEST_CASE("Registry: a miss suggests the closest name and lists the known ones", "[registry]") {
  auto reg = make_optimizers();
  CHECK_THROWS_WITH(reg.get("adma"),
                    "unknown optimizer 'adma'; did you mean 'adam'? known: adam, sgd");
  CHECK_THROWS_WITH(reg.create("SGD", 0.1f),
                    "unknown optimizer 'SGD'; did you mean 'sgd'? known: adam, sgd");
  // Nothing close: no suggestion, still the list.
  CHECK_THROWS_WITH(reg.get("lbfgs"), "unknown optimizer 'lbfgs'; known: adam, sgd");
  CHECK_THROWS_AS(reg.get(""), Error);

  Registry<int> empty("dataset");
  CHECK_THROWS_WITH(empty.get("mnist"), Catch::StartsWith("unknown dataset 'mnist'; no datasets "
                                                          "are registered") &&
                                            Catch::Contains("HINT"));
}

TEST_CASE("Registry: duplicate and empty names are rejected", "[registry]") {
  auto reg = make_optimizers();
  CHECK_THROWS_WITH(reg.add("adam", [](float) { return std::make_unique<Sgd>(); }),
                    Catch::StartsWith("optimizer 'adam' is already registered"));
  CHECK(reg.get("adam")(1.0f)->name() == "adam");  // the first registration survives
  CHECK_THROWS_AS(reg.add("", [](float) { return std::make_unique<Sgd>(); }), Error);
  CHECK(reg.size() == 2);
}

TEST_CASE("strings: levenshtein distance", "[registry]") {
  CHECK(levenshtein("", "") == 0);
  CHECK(levenshtein("", "abc") == 3);
  CHECK(levenshtein("abc", "") == 3);
  CHECK(levenshtein("kitten", "sitting") == 3);
  CHECK(levenshtein("adma", "adam") == 2);
  CHECK(levenshtein("flaw", "lawn") == 2);
  CHECK(levenshtein("same", "same") == 0);
}

TEST_CASE("strings: closest_match picks plausible typos only", "[registry]") {
  const std::vector<std::string> keys = {"learning_rate", "momentum", "weight_decay", "nesterov"};
  CHECK(closest_match("learning_rat", keys) == "learning_rate");
  CHECK(closest_match("momentun", keys) == "momentum");
  CHECK(closest_match("Weight_Decay", keys) == "weight_decay");  // case-insensitive
  CHECK(closest_match("batch_size", keys).empty());
  CHECK(closest_match("lr", {"wd"}).empty());  // replacing every character is not a typo
  CHECK(closest_match("x", {}).empty());
  CHECK(closest_match("ab", {"ax", "ay"}) == "ax");  // ties go to the first candidate
}
