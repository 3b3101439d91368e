// The drive, view and frame of the probe commands (see probe_io.hpp).
#include "probe_io.hpp"

#include "command_util.hpp"

#include <stackdyn/core/error.hpp>

namespace stackdyn::cli {

const std::vector<std::string>& probe_drive_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& key : simulation_config_keys())
      if (key != "method" && key != "dt_out" && key != "s0_scale" && key != "steps" && key != "t_end") k.push_back(key);
    return k;
  }();
  return keys;
}

SimulationConfig probe_drive(const Config& cfg, const Model& model) {
  // simulate refuses keys it does not know: hand it only its own, under the same name.
  Config sub = Config::from_string("", cfg.name());
  for (const char* key : {"mode", "tau", "rtol", "atol", "dt", "batch", "seed", "input_file", "input"})
    if (const auto v = cfg.value_text(key)) sub.set(key, *v);
  if (!sub.has("mode")) sub.set("mode", "\"discrete\"");
  // The lengths are the caller's (with its own check against the input file's horizon).
  sub.set("steps", "1");
  sub.set("t_end", "1e-9");
  return simulation_config(sub, model);
}

TimeView probe_view(const Config& cfg) {
  const std::string mode = cfg.get_string("mode", "discrete");
  if (mode == "discrete") return TimeView::Discrete;
  if (mode == "continuous") return TimeView::Continuous;
  throw cfg.error("mode", "unknown mode '" + mode + "'; expected discrete or continuous");
}

void write_probe_frame(h5::Group& root, const Model& model, TimeView view, const std::vector<double>& tau,
                       const std::string& kind) {
  root.set_attr("kind", kind);
  const bool discrete = view == TimeView::Discrete;
  root.set_attr("mode", discrete ? "discrete" : "continuous");
  root.set_attr("units", discrete ? "steps" : "time (the unit of tau)");
  root.write("tau", Eigen::VectorXd(Eigen::Map<const Eigen::VectorXd>(tau.data(), static_cast<Eigen::Index>(tau.size()))));
  write_state_layout(root, model);
}

}  // namespace stackdyn::cli
