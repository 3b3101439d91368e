// `stackdyn lyapunov MODEL.h5 [CONFIG.toml] -o LY.h5`: the Lyapunov spectrum along driven or
// autonomous trajectories, by repeated QR of tangent products (docs/probes.md).
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"
#include "probe_io.hpp"

#include <stackdyn/analysis/lyapunov.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/random.hpp>
#include <stackdyn/model/model_io.hpp>

#include <cmath>
#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct LyapunovCliOptions {
  std::string model, config, output;
  std::optional<std::string> mode, tau, input_file, k, steps, t_end, transient, batch, seed, initial_states,
      reorthonormalize_every, record_every, rtol, atol, threads;
  std::vector<std::string> sets;
};

std::vector<std::string> config_keys() {
  std::vector<std::string> k = probe_drive_keys();
  for (const char* key : {"k", "steps", "t_end", "transient", "initial_states", "reorthonormalize_every",
                          "record_every", "threads"})
    k.emplace_back(key);
  return k;
}

int run_lyapunov(const LyapunovCliOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  require_causal(model, o.model);
  Config cfg = o.config.empty() ? Config::from_string("", "lyapunov options") : Config::from_file(o.config);
  set_list(cfg, "tau", o.tau, "--tau");
  if (o.input_file) cfg.set("input_file", "\"" + *o.input_file + "\"");
  if (o.initial_states) cfg.set("initial_states", "\"" + *o.initial_states + "\"");
  const std::pair<const char*, const std::optional<std::string>*> flags[] = {
      {"mode", &o.mode},   {"k", &o.k},         {"steps", &o.steps}, {"t_end", &o.t_end},
      {"transient", &o.transient}, {"batch", &o.batch}, {"seed", &o.seed},
      {"reorthonormalize_every", &o.reorthonormalize_every}, {"record_every", &o.record_every},
      {"rtol", &o.rtol},   {"atol", &o.atol},   {"threads", &o.threads}};
  for (const auto& [key, value] : flags) set_value(cfg, key, *value);
  for (const auto& a : o.sets) cfg.set_assignment(a);
  cfg.check_keys(config_keys());

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
  if (discrete) {
    lo.length = static_cast<double>(cfg.get_int("steps", 1000, Range::at_least(1)));
    lo.transient = static_cast<double>(cfg.get_int("transient", 0, Range::non_negative()));
    lo.reorthonormalize_every = static_cast<double>(cfg.get_int("reorthonormalize_every", 1, Range::at_least(1)));
    lo.record_every = static_cast<double>(cfg.get_int("record_every", 0, Range::non_negative()));
  } else {
    lo.length = cfg.get_double("t_end", 200.0, Range::positive());
    lo.transient = cfg.get_double("transient", 0.0, Range::non_negative());
    lo.reorthonormalize_every = cfg.get_double("reorthonormalize_every", 1.0, Range::positive());
    lo.record_every = cfg.get_double("record_every", 0.0, Range::non_negative());
  }
  lo.threads = static_cast<int>(cfg.get_int("threads", 0, Range::non_negative()));
  lo.seed = static_cast<std::uint64_t>(drive.seed);

  // Initial states: a file's, the input file's s0, or 0.5 N(0, 1) per component.
  MatrixXd S0;
  std::string s0_source;
  const std::string states_path = cfg.get_string("initial_states", "");
  if (!states_path.empty()) {
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
                      "transient + measured = " + format_double(needed) + (discrete ? " steps" : " time units") +
                          ", but the input file " + drive.input_path + " covers " +
                          format_double(discrete ? static_cast<double>(probe.step_horizon()) : probe.horizon()));
  }

  const LyapunovResult r = lyapunov_spectrum(model, drive.input, S0, lo);

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  Provenance prov = make_provenance(ctx, o.model, cfg.to_toml(), drive.seed);
  prov.source = s0_source;
  write_provenance(f, prov);
  write_probe_frame(f, model, lo.view, lo.tau, "lyapunov");
  f.set_attr("exponent_units", discrete ? "per step" : "per unit time");
  f.set_attr("steps_or_t_end", lo.length);
  f.set_attr("transient", lo.transient);
  f.set_attr("reorthonormalize_every", lo.reorthonormalize_every);
  f.set_attr("input_path", drive.input_path);
  if (!discrete) {
    f.set_attr("method", "dopri5 (state and variational equations)");
    f.set_attr("rtol", lo.rtol);
    f.set_attr("atol", lo.atol);
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

  ctx.out << o.output << ": " << r.exponents.size() << " Lyapunov exponents (" << (discrete ? "per step" : "per unit time")
          << ", " << S0.cols() << " trajectories), largest " << r.exponents(0) << ", Kaplan-Yorke dimension "
          << r.kaplan_yorke << "\n";
  return 0;
}

const bool registered = register_command(
    {"lyapunov", "Lyapunov spectrum along trajectories (repeated QR of tangent products)",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<LyapunovCliOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("config", o->config,
                      "Options as TOML: simulate's input keys (input.*, input_file) and the flags' names with '_'");
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--mode", o->mode, "discrete (default) | continuous");
       sub.add_option("--tau", o->tau, "Time constant: one value, or one per layer separated by commas");
       sub.add_option("--input-file", o->input_file, "Inputs: 'inputs' (batch, time, input_size), optional 's0'");
       sub.add_option("--k", o->k, "The top K exponents (default all)");
       sub.add_option("--steps", o->steps, "Measured steps (discrete; default 1000)");
       sub.add_option("--t-end", o->t_end, "Measured time (continuous; default 200)");
       sub.add_option("--transient", o->transient, "Steps (time) before the measurement, not counted (default 0)");
       sub.add_option("--batch", o->batch, "Independent initial states, each component 0.5 N(0, 1) (default 1)");
       sub.add_option("--seed", o->seed, "Seed of the initial states and tangent bases (default 0)");
       sub.add_option("--initial-states", o->initial_states, "Initial states: dataset 'states' (B, state_dim)");
       sub.add_option("--reorthonormalize-every", o->reorthonormalize_every, "QR every m steps (time units; default 1)");
       sub.add_option("--record-every", o->record_every, "Running estimate every r steps (time; default: ~100 records)");
       sub.add_option("--rtol", o->rtol, "dopri5 relative tolerance (continuous; default 1e-6)");
       sub.add_option("--atol", o->atol, "dopri5 absolute tolerance (continuous; default 1e-9)");
       sub.add_option("--threads", o->threads, "Threads over the batch (0 = every core; default 0)");
       sub.add_option("--set", o->sets, "KEY=VALUE: any key, e.g. input.sinusoids[0].amplitude=0.5 (repeatable)");
       sub.footer(
           "LY.h5 holds exponents (K,), exponents_per_sample (B, K), running (n_records, K), running_time,\n"
           "kaplan_yorke_dimension, layer_exponents (L, n_max) when K is all. See docs/probes.md.");
       return [o](Context& ctx) { return run_lyapunov(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
