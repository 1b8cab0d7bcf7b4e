// DCQ runs end to end (apps/distill.hpp, methods.md 5.5) on a small synthetic problem: sections
// trained as separate processes equal one sequential run, a section's checkpoint holds only its own
// layers, kill -9 inside a section resumes exactly and reuses finished sections, the stitched network
// is an ordinary checkpoint, and bad requests end with a clear error.

#include "apps/checkpoint.hpp"
#include "apps/session.hpp"
#include "quant/dcq.hpp"
#include "tests/support/process.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

namespace fs = std::filesystem;
using namespace lowbit;
using Catch::Matchers::Contains;

namespace {

const char* const kModelAndData = R"(model:
  name: lenet
  width: 4
  hidden: [16]
data:
  dataset: synthetic
  hflip: false
  synthetic: {train_size: 256, test_size: 64, num_classes: 4, channels: 1, height: 8, width: 8}
schedule:
  name: cosine
)";

const char* const kTeacher = R"(optim:
  name: sgd
  lr: 0.05
train:
  epochs: 2
  batch_size: 32
  threads: 1
  seed: 3
)";

// Three sections at pool1 / pool2 of 2, 2 and 1 epochs (8 steps each).
std::string student_config(const fs::path& teacher) {
  return std::string(kModelAndData) + R"(quant:
  scheme: dorefa
  weight_bits: 2
  activation_bits: 2
optim:
  name: adam
  lr: 1.0e-3
  weight_decay: 0
distill:
  teacher: )" + teacher.string() + R"(
  auto: 3
  epochs: 2
  bn_batches: 4
  per_section:
    - {section: 3, epochs: 1, lr: 2.0e-3}
train:
  epochs: 2
  batch_size: 32
  threads: 1
  seed: 3
  log_every_steps: 1
  checkpoint_every_steps: 5
)";
}

std::string write(const fs::path& path, const std::string& text) {
  std::ofstream(path) << text;
  return path.string();
}

test::CommandResult train(const std::string& args, const std::string& env = "") {
  return test::run_command(env + " " + LOWBIT_TRAIN_EXE + " " + args);
}

// Every tensor of a checkpoint's model, as numbers.
std::vector<std::vector<double>> model_values(const fs::path& checkpoint) {
  const app::TrainedModel t = app::load_trained_model(checkpoint.string());
  std::vector<std::vector<double>> out;
  for (const auto& [name, tensor] : t.model->state_dict()) {
    std::vector<double> v;
    if (tensor.dtype() == core::DType::f32) {
      for (float x : tensor.contiguous().to_vector<float>()) v.push_back(x);
    } else {
      for (std::int64_t x : tensor.contiguous().to_vector<std::int64_t>()) v.push_back(static_cast<double>(x));
    }
    out.push_back(std::move(v));
  }
  return out;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("dcq: separate-process sections equal a sequential run; kill -9 resumes exactly; stitched evaluates",
          "[apps][dcq]") {
  test::TempDir tmp("distill_runs");
  const fs::path teacher_dir = tmp.path / "teacher";
  const auto teacher = train("--config " + write(tmp.path / "teacher.yaml", std::string(kModelAndData) + kTeacher) +
                             " --out " + teacher_dir.string());
  INFO(teacher.output);
  REQUIRE(teacher.exit_code == 0);
  const std::string cfg = write(tmp.path / "dcq.yaml", student_config(teacher_dir / "best.ckpt"));

  // A: every section in one process, then the stitch.
  const fs::path a = tmp.path / "a";
  const auto full = train("--config " + cfg + " --out " + a.string());
  INFO(full.output);
  REQUIRE(full.exit_code == 0);
  CHECK_THAT(full.output, Contains("3 sections: conv1..pool1 | conv2..pool2 | flatten..fc; epochs 2+2+1 (5 in all)"));
  for (const char* f : {"config.yaml", "last.ckpt", "best.ckpt", "stitch.txt", "section-1/section.ckpt",
                        "section-2/metrics.csv", "section-3/curves.svg"}) {
    CHECK(fs::exists(a / f));
  }
  const auto e = test::run_command(std::string(LOWBIT_EVALUATE_EXE) + " --checkpoint " + (a / "best.ckpt").string() +
                                   " --json");
  INFO(e.output);
  REQUIRE(e.exit_code == 0);
  const auto pos = e.output.find("\"accuracy\": ");
  REQUIRE(pos != std::string::npos);
  CHECK(std::stod(e.output.substr(pos + 12)) > 0.5);  // four classes: chance is 0.25

  SECTION("sections trained by separate processes, in any order, give the same sections and network") {
    const fs::path b = tmp.path / "b";
    for (const char* i : {"3", "1", "2"}) {
      const auto r = train("--config " + cfg + " --out " + b.string() + " --section " + i);
      INFO(r.output);
      REQUIRE(r.exit_code == 0);
    }
    CHECK_FALSE(fs::exists(b / "last.ckpt"));  // --section never stitches
    const auto stitch = train("--config " + cfg + " --out " + b.string());
    INFO(stitch.output);
    REQUIRE(stitch.exit_code == 0);
    CHECK(count(stitch.output, "finished earlier") == 3);
    CHECK(model_values(a / "best.ckpt") == model_values(b / "best.ckpt"));
  }

  SECTION("a section's checkpoint holds exactly its own layers") {
    const app::TrainedModel whole = app::load_trained_model((a / "best.ckpt").string());
    const auto sections = quant::dcq::plan_sections(*whole.model, {}, 3);
    quant::dcq::SectionModule s1(*whole.model, sections[0]), s2(*whole.model, sections[1]);
    CHECK_NOTHROW(app::load_checkpoint_model((a / "section-2/section.ckpt").string(), s2));
    CHECK_THROWS(app::load_checkpoint_model((a / "section-2/section.ckpt").string(), s1));
  }

  SECTION("kill -9 inside section 2, then --resume auto: section 1 is reused, section 2 continues, same result") {
    const fs::path c = tmp.path / "c";
    // The kill step counts over the whole run: 23 is section 2's own step 7, after its checkpoint at step 5.
    const auto killed = train("--config " + cfg + " --out " + c.string(), "LOWBIT_DEBUG_KILL_AT_STEP=23");
    REQUIRE(killed.exit_code == 128 + 9);
    CHECK(fs::exists(c / "section-1/section.ckpt"));
    CHECK_FALSE(fs::exists(c / "section-2/section.ckpt"));
    const auto resumed = train("--config " + cfg + " --out " + c.string() + " --resume auto");
    INFO(resumed.output);
    REQUIRE(resumed.exit_code == 0);
    CHECK_THAT(resumed.output, Contains("section 1/3 (conv1..pool1): finished earlier"));
    CHECK_THAT(resumed.output, Contains("section 2/3 (conv2..pool2): resumed from"));
    CHECK(model_values(a / "best.ckpt") == model_values(c / "best.ckpt"));
  }

  SECTION("post-stitch keys leave finished sections reusable; the last section's loss does not") {
    const fs::path d = tmp.path / "d";
    fs::copy(a, d, fs::copy_options::recursive);
    const auto again = train("--config " + cfg + " --out " + d.string() +
                             " --set distill.bn_batches=2 --set distill.finetune_epochs=1");
    INFO(again.output);
    REQUIRE(again.exit_code == 0);
    CHECK(count(again.output, "finished earlier") == 3);
    CHECK(fs::exists(d / "finetune"));
    const auto kd = train("--config " + cfg + " --out " + d.string() + " --set distill.last_loss=kd");
    INFO(kd.output);
    CHECK(kd.exit_code == 2);
    CHECK_THAT(kd.output, Contains("section 3/3") && Contains("distill.last_loss"));
  }

  SECTION("bad requests end with one clear error") {
    const auto bad_section = train("--config " + cfg + " --out " + (tmp.path / "x").string() + " --section 4");
    CHECK(bad_section.exit_code == 2);
    CHECK_THAT(bad_section.output, Contains("sections 1..3"));
    const auto no_teacher = train("--config " + cfg + " --out " + (tmp.path / "y").string() +
                                  " --set distill.teacher=" + (tmp.path / "missing.ckpt").string());
    CHECK(no_teacher.exit_code == 2);
    CHECK_THAT(no_teacher.output, Contains("no such checkpoint"));
    const auto other_model = train("--config " + cfg + " --out " + (tmp.path / "z").string() + " --set model.width=8");
    CHECK(other_model.exit_code == 2);
    CHECK_THAT(other_model.output, Contains("HINT"));
    const auto not_dcq = train("--config " + write(tmp.path / "plain.yaml", std::string(kModelAndData) + kTeacher) +
                               " --section 1");
    CHECK(not_dcq.exit_code == 2);
    CHECK_THAT(not_dcq.output, Contains("--section applies to DCQ runs only"));
    const auto bad_per_section = train("--config " + cfg + " --out " + (tmp.path / "v").string() +
                                       " --set 'distill.per_section=[{section: 7}]'");
    CHECK(bad_per_section.exit_code == 2);
    CHECK_THAT(bad_per_section.output, Contains("section 7 does not exist"));
    const auto too_many = train("--config " + cfg + " --out " + (tmp.path / "w").string() + " --set distill.auto=9");
    CHECK(too_many.exit_code == 2);
    CHECK_THAT(too_many.output, Contains("stage boundaries"));
  }
}
