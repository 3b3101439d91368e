// `stackdyn simulate MODEL.h5 [CONFIG.toml] -o OUT.h5`: trajectories of a model in the
// discrete or the continuous-time view (docs/design.md 3), written as they are computed.
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>
#include <stackdyn/dynamics/simulation.hpp>
#include <stackdyn/model/model_io.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

int run_simulate(Invocation& inv) {
  Context& ctx = inv.ctx;
  const Model model = inv.model();
  const SimulationConfig sc = simulation_config(inv.config, model);
  check_output_size(simulation_output_bytes(sc, model), inv.output, inv.force);

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, inv.arg("model"), inv.config.to_toml(), sc.seed));
  f.set_attr("input_path", sc.input_path);
  write_state_layout(f, model);
  Progress progress(ctx, "simulate");
  const StopSignal stop;
  SimulationHooks hooks;
  const double span = sc.mode == TimeView::Continuous ? sc.integrator.t_end : static_cast<double>(sc.steps);
  hooks.progress = [&](double x) {
    progress(x, (sc.mode == TimeView::Continuous ? "t = " : "step ") + format_number(x * span));
  };
  hooks.flush_file = &f;
  hooks.stop = [&] { return stop.requested(); };
  SimulationResult r;
  try {
    r = simulate(model, sc, f, hooks);
  } catch (const DivergenceError& e) {
    out.commit();  // keep what was computed, readable, with status = "diverged"
    throw RunError(e.what() + std::string("; see ") + inv.output);
  }
  out.commit();
  if (!r.interrupted.empty())
    throw RunError(stop.name() + " received: the run stopped, " + r.interrupted + "; the samples up to there are in " +
                   inv.output + " (attribute status)");
  ctx.out << inv.output << ": " << sc.batch << " trajectories, " << r.outputs << " samples, "
          << (sc.mode == TimeView::Continuous ? std::string(method_name(sc.integrator.method)) : std::string("discrete map"))
          << ", " << r.stats.steps << " steps (" << r.stats.rejected_steps << " rejected), " << r.stats.rhs_evaluations
          << " right-hand sides, " << r.stats.jacobian_evaluations << " Jacobians\n";
  return 0;
}

const bool registered = register_command({
    .name = "simulate",
    .summary = "Trajectories of a model in the discrete or continuous-time view",
    .positionals = {model_positional(),
                    {"config", "Simulation configuration (TOML; see docs/simulation.md)", Positional::Kind::Config, false}},
    .options = simulation_options(),
    .set = true,
    .force = true,
    .footer = "OUT holds time (n_out,) and states (batch, n_out, state_dim), the first sample being the initial\n"
              "state at t = 0, state_slices (layer, [offset, size]), s0, the group 'statistics' and the\n"
              "configuration as TOML (attribute 'config'). Outputs above 8 GiB need --force. On SIGINT or\n"
              "SIGTERM the run stops at the next output sample and OUT is written with status\n"
              "'interrupted at ...'. See docs/simulation.md.",
    .run = run_simulate,
});

}  // namespace
}  // namespace stackdyn::cli
