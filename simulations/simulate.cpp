// `stackdyn simulate MODEL.h5 [CONFIG.toml] -o OUT.h5`: trajectories of a model in the
// discrete or the continuous-time view (docs/design.md 3), written as they are computed.
#include "cli.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

struct SimulateOptions {
  std::string model, config, output;
  std::string mode, tau, method, rtol, atol, dt, t_end, steps, dt_out, input_file, batch, seed;
  std::vector<std::string> sets;
};

int run_simulate(const SimulateOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  Config cfg = o.config.empty() ? Config::from_string("", "command line") : Config::from_file(o.config);
  auto set = [&](const char* key, const std::string& v) {
    if (!v.empty()) cfg.set(key, v);
  };
  set("mode", o.mode);
  set("method", o.method);
  set("rtol", o.rtol);
  set("atol", o.atol);
  set("dt", o.dt);
  set("t_end", o.t_end);
  set("steps", o.steps);
  set("dt_out", o.dt_out);
  set("batch", o.batch);
  set("seed", o.seed);
  if (!o.input_file.empty()) cfg.set("input_file", "\"" + o.input_file + "\"");
  if (!o.tau.empty()) {
    std::string list = "[";
    for (double v : parse_list(o.tau, "--tau")) list += (list.size() > 1 ? ", " : "") + std::to_string(v);
    cfg.set("tau", list + "]");
  }
  for (const auto& a : o.sets) cfg.set_assignment(a);
  const SimulationConfig sc = simulation_config(cfg, model);

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, o.model, cfg.to_toml(), sc.seed));
  f.set_attr("input_path", sc.input_path);
  write_state_layout(f, model);
  ProgressBar bar(ctx.err, ctx.quiet, "simulate");
  SimulationHooks hooks;
  hooks.progress = [&](double x) { bar(x); };
  hooks.flush_file = &f;
  SimulationResult r;
  try {
    r = simulate(model, sc, f, hooks);
  } catch (const DivergenceError& e) {
    out.commit();  // keep what was computed, readable, with status = "diverged"
    throw RunError(e.what() + std::string("; see ") + o.output);
  }
  out.commit();
  ctx.out << o.output << ": " << sc.batch << " trajectories, " << r.outputs << " samples, "
          << (sc.mode == TimeView::Continuous ? std::string(method_name(sc.integrator.method)) : std::string("discrete map"))
          << ", " << r.stats.steps << " steps (" << r.stats.rejected_steps << " rejected), " << r.stats.rhs_evaluations
          << " right-hand sides, " << r.stats.jacobian_evaluations << " Jacobians\n";
  return 0;
}

const bool registered = register_command(
    {"simulate", "Trajectories of a model in the discrete or continuous-time view",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<SimulateOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("config", o->config, "Simulation configuration (TOML; see docs/simulation.md)");
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--mode", o->mode, "discrete | continuous (default continuous)");
       sub.add_option("--tau", o->tau, "Time constant: one value, or one per layer separated by commas");
       sub.add_option("--method", o->method, "euler | rk4 | dopri5 | rosenbrock4 | bulirsch_stoer | rosenbrock4_odeint (default dopri5)");
       sub.add_option("--rtol", o->rtol, "Relative tolerance of the adaptive methods (default 1e-6)");
       sub.add_option("--atol", o->atol, "Absolute tolerance of the adaptive methods (default 1e-9)");
       sub.add_option("--dt", o->dt, "Fixed step (euler, rk4); first trial step of the adaptive methods");
       sub.add_option("--t-end", o->t_end, "End time (continuous mode)");
       sub.add_option("--steps", o->steps, "Number of steps (discrete mode)");
       sub.add_option("--dt-out", o->dt_out, "Sampling interval of the output (time, or steps in discrete mode)");
       sub.add_option("--input-file", o->input_file,
                      "Inputs: 'inputs' (batch, time, input_size) with attribute dt, optional 's0' (batch, state_dim)");
       sub.add_option("--batch", o->batch, "Number of trajectories (without an input file)");
       sub.add_option("--seed", o->seed, "Seed of random inputs and initial states");
       sub.add_option("--set", o->sets, "Any configuration key: --set input.noise.std=0.1 (repeatable)");
       sub.footer(
           "OUT holds time (n_out,) and states (batch, n_out, state_dim), the first sample being the initial\n"
           "state at t = 0, state_slices (layer, [offset, size]), s0, the group 'statistics' and the\n"
           "configuration as TOML (attribute 'config'). See docs/simulation.md.");
       return [o](Context& ctx) { return run_simulate(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
