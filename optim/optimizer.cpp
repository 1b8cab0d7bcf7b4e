#include "optim/optimizer.hpp"

#include "core/error.hpp"
#include "core/tensor_io.hpp"

#include <cmath>
#include <map>
#include <set>
#include <utility>

namespace lowbit::optim {

namespace {

void check_hyper(double value, const char* what) {
  core::check(std::isfinite(value) && value >= 0.0,
              "optimizer: {} must be finite and >= 0, got {}. HINT: fix the optimizer options",
              what, value);
}

}  // namespace

core::Tensor contiguous_grad(core::Tensor param) {
  core::Tensor g = param.grad();
  if (!g.defined()) return g;
  core::check(g.dtype() == core::DType::f32, "optimizer: gradient is {}, expected f32",
              core::dtype_name(g.dtype()));
  if (!g.is_contiguous()) {
    g = g.contiguous();
    param.set_grad(g);
  }
  return g;
}

Optimizer::Optimizer(std::vector<ParamGroup> groups, double lr,
                     std::vector<std::string> buffer_names)
    : groups_(std::move(groups)), lr_(lr), buffer_names_(std::move(buffer_names)) {
  check_hyper(lr, "lr");
  std::set<std::string, std::less<>> seen;
  state_.resize(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    const ParamGroup& group = groups_[g];
    core::check(group.param_names.size() == group.params.size(),
                "optimizer: group '{}' has {} names for {} parameters", group.name,
                group.param_names.size(), group.params.size());
    check_hyper(group.weight_decay, "weight_decay");
    check_hyper(group.lr_scale, "lr_scale");
    for (std::size_t i = 0; i < group.params.size(); ++i) {
      const std::string& name = group.param_names[i];
      const core::Tensor& p = group.params[i];
      core::check(seen.insert(name).second,
                  "optimizer: parameter '{}' appears twice (group '{}'). HINT: every parameter "
                  "belongs to exactly one group and names are unique",
                  name, group.name);
      core::check(p.defined(), "optimizer: parameter '{}' is an undefined tensor", name);
      core::check(p.dtype() == core::DType::f32 && p.is_contiguous(),
                  "optimizer: parameter '{}' must be a contiguous f32 tensor (it is {}{})", name,
                  core::dtype_name(p.dtype()), p.is_contiguous() ? "" : ", non-contiguous");
    }
    state_[g].resize(group.params.size());
    for (ParamState& s : state_[g]) s.buffers.resize(buffer_names_.size());
  }
}

void Optimizer::zero_grad() {
  for (ParamGroup& group : groups_) {
    for (core::Tensor& p : group.params) p.zero_grad();
  }
}

void Optimizer::set_lr(double lr) {
  check_hyper(lr, "lr");
  lr_ = lr;
}

std::vector<core::Tensor> Optimizer::params() const {
  std::vector<core::Tensor> out;
  for (const ParamGroup& group : groups_) {
    out.insert(out.end(), group.params.begin(), group.params.end());
  }
  return out;
}

core::Tensor& Optimizer::buffer(ParamState& s, std::size_t b, const core::Tensor& param) {
  core::Tensor& t = s.buffers.at(b);
  if (!t.defined()) t = core::Tensor::zeros(param.shape());
  return t;
}

void Optimizer::save_state(core::BinaryWriter& out, std::string section) const {
  out.begin_section(std::move(section));
  write_state(out);
  out.end_section();
}

void Optimizer::load_state(core::SectionReader& in) {
  std::function<void()> install = read_state(in);
  in.expect_end();
  install();
}

void Optimizer::write_state(core::BinaryWriter& out) const {
  out.put_string(kOptimizerStateTag);
  out.put_u32(kOptimizerStateVersion);
  out.put_string(name());
  out.put_f64(lr_);
  std::uint64_t count = 0;
  for (const ParamGroup& group : groups_) count += group.params.size();
  out.put_u64(count);
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const ParamState& s = state_[g][i];
      out.put_string(groups_[g].param_names[i]);
      out.put_vector(groups_[g].params[i].shape().dims());
      out.put_i64(s.step);
      out.put_u32(static_cast<std::uint32_t>(s.buffers.size()));
      for (const core::Tensor& b : s.buffers) {
        out.put_u8(b.defined() ? 1 : 0);
        if (b.defined()) core::put_tensor(out, b);
      }
    }
  }
}

std::function<void()> Optimizer::read_state(core::SectionReader& in) {
  if (in.get_string() != kOptimizerStateTag) {
    in.fail_format("not an optimizer state section. HINT: pass the section save_state wrote");
  }
  const std::uint32_t version = in.get_u32();
  if (version != kOptimizerStateVersion) {
    in.fail_format(fmt::format("optimizer state version {} is not supported (this build reads {})",
                               version, kOptimizerStateVersion));
  }
  const std::string saved_name = in.get_string();
  if (saved_name != name()) {
    in.fail_format(fmt::format("the state was saved by optimizer '{}', this optimizer is '{}'. "
                               "HINT: resume with the optimizer the run was trained with",
                               saved_name, name()));
  }
  const double lr = in.get_f64();

  // Decode everything first; only a fully consistent state replaces the current one.
  struct Loaded {
    core::Shape shape;
    ParamState state;
  };
  std::map<std::string, Loaded, std::less<>> loaded;
  const std::uint64_t count = in.get_u64();
  for (std::uint64_t k = 0; k < count; ++k) {
    std::string pname = in.get_string();
    const core::Shape shape(in.get_vector<std::int64_t>());
    ParamState s;
    s.step = in.get_i64();
    const std::uint32_t nbuf = in.get_u32();
    if (nbuf != buffer_names_.size()) {
      in.fail_format(fmt::format("parameter '{}' has {} state buffers, '{}' keeps {}", pname, nbuf,
                                 name(), buffer_names_.size()));
    }
    if (s.step < 0) in.fail_format(fmt::format("parameter '{}' has step {}", pname, s.step));
    s.buffers.resize(nbuf);
    for (std::uint32_t b = 0; b < nbuf; ++b) {
      if (in.get_u8() == 0) continue;
      s.buffers[b] = core::get_tensor(in);
      if (s.buffers[b].dtype() != core::DType::f32 || s.buffers[b].shape() != shape) {
        in.fail_format(fmt::format("parameter '{}': buffer '{}' has shape {} ({}), expected {} f32",
                                   pname, buffer_names_[b], s.buffers[b].shape(),
                                   core::dtype_name(s.buffers[b].dtype()), shape));
      }
    }
    if (!loaded.emplace(pname, Loaded{shape, std::move(s)}).second) {
      in.fail_format(fmt::format("parameter '{}' appears twice", pname));
    }
  }

  std::vector<std::vector<ParamState>> next(groups_.size());
  for (std::size_t g = 0; g < groups_.size(); ++g) {
    for (std::size_t i = 0; i < groups_[g].params.size(); ++i) {
      const std::string& pname = groups_[g].param_names[i];
      const auto it = loaded.find(pname);
      if (it == loaded.end()) {
        in.fail_format(fmt::format(
            "the saved optimizer state has no entry for parameter '{}'. HINT: the state was "
            "saved for a different model; resume with the same model configuration",
            pname));
      }
      const core::Shape& saved_shape = it->second.shape;
      const core::Shape& shape = groups_[g].params[i].shape();
      if (saved_shape != shape) {
        in.fail_format(fmt::format(
            "parameter '{}' has shape {} in the saved optimizer state but {} in this model. "
            "HINT: the state was saved for a different model",
            pname, saved_shape, shape));
      }
      next[g].push_back(std::move(it->second.state));
      loaded.erase(it);
    }
  }
  if (!loaded.empty()) {
    in.fail_format(fmt::format(
        "the saved optimizer state has parameter '{}', which this optimizer does not have ({} "
        "such parameters). HINT: the state was saved for a different model",
        loaded.begin()->first, loaded.size()));
  }
  return [this, next = std::move(next), lr]() mutable {
    state_ = std::move(next);
    lr_ = lr;
  };
}

}  // namespace lowbit::optim
