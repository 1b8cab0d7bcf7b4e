#pragma once
// A module's state inside a checkpoint section (core/io.hpp, core/tensor_io.hpp).
//
// State section payload:
//   | u64 entry count | per entry: string name, tensor (put_tensor encoding) |
// Generator section payload (Module::named_rngs, e.g. Dropout's):
//   | u64 entry count | per entry: string name, RngState bytes (bytes encoding, 40 bytes) |

#include "core/io.hpp"
#include "layers/module.hpp"

#include <string>

namespace lowbit::layers {

// Writes model.state_dict() as the section `section` of `out` (no section may be open).
void save_state_dict(const Module& model, core::BinaryWriter& out, std::string section);
// Reads a section written by save_state_dict into a new StateDict.
StateDict read_state_dict(core::SectionReader& in);
// read_state_dict + model.load_state_dict; errors are prefixed with the file and section.
LoadResult load_state_dict(Module& model, core::SectionReader& in, bool strict = true);

// Saves / restores the state of every generator in model.named_rngs(). Loading requires exactly
// the same generator names.
void save_rng_states(Module& model, core::BinaryWriter& out, std::string section);
void load_rng_states(Module& model, core::SectionReader& in);

}  // namespace lowbit::layers
