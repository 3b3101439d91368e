// `stackdyn timescales MODEL.h5 [CONFIG.toml] -o TS.h5`: each layer's gain at a grid of drive
// frequencies around the stable fixed point, measured and linearly predicted, with the
// layers' timescales (docs/probes.md).
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"
#include "probe_io.hpp"

#include <stackdyn/analysis/timescales.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct TimescaleCliOptions {
  std::string model, config, output;
  std::optional<std::string> mode, tau, frequencies, f_min, f_max, n_freq, amplitude, input_direction, input_constant,
      periods, transient_periods, samples_per_period, rtol, atol, threads;
  std::vector<std::string> sets;
};

const std::vector<std::string> config_keys = {
    "mode", "tau", "frequencies", "f_min", "f_max", "n_freq", "amplitude", "input_direction", "input_constant",
    "periods", "transient_periods", "samples_per_period", "rtol", "atol", "threads"};

VectorXd vector_key(const Config& cfg, const std::string& key) {
  if (!cfg.has(key)) return {};
  const auto v = cfg.get_double_list(key);
  return Eigen::Map<const VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

int run_timescales(const TimescaleCliOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  require_causal(model, o.model);
  Config cfg = o.config.empty() ? Config::from_string("", "timescales options") : Config::from_file(o.config);
  set_list(cfg, "tau", o.tau, "--tau");
  set_list(cfg, "frequencies", o.frequencies, "--frequencies");
  set_list(cfg, "input_direction", o.input_direction, "--input-direction");
  set_list(cfg, "input_constant", o.input_constant, "--input-constant");
  const std::pair<const char*, const std::optional<std::string>*> flags[] = {
      {"mode", &o.mode},       {"f_min", &o.f_min},         {"f_max", &o.f_max},
      {"n_freq", &o.n_freq},   {"amplitude", &o.amplitude}, {"periods", &o.periods},
      {"transient_periods", &o.transient_periods},          {"samples_per_period", &o.samples_per_period},
      {"rtol", &o.rtol},       {"atol", &o.atol},           {"threads", &o.threads}};
  for (const auto& [key, value] : flags) set_value(cfg, key, *value);
  for (const auto& a : o.sets) cfg.set_assignment(a);
  cfg.check_keys(config_keys);

  TimescaleOptions to;
  to.view = probe_view(cfg);
  to.tau = cfg.get_double_list("tau", {1.0}, Range::positive());
  const bool discrete = to.view == TimeView::Discrete;
  if (cfg.has("frequencies")) {
    if (cfg.has("f_min") || cfg.has("f_max") || cfg.has("n_freq"))
      throw cfg.error("frequencies", "given together with f_min/f_max/n_freq; expected one or the other");
    to.frequencies = cfg.get_double_list("frequencies");
  } else {
    const double f_min = cfg.get_double("f_min", discrete ? 0.005 : 0.005);
    const double f_max = cfg.get_double("f_max", discrete ? 0.45 : 1.0);
    const auto n = cfg.get_int("n_freq", 30, Range::at_least(1));
    if (!(f_min > 0)) throw cfg.error("f_min", format_double(f_min) + " is not positive; expected frequencies > 0");
    if (!(f_max >= f_min)) throw cfg.error("f_max", format_double(f_max) + " is below f_min; expected f_max >= f_min");
    for (long long i = 0; i < n; ++i)
      to.frequencies.push_back(n == 1 ? f_min
                                      : f_min * std::pow(f_max / f_min, static_cast<double>(i) / static_cast<double>(n - 1)));
  }
  to.amplitude = cfg.get_double("amplitude", 0.01);
  to.direction = vector_key(cfg, "input_direction");
  to.x0 = vector_key(cfg, "input_constant");
  to.periods = cfg.get_double("periods", 20.0);
  to.transient_periods = cfg.get_double("transient_periods", 20.0, Range::non_negative());
  to.samples_per_period = static_cast<int>(cfg.get_int("samples_per_period", 64, Range::closed(4, 1e6)));
  to.rtol = cfg.get_double("rtol", 1e-6, Range::positive());
  to.atol = cfg.get_double("atol", 1e-9, Range::positive());
  to.threads = static_cast<int>(cfg.get_int("threads", 0, Range::non_negative()));
  to.validate(model, cfg.name());

  const TimescaleResult r = probe_timescales(model, to);

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, o.model, cfg.to_toml()));
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
  f.write("frequencies", r.frequencies);
  f.set_dim_labels("frequencies", {"frequency"});
  for (const auto& [name, m] : {std::pair<const char*, const MatrixXd*>{"gain", &r.gain}, {"gain_linear", &r.gain_linear},
                                {"power", &r.power}}) {
    f.write(name, *m);
    f.set_dim_labels(name, {"layer", "frequency"});
  }
  for (const auto& [name, v] : {std::pair<const char*, const VectorXd*>{"preferred_frequency", &r.preferred_frequency},
                                {"cutoff_frequency", &r.cutoff_frequency}, {"spectral_radius", &r.spectral_radius},
                                {"timescale", &r.timescale}}) {
    f.write(name, *v);
    f.set_dim_labels(name, {"layer"});
  }
  std::vector<double> window(r.window.begin(), r.window.end());
  f.write("window_samples", {window.size()}, window.data());
  f.write("transient", {r.transient.size()}, r.transient.data());
  out.commit();

  ctx.out << o.output << ": " << r.frequencies.size() << " frequencies, " << model.num_layers() << " layers\n";
  for (int l = 0; l < model.num_layers(); ++l)
    ctx.out << "  layer " << l << ": preferred " << r.preferred_frequency(l) << ", cutoff " << r.cutoff_frequency(l)
            << ", spectral radius " << r.spectral_radius(l) << ", timescale " << r.timescale(l) << "\n";
  return 0;
}

const bool registered = register_command(
    {"timescales", "Each layer's gain over drive frequencies at the stable fixed point, and its timescale",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<TimescaleCliOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("config", o->config, "Options as TOML (keys: the flags' names with '_'); flags override it");
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--mode", o->mode, "discrete (default) | continuous");
       sub.add_option("--tau", o->tau, "Time constant: one value, or one per layer separated by commas");
       sub.add_option("--frequencies", o->frequencies,
                      "f1,f2,...: cycles per step (discrete, in (0, 0.5)) or per unit time (continuous)");
       sub.add_option("--f-min", o->f_min, "Lowest of a log-spaced grid (default 0.005)");
       sub.add_option("--f-max", o->f_max, "Highest of a log-spaced grid (default 0.45 discrete, 1 continuous)");
       sub.add_option("--n-freq", o->n_freq, "Frequencies in the log-spaced grid (default 30)");
       sub.add_option("--amplitude", o->amplitude, "Drive amplitude a (default 0.01)");
       sub.add_option("--input-direction", o->input_direction, "Drive direction e: input_size numbers (default unit 0)");
       sub.add_option("--input-constant", o->input_constant, "Operating point x0: input_size numbers (default zero)");
       sub.add_option("--periods", o->periods, "Measured periods P (default 20)");
       sub.add_option("--transient-periods", o->transient_periods,
                      "Periods before the measurement (default 20; at least 10 of the slowest timescales)");
       sub.add_option("--samples-per-period", o->samples_per_period, "Continuous: samples per period (default 64)");
       sub.add_option("--rtol", o->rtol, "dopri5 relative tolerance (continuous; default 1e-6)");
       sub.add_option("--atol", o->atol, "dopri5 absolute tolerance (continuous; default 1e-9)");
       sub.add_option("--threads", o->threads, "Threads over the frequencies (0 = every core; default 0)");
       sub.add_option("--set", o->sets, "KEY=VALUE: set any key of the options (repeatable)");
       sub.footer(
           "TS.h5 holds frequencies (n_f,), gain, gain_linear, power (L, n_f), preferred_frequency,\n"
           "cutoff_frequency, spectral_radius, timescale (L,). See docs/probes.md.");
       return [o](Context& ctx) { return run_timescales(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
