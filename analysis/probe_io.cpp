// The options, drive, view and frame of the probe commands (see probe_io.hpp).
#include "probe_io.hpp"

#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <cctype>

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

OptionTable start_options(const std::string& what) {
  using K = ValueKind;
  return {
      {"--fixed-point", "fixed_point", K::Text, "",
       "FILE:INDEX: " + what + " row INDEX of a fixed-points result's fixed_points/states", ""},
      {"--state", "state", K::Path, "", "FILE: " + what + " dataset 'state' (state_dim,) or the first row of 'states'", ""},
  };
}

std::optional<GivenStart> probe_start(const Config& cfg, const Model& model) {
  const bool fp = cfg.has("fixed_point"), st = cfg.has("state");
  if (fp && st) throw cfg.error("state", "given together with fixed_point; expected one or the other");
  const long long N = model.state_dim();
  GivenStart g;
  if (fp) {
    const std::string spec = cfg.get_string("fixed_point");
    const auto colon = spec.rfind(':');
    const std::string index_text = colon == std::string::npos ? "" : spec.substr(colon + 1);
    if (colon == std::string::npos || colon == 0 || index_text.empty() ||
        !std::all_of(index_text.begin(), index_text.end(), [](unsigned char c) { return std::isdigit(c) != 0; }))
      throw cfg.error("fixed_point", "'" + spec + "'; expected FILE:INDEX, INDEX a row of the file's fixed_points/states");
    const std::string path = spec.substr(0, colon);
    const h5::File f = h5::File::open(path);
    const h5::Array a = read_checked(f, "fixed_points/states", {-1, N}, {"K", "state_dim"});
    const auto K = static_cast<long long>(a.shape[0]);
    const long long i = std::stoll(index_text.substr(0, 18));
    if (index_text.size() > 18 || i >= K)
      throw cfg.error("fixed_point", "index " + index_text + ", but " + path + ":fixed_points/states holds " +
                                         std::to_string(K) + " points; expected 0 <= INDEX < " + std::to_string(K));
    g.state = Eigen::Map<const Eigen::VectorXd>(a.data.data() + i * N, N);
    g.label = "--fixed-point " + spec;
  } else if (st) {
    const std::string path = cfg.get_string("state");
    const h5::File f = h5::File::open(path);
    if (f.has("state")) {
      g.state = Eigen::Map<const Eigen::VectorXd>(read_checked(f, "state", {N}, {"state_dim"}).data.data(), N);
    } else if (f.has("states")) {
      const h5::Array a = read_checked(f, "states", {-1, N}, {"n", "state_dim"});
      if (a.shape[0] == 0) throw InputError(path + ": dataset 'states' is empty; expected at least one state");
      g.state = Eigen::Map<const Eigen::VectorXd>(a.data.data(), N);
    } else {
      throw InputError(path + ": no dataset 'state' or 'states'; expected 'state' (state_dim,) or 'states' (n, state_dim)");
    }
    g.label = "--state " + path;
  } else {
    return std::nullopt;
  }
  return g;
}

}  // namespace stackdyn::cli
