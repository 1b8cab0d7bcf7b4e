#include "layers/state_io.hpp"

#include "core/error.hpp"
#include "core/rng.hpp"
#include "core/tensor_io.hpp"

#include <fmt/format.h>

#include <map>

namespace lowbit::layers {

void save_state_dict(const Module& model, core::BinaryWriter& out, std::string section) {
  const StateDict dict = model.state_dict();
  out.begin_section(std::move(section));
  out.put_u64(dict.size());
  for (const auto& [name, t] : dict) {
    out.put_string(name);
    core::put_tensor(out, t);
  }
  out.end_section();
}

StateDict read_state_dict(core::SectionReader& in) {
  const std::uint64_t count = in.get_u64();
  // Each entry takes at least 8 (name length) + 13 (empty 0-d tensor header) bytes.
  if (count > in.remaining() / 21) {
    in.fail_format(fmt::format("state dict claims {} entries but only {} bytes remain", count,
                               in.remaining()));
  }
  StateDict dict;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string name = in.get_string();
    if (name.empty() || dict.contains(name)) {
      in.fail_format(
          fmt::format("state dict entry {} has an empty or duplicate name '{}'", i, name));
    }
    dict.insert(std::move(name), core::get_tensor(in));
  }
  in.expect_end();
  return dict;
}

LoadResult load_state_dict(Module& model, core::SectionReader& in, bool strict) {
  const StateDict dict = read_state_dict(in);
  try {
    return model.load_state_dict(dict, strict);
  } catch (const core::Error& e) {
    in.fail_format(e.what());
  }
}

void save_rng_states(Module& model, core::BinaryWriter& out, std::string section) {
  const auto rngs = model.named_rngs();
  out.begin_section(std::move(section));
  out.put_u64(rngs.size());
  for (const auto& [name, rng] : rngs) {
    out.put_string(name);
    const auto bytes = rng->state().to_bytes();
    out.put_bytes(bytes);
  }
  out.end_section();
}

void load_rng_states(Module& model, core::SectionReader& in) {
  const auto rngs = model.named_rngs();
  const std::uint64_t count = in.get_u64();
  if (count != rngs.size()) {
    in.fail_format(
        fmt::format("{} generator states stored, the model has {}. HINT: build the "
                    "model with the same spec (dropout layers) as the saved one",
                    count, rngs.size()));
  }
  std::map<std::string, core::RngState> states;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::string name = in.get_string();
    const std::vector<std::uint8_t> bytes = in.get_bytes();
    try {
      states[name] = core::RngState::from_bytes(bytes);
    } catch (const core::Error& e) {
      in.fail_format(fmt::format("generator '{}': {}", name, e.what()));
    }
  }
  in.expect_end();
  for (const auto& [name, rng] : rngs) {
    const auto it = states.find(name);
    if (it == states.end()) {
      in.fail_format(fmt::format("no stored state for generator '{}'", name));
    }
    rng->set_state(it->second);
  }
}

}  // namespace lowbit::layers
