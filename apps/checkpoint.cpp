#include "apps/checkpoint.hpp"

#include "core/io.hpp"
#include "layers/state_io.hpp"

#include <fmt/format.h>

#include <map>

namespace lowbit::app {
namespace {

constexpr std::uint32_t kMetaLayout = 1;

core::BinaryReader open_checkpoint(const std::string& path) {
  return core::BinaryReader(path, kCheckpointMagic, kCheckpointVersion, "checkpoint");
}

// Flattens a config into "section.key" -> YAML text of the value.
class FlatWriter {
 public:
  template <typename T>
  void field(const std::string& key, const T& value, const char*, Validator<T> = {}) {
    YAML::Emitter e;
    emit_value(e, value);
    values[join_path(prefix_, key)] = e.c_str();
  }
  template <typename S>
  void section(const std::string& key, const S& sub, const char*) {
    FlatWriter w;
    w.prefix_ = join_path(prefix_, key);
    const_cast<S&>(sub).visit(w);
    values.insert(w.values.begin(), w.values.end());
  }
  template <typename S>
  void list(const std::string& key, const std::vector<S>& items, const char*, const S&) {
    for (std::size_t i = 0; i < items.size(); ++i) {
      FlatWriter w;
      w.prefix_ = join_path(prefix_, key) + "[" + std::to_string(i) + "]";
      const_cast<S&>(items[i]).visit(w);
      values.insert(w.values.begin(), w.values.end());
    }
    values[join_path(prefix_, key) + ".size"] = std::to_string(items.size());
  }
  std::map<std::string, std::string> values;

 private:
  std::string prefix_;
};

std::map<std::string, std::string> flatten(const Config& c) {
  FlatWriter w;
  const_cast<Config&>(c).visit(w);
  return w.values;
}

// Train keys that may change between a run and its resume: they do not change what is computed.
bool resume_may_change(const std::string& key) {
  static const char* const kFree[] = {"train.threads", "train.out_dir", "train.name",
                                      "train.checkpoint_every_steps", "train.keep_last",
                                      "train.log_every_steps", "train.eval_every_epochs",
                                      "train.eval_batch_size", "train.init_from", "data.workers",
                                      "data.root"};
  for (const char* k : kFree) {
    if (key == k) return true;
  }
  return false;
}

}  // namespace

void write_checkpoint_head(core::BinaryWriter& out, const Config& config, const RunProgress& p) {
  out.begin_section("meta");
  out.put_u32(kMetaLayout);
  out.put_i64(p.epoch);
  out.put_i64(p.step);
  out.put_f64(p.best_accuracy);
  out.put_i64(p.best_epoch);
  out.put_f64(p.loss_sum);
  out.put_i64(p.correct);
  out.put_i64(p.seen);
  out.end_section();

  out.begin_section("config");
  out.put_string(to_yaml(config));
  out.end_section();
}

RunProgress read_checkpoint_progress(const core::BinaryReader& in) {
  core::SectionReader meta = in.section("meta");
  const std::uint32_t layout = meta.get_u32();
  if (layout != kMetaLayout) meta.fail_format(fmt::format("unknown meta layout {}", layout));
  RunProgress p;
  p.epoch = meta.get_i64();
  p.step = meta.get_i64();
  p.best_accuracy = meta.get_f64();
  p.best_epoch = meta.get_i64();
  p.loss_sum = meta.get_f64();
  p.correct = meta.get_i64();
  p.seen = meta.get_i64();
  meta.expect_end();
  return p;
}

void save_checkpoint(const std::string& path, const Config& config, const TrainingState& state) {
  core::BinaryWriter out(path, kCheckpointMagic, kCheckpointVersion);
  write_checkpoint_head(out, config, state.progress);

  layers::save_state_dict(*state.model, out, "model");
  layers::save_rng_states(*state.model, out, "model_rngs");
  state.optimizer->save_state(out, "optimizer");

  const auto pos = state.loader->position().to_bytes();
  out.write_section("loader", pos);
  const auto metrics = MetricsLog::encode(state.history);
  out.write_section("metrics", metrics);
  out.commit();
}

Config read_checkpoint_config(const std::string& path) {
  const core::BinaryReader in = open_checkpoint(path);
  core::SectionReader s = in.section("config");
  const std::string yaml = s.get_string();
  try {
    return parse_config(yaml);
  } catch (const core::Error& e) {
    core::fail("checkpoint '{}' holds a config this version of lowbit cannot read: {}", path, e.what());
  }
}

void load_checkpoint(const std::string& path, TrainingState& state) {
  const core::BinaryReader in = open_checkpoint(path);
  const RunProgress p = read_checkpoint_progress(in);

  core::SectionReader model = in.section("model");
  layers::load_state_dict(*state.model, model, /*strict=*/true);
  core::SectionReader rngs = in.section("model_rngs");
  layers::load_rng_states(*state.model, rngs);
  core::SectionReader opt = in.section("optimizer");
  state.optimizer->load_state(opt);
  state.loader->set_position(data::LoaderPosition::from_bytes(in.section_bytes("loader")));
  state.history = MetricsLog::decode(in.section_bytes("metrics"));
  state.progress = p;
}

void load_checkpoint_model(const std::string& path, layers::Module& model) {
  const core::BinaryReader in = open_checkpoint(path);
  core::SectionReader s = in.section("model");
  layers::load_state_dict(model, s, /*strict=*/true);
}

InitReport init_model_from(const std::string& path, layers::Module& model) {
  InitReport r;
  try {
    const core::BinaryReader in = open_checkpoint(path);
    core::SectionReader s = in.section("model");
    const layers::LoadResult res = layers::load_state_dict(model, s, /*strict=*/false);
    r.missing = res.missing;
    r.unexpected = res.unexpected;
  } catch (const core::Error& e) {
    core::fail("train.init_from '{}': {}", path, e.what());
  }
  r.loaded = model.state_dict().size() - r.missing.size();
  return r;
}

std::string InitReport::summary(const std::string& path) const {
  auto some = [](const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size() && i < 6; ++i) out += (i == 0 ? "" : ", ") + names[i];
    if (names.size() > 6) out += fmt::format(", ... ({} more)", names.size() - 6);
    return out;
  };
  std::string out = fmt::format("init_from {}: loaded {} tensors", path, loaded);
  if (!missing.empty()) {
    out += fmt::format("; {} not in the checkpoint, kept as initialised: {}", missing.size(),
                       some(missing));
  }
  if (!unexpected.empty()) {
    out += fmt::format("; {} in the checkpoint ignored: {}", unexpected.size(), some(unexpected));
  }
  return out;
}

std::vector<std::string> incompatible_keys(const Config& stored, const Config& current) {
  const auto a = flatten(stored), b = flatten(current);
  std::vector<std::string> out;
  for (const auto& [key, value] : a) {
    const auto it = b.find(key);
    if (resume_may_change(key)) continue;
    if (it == b.end() || it->second != value) {
      out.push_back(fmt::format("{}: checkpoint has {}, config has {}", key, value,
                                it == b.end() ? "nothing" : it->second));
    }
  }
  return out;
}

}  // namespace lowbit::app
