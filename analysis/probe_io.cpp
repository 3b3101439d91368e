// The options, drive, view and frame of the probe commands (see probe_io.hpp).
#include "probe_io.hpp"

#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>

namespace stackdyn::cli {

OptionTable probe_options(const std::vector<std::string>& keys) {
  const bool inputs = std::find(keys.begin(), keys.end(), "input.*") != keys.end();
  OptionTable t;
  for (const auto& o : simulation_options()) {
    if (std::find(keys.begin(), keys.end(), o.key) == keys.end() && !(inputs && o.key.rfind("input.", 0) == 0))
      continue;
    t.push_back(o);
    if (o.key == "mode") {
      t.back().default_value = "\"discrete\"";
      t.back().help = "discrete (the map) or continuous (the ODE of docs/design.md 3)";
    }
  }
  return t;
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
