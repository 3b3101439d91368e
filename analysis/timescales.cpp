// `stackdyn timescales MODEL.h5 [CONFIG.toml] -o TS.h5`: each layer's gain at a grid of drive
// frequencies around the stable fixed point, measured and linearly predicted, with the
// layers' timescales (docs/probes.md).
#include "command.hpp"
#include "command_util.hpp"
#include "probe_io.hpp"

#include <stackdyn/analysis/timescales.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <tuple>
#include <ostream>

namespace stackdyn::cli {
namespace {

// The log-spaced grid's defaults: written here once, as `frequencies` excludes the grid's
// keys and so these cannot be table defaults (which would always be present).
constexpr double default_f_min = 0.005, default_f_max_discrete = 0.45, default_f_max_continuous = 1.0;
constexpr long long default_n_freq = 30;

OptionTable options() {
  using K = ValueKind;
  OptionTable t = probe_options({"mode", "tau", "rtol", "atol"});
  const OptionTable own = {
      {"--frequencies", "frequencies", K::Numbers, "",
       "f1,f2,...: cycles per step (discrete, in (0, 0.5)) or per unit time (continuous)", ""},
      {"--f-min", "f_min", K::Number, "", "Lowest of a log-spaced grid (default " + format_number(default_f_min) + ")", ""},
      {"--f-max", "f_max", K::Number, "",
       "Highest of a log-spaced grid (default " + format_number(default_f_max_discrete) + " discrete, " +
           format_number(default_f_max_continuous) + " continuous)",
       ""},
      {"--n-freq", "n_freq", K::Integer, "", "Frequencies in the log-spaced grid (default " + std::to_string(default_n_freq) + ")",
       ""},
      {"--amplitude", "amplitude", K::Number, "0.01", "Drive amplitude a", ""},
      {"--input-direction", "input_direction", K::Numbers, "", "Drive direction e: input_size numbers (default unit 0)", ""},
      {"--input-constant", "input_constant", K::Numbers, "", "Operating point x0: input_size numbers (default zero)", ""},
      {"--periods", "periods", K::Number, "20.0", "Measured periods P", ""},
      {"--transient-periods", "transient_periods", K::Number, "20.0",
       "Periods before the measurement (at least 10 of the slowest timescales)", ""},
      {"--samples-per-period", "samples_per_period", K::Integer, "64", "Samples per period of the dense output",
       "continuous"},
      {"--threads", "threads", K::Integer, "0", "Threads over the frequencies (0 = every core)", ""},
  };
  t.insert(t.end(), own.begin(), own.end());
  const OptionTable start = start_options("the rest point (Newton from it; it must converge to a stable point):");
  t.insert(t.end(), start.begin(), start.end());
  return t;
}

// A run file's recorded fixed points, as further starts: those of the checkpoint the model
// spec names (FILE.h5:/checkpoints/<step>), or of the run's last checkpoint that has them
// when the spec is the run file itself (its final model). Empty when there are none.
std::pair<MatrixXd, std::string> recorded_fixed_points(const std::string& spec) {
  const std::string path = model_spec_file(spec);
  const std::string group = spec.size() > path.size() + 2 ? spec.substr(path.size() + 2) : "";  // after ":/"
  const h5::File f = h5::File::open(path);
  std::string at;
  if (!group.empty()) {
    at = group + "/fixed_point_search/fixed_points/states";
    if (!f.has(at)) return {};
  } else {
    if (!f.has("final_model") || !f.has("checkpoints")) return {};
    long long last = -1;
    for (const auto& name : f.group("checkpoints").children()) {
      if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos || name.size() > 18) continue;
      if (f.has("checkpoints/" + name + "/fixed_point_search/fixed_points/states")) last = std::max(last, std::stoll(name));
    }
    if (last < 0) return {};
    at = "checkpoints/" + std::to_string(last) + "/fixed_point_search/fixed_points/states";
  }
  const h5::Array a = f.read(at);
  if (a.shape.size() != 2 || a.shape[0] == 0) return {};
  const auto K = static_cast<Eigen::Index>(a.shape[0]), n = static_cast<Eigen::Index>(a.shape[1]);
  return {Eigen::Map<const MatrixXd>(a.data.data(), n, K), "the recorded fixed point of " + path + ":/" + at + " row"};
}

VectorXd vector_key(const Config& cfg, const std::string& key) {
  if (!cfg.has(key)) return {};
  const auto v = cfg.get_double_list(key);
  return Eigen::Map<const VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

int run_timescales(Invocation& inv) {
  const std::string& spec = inv.arg("model");
  const Model model = inv.model();
  require_causal(model, spec);
  Config& cfg = inv.config;

  TimescaleOptions to;
  to.view = probe_view(cfg);
  const bool discrete = to.view == TimeView::Discrete;
  to.tau = discrete ? std::vector<double>{1.0} : cfg.get_double_list("tau", Range::positive());
  if (cfg.has("frequencies")) {
    if (cfg.has("f_min") || cfg.has("f_max") || cfg.has("n_freq"))
      throw cfg.error("frequencies", "given together with f_min/f_max/n_freq; expected one or the other");
    to.frequencies = cfg.get_double_list("frequencies");
  } else {
    const double f_min = cfg.get_double("f_min", default_f_min);
    const double f_max = cfg.get_double("f_max", discrete ? default_f_max_discrete : default_f_max_continuous);
    const auto n = cfg.get_int("n_freq", default_n_freq, Range::at_least(1));
    if (!(f_min > 0)) throw cfg.error("f_min", format_number(f_min) + " is not positive; expected frequencies > 0");
    if (!(f_max >= f_min)) throw cfg.error("f_max", format_number(f_max) + " is below f_min; expected f_max >= f_min");
    // The configuration records every value used.
    cfg.set("f_min", toml_number(f_min));
    cfg.set("f_max", toml_number(f_max));
    cfg.set("n_freq", std::to_string(n));
    for (long long i = 0; i < n; ++i)
      to.frequencies.push_back(n == 1 ? f_min
                                      : f_min * std::pow(f_max / f_min, static_cast<double>(i) / static_cast<double>(n - 1)));
  }
  to.amplitude = cfg.get_double("amplitude");
  to.direction = vector_key(cfg, "input_direction");
  to.x0 = vector_key(cfg, "input_constant");
  to.periods = cfg.get_double("periods");
  to.transient_periods = cfg.get_double("transient_periods", Range::non_negative());
  if (!discrete) {
    to.samples_per_period = static_cast<int>(cfg.get_int("samples_per_period", Range::closed(4, 1e6)));
    to.rtol = cfg.get_double("rtol", Range::positive());
    to.atol = cfg.get_double("atol", Range::positive());
  }
  to.threads = static_cast<int>(cfg.get_int("threads", Range::non_negative()));
  to.validate(model, cfg.name());
  if (const auto g = probe_start(cfg, model)) {
    to.given_start = g->state;
    to.given_label = g->label;
  } else {
    std::tie(to.extra_starts, to.extra_label) = recorded_fixed_points(spec);
    if (to.extra_starts.rows() != model.state_dim()) to.extra_starts.resize(0, 0);
  }

  const TimescaleResult r = probe_timescales(model, to);

  Context& ctx = inv.ctx;
  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, spec, cfg.to_toml()));
  write_probe_frame(f, model, to.view, to.tau, "timescales");
  f.set_attr("frequency_units", discrete ? "cycles per step" : "cycles per unit time");
  f.set_attr("timescale_units", discrete ? "steps" : "time units");
  f.set_attr("amplitude", to.amplitude);
  f.set_attr("periods", to.periods);
  f.set_attr("transient_periods", to.transient_periods);
  if (!discrete) {
    f.set_attr("samples_per_period", static_cast<long long>(to.samples_per_period));
    f.set_attr("method", "dopri5");
    f.set_attr("rtol", to.rtol);
    f.set_attr("atol", to.atol);
  }
  const VectorXd e = to.direction.size() ? VectorXd(to.direction / to.direction.norm()) : VectorXd::Unit(model.input_size, 0);
  f.write("input_direction", e);
  f.write("input_constant", to.x0.size() ? to.x0 : VectorXd::Zero(model.input_size).eval());
  f.write("fixed_point", r.fixed_point);
  f.set_dim_labels("fixed_point", {"state"});
  f.set_attr("fixed_point_start", r.fixed_point_start);
  f.set_attr("fixed_point_starts_tried", static_cast<long long>(r.starts_tried));
  f.set_attr("fixed_point_starts_stable", static_cast<long long>(r.starts_stable));
  f.write("frequencies", r.frequencies);
  f.set_dim_labels("frequencies", {"frequency"});
  for (const auto& [name, m] : {std::pair<const char*, const MatrixXd*>{"gain", &r.gain}, {"gain_linear", &r.gain_linear},
                                {"power", &r.power}, {"own_gain_measured", &r.own_gain},
                                {"own_gain_predicted", &r.own_gain_linear}}) {
    f.write(name, *m);
    f.set_dim_labels(name, {"layer", "frequency"});
  }
  for (const auto& [name, v] : {std::pair<const char*, const VectorXd*>{"preferred_frequency", &r.preferred_frequency},
                                {"cutoff_frequency", &r.cutoff_frequency}, {"spectral_radius", &r.spectral_radius},
                                {"timescale", &r.timescale}, {"own_preferred_frequency", &r.own_preferred_frequency},
                                {"own_cutoff_frequency", &r.own_cutoff_frequency}}) {
    f.write(name, *v);
    f.set_dim_labels(name, {"layer"});
  }
  if (r.readout_gain.size() > 0) {
    for (const auto& [name, v] : {std::pair<const char*, const VectorXd*>{"readout_gain", &r.readout_gain},
                                  {"readout_gain_predicted", &r.readout_gain_linear}}) {
      f.write(name, *v);
      f.set_dim_labels(name, {"frequency"});
    }
  }
  std::vector<double> window(r.window.begin(), r.window.end());
  f.write("window_samples", {window.size()}, window.data());
  f.write("transient", {r.transient.size()}, r.transient.data());
  out.commit();

  ctx.out << inv.output << ": " << r.frequencies.size() << " frequencies, " << model.num_layers() << " layers\n";
  for (int l = 0; l < model.num_layers(); ++l)
    ctx.out << "  layer " << l << ": preferred " << r.preferred_frequency(l) << ", cutoff " << r.cutoff_frequency(l)
            << ", spectral radius " << r.spectral_radius(l) << ", timescale " << r.timescale(l) << "; own: preferred "
            << r.own_preferred_frequency(l) << ", cutoff " << r.own_cutoff_frequency(l) << "\n";
  ctx.out << "  rest point from " << r.fixed_point_start << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "timescales",
    .summary = "Each layer's gain over drive frequencies at the stable fixed point, and its timescale",
    .positionals = {model_positional(),
                    {"config", "Options as TOML (the keys shown in {key ...}); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .footer = "TS.h5 holds frequencies (n_f,), gain, gain_linear, power, own_gain_measured, own_gain_predicted\n"
              "(L, n_f), preferred_frequency, cutoff_frequency, own_preferred_frequency, own_cutoff_frequency,\n"
              "spectral_radius, timescale (L,), readout_gain, readout_gain_predicted (n_f,) with a readout,\n"
              "and the attribute fixed_point_start. See docs/probes.md.",
    .run = run_timescales,
});

}  // namespace
}  // namespace stackdyn::cli
