// `stackdyn lyapunov MODEL.h5 [CONFIG.toml] -o LY.h5`: the Lyapunov spectrum along driven or
// autonomous trajectories, by repeated QR of tangent products (docs/probes.md).
#include "command.hpp"
#include "command_util.hpp"
#include "probe_io.hpp"

#include <stackdyn/analysis/lyapunov.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <ostream>

namespace stackdyn::cli {
namespace {

OptionTable options() {
  using K = ValueKind;
  OptionTable t = probe_options({"mode", "tau", "rtol", "atol", "dt", "batch", "seed", "input_file", "input.*"});
  for (auto& o : t) {
    if (o.key == "batch") o.help = "Independent initial states, each component 0.5 N(0, 1) (default 1; an input file gives its own)";
    if (o.key == "dt") o.help = "First trial step of dopri5";
  }
  const OptionTable own = {
      {"--k", "k", K::Integer, "", "The top K exponents (default all)", ""},
      {"--steps", "steps", K::Integer, "1000", "Measured steps, after the transient", "discrete"},
      {"--t-end", "t_end", K::Number, "200.0", "Measured time, after the transient", "continuous"},
      {"--transient", "transient", K::Number, "0", "Steps (time) before the measurement, not counted", ""},
      {"--initial-states", "initial_states", K::Path, "", "Initial states: dataset 'states' (B, state_dim)", ""},
      {"--reorthonormalize-every", "reorthonormalize_every", K::Number, "1", "QR every m steps (time units)", ""},
      {"--record-every", "record_every", K::Number, "0",
       "Running estimate every r steps (time units); 0: about 100 records", ""},
      {"--threads", "threads", K::Integer, "0", "Threads over the batch (0 = every core)", ""},
      {"--route", "route", K::Text, "auto",
       "layers: each layer's own block, the spectrum their union; full: the whole tangent dynamics; "
       "auto: layers for all exponents, else full",
       ""},
  };
  t.insert(t.end(), own.begin(), own.end());
  const OptionTable start = start_options("the one initial state,");
  t.insert(t.end(), start.begin(), start.end());
  return t;
}

// A count of steps in discrete mode, a duration in continuous mode.
double length_key(const Config& cfg, const std::string& key, bool discrete, Range range) {
  const double v = cfg.get_double(key, range);
  if (discrete && v != std::floor(v)) throw cfg.error(key, "expected a whole number of steps in discrete mode");
  return v;
}

int run_lyapunov(Invocation& inv) {
  Context& ctx = inv.ctx;
  const std::string& spec = inv.arg("model");
  const Model model = inv.model();
  require_causal(model, spec);
  const Config& cfg = inv.config;

  LyapunovOptions lo;
  lo.view = probe_view(cfg);
  const bool discrete = lo.view == TimeView::Discrete;
  const SimulationConfig drive = probe_drive(cfg, model);
  lo.tau = drive.tau;
  lo.rtol = drive.integrator.rtol;
  lo.atol = drive.integrator.atol;
  lo.dt = drive.integrator.dt;
  const int N = model.state_dim();
  lo.k = static_cast<int>(cfg.get_int("k", 0, Range::at_least(1)));
  if (lo.k > N)
    throw cfg.error("k", std::to_string(lo.k) + " exponents, but the state has " + std::to_string(N) +
                             " dimensions; expected 1 <= k <= " + std::to_string(N));
  lo.length = discrete ? static_cast<double>(cfg.get_int("steps", Range::at_least(1)))
                       : cfg.get_double("t_end", Range::positive());
  lo.transient = length_key(cfg, "transient", discrete, Range::non_negative());
  lo.reorthonormalize_every =
      length_key(cfg, "reorthonormalize_every", discrete, discrete ? Range::at_least(1) : Range::positive());
  lo.record_every = length_key(cfg, "record_every", discrete, Range::non_negative());
  lo.threads = static_cast<int>(cfg.get_int("threads", Range::non_negative()));
  lo.seed = static_cast<std::uint64_t>(drive.seed);
  if (const std::string route = cfg.get_string("route"); route == "layers")
    lo.route = LyapunovOptions::Route::Layers;
  else if (route == "full")
    lo.route = LyapunovOptions::Route::Full;
  else if (route != "auto")
    throw cfg.error("route", "unknown route '" + route + "'; expected auto, full or layers");

  // Initial states: a file's, the input file's s0, or 0.5 N(0, 1) per component.
  MatrixXd S0;
  std::string s0_source;
  const std::string states_path = cfg.get_string("initial_states", "");
  const auto given = probe_start(cfg, model);
  if (given && (!states_path.empty() || drive.s0.size() > 0))
    throw cfg.error(cfg.has("state") ? "state" : "fixed_point",
                    "given together with initial states (initial_states or the input file's s0); expected one start");
  if (given) {
    if (drive.input.samples && drive.batch != 1)
      throw cfg.error(cfg.has("state") ? "state" : "fixed_point",
                      "one initial state, but the input file " + drive.input_path + " has a batch of " +
                          std::to_string(drive.batch) + "; expected a batch of 1");
    S0 = given->state;
    s0_source = "initial state: " + given->label;
  } else if (!states_path.empty()) {
    S0 = read_states(states_path, model);
    s0_source = "initial states from " + states_path;
  } else if (drive.s0.size() > 0) {
    S0 = drive.s0;
    s0_source = "initial states: s0 of " + drive.input_path;
  } else {
    const int B = drive.input.samples ? drive.batch : static_cast<int>(cfg.get_int("batch", 1, Range::at_least(1)));
    S0.resize(N, B);
    Rng rng(static_cast<std::uint64_t>(drive.seed));
    for (Eigen::Index j = 0; j < S0.size(); ++j) S0.data()[j] = 0.5 * rng.normal();
    s0_source = "initial states: 0.5 N(0, 1) per component, seed " + std::to_string(drive.seed);
  }
  if (drive.input.samples) {
    if (S0.cols() != drive.batch)
      throw InputError(states_path + ": " + std::to_string(S0.cols()) + " initial states, but the input file " +
                       drive.input_path + " has a batch of " + std::to_string(drive.batch) + "; expected equal");
    const double needed = lo.transient + lo.length;
    const InputSignal probe(drive.input, model.input_size, drive.batch);
    if (discrete ? needed > static_cast<double>(probe.step_horizon()) : needed > probe.horizon() * (1 + 1e-12))
      throw cfg.error(discrete ? "steps" : "t_end",
                      "transient + measured = " + format_number(needed) + (discrete ? " steps" : " time units") +
                          ", but the input file " + drive.input_path + " covers " +
                          format_number(discrete ? static_cast<double>(probe.step_horizon()) : probe.horizon()));
  }

  const LyapunovResult r = lyapunov_spectrum(model, drive.input, S0, lo);

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  Provenance prov = make_provenance(ctx, spec, cfg.to_toml(), drive.seed);
  prov.source = s0_source;
  write_provenance(f, prov);
  write_probe_frame(f, model, lo.view, lo.tau, "lyapunov");
  f.set_attr("exponent_units", discrete ? "per step" : "per unit time");
  f.set_attr("steps_or_t_end", lo.length);
  f.set_attr("transient", lo.transient);
  f.set_attr("reorthonormalize_every", lo.reorthonormalize_every);
  // The interval adapts so that no QR's spread of log|R_ii| passes 16 nats (docs/probes.md).
  f.set_attr("reorthonormalize_every_used", r.reorthonormalize_every_used);
  f.set_attr("reorthonormalize_halvings", r.reorthonormalize_halvings);
  f.set_attr("max_log_r_spread", r.max_log_r_spread);
  f.set_attr("route", r.route);
  f.set_attr("input_path", drive.input_path);
  if (!discrete) {
    f.set_attr("method", "dopri5 (state and variational equations)");
    f.set_attr("rtol", lo.rtol);
    f.set_attr("atol", lo.atol);
    // with all exponents: the mean of tr(T^-1 (dG/ds - I)), which their sum must equal
    if (std::isfinite(r.volume_rate)) f.set_attr("volume_rate", r.volume_rate);
  }
  f.write("exponents", r.exponents);
  f.set_dim_labels("exponents", {"exponent"});
  f.write("exponents_per_sample", r.per_sample);
  f.set_dim_labels("exponents_per_sample", {"sample", "exponent"});
  f.write("running", r.running);
  f.set_dim_labels("running", {"record", "exponent"});
  f.write("running_time", r.record_times);
  f.set_dim_labels("running_time", {"record"});
  f.write("kaplan_yorke_dimension", {}, &r.kaplan_yorke);
  if (r.layer_exponents.size() > 0) {
    f.write("layer_exponents", r.layer_exponents);
    f.set_dim_labels("layer_exponents", {"layer", "exponent"});
  }
  f.write("initial_states", MatrixXd(S0.transpose()));
  f.set_dim_labels("initial_states", {"sample", "state"});
  out.commit();

  ctx.out << inv.output << ": " << r.exponents.size() << " Lyapunov exponents (" << (discrete ? "per step" : "per unit time")
          << ", " << S0.cols() << " trajectories), largest " << r.exponents(0) << ", Kaplan-Yorke dimension "
          << r.kaplan_yorke;
  if (r.reorthonormalize_halvings > 0)
    ctx.out << "; the re-orthonormalisation interval was halved " << r.reorthonormalize_halvings << " times, to "
            << r.reorthonormalize_every_used << " (the directions' growth spread too far between QRs)";
  ctx.out << "\n";
  return 0;
}

const bool registered = register_command({
    .name = "lyapunov",
    .summary = "Lyapunov spectrum along trajectories (repeated QR of tangent products)",
    .positionals = {model_positional(),
                    {"config", "Options as TOML (the keys shown in {key ...}, simulate's input.* keys); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .footer = "LY.h5 holds exponents (K,), exponents_per_sample (B, K), running (n_records, K), running_time,\n"
              "kaplan_yorke_dimension, layer_exponents (L, n_max) when K is all. See docs/probes.md.",
    .run = run_lyapunov,
});

}  // namespace
}  // namespace stackdyn::cli
