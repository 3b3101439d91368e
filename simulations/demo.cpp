// `stackdyn demo -o OUT.h5`: the main job on the embedded default model (data/default_model.toml).
// It simulates the model in both views of docs/design.md 3 (the discrete map, and the
// continuous-time ODE integrated with dopri5) under a default sinusoidal input, finds the
// fixed points for zero input with their spectra, and writes everything to one
// self-describing file, with a few lines for people on what it found.
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/core/format.hpp>
#include <stackdyn/core/config.hpp>
#include <stackdyn/default_model.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/model/init.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/dynamics/simulation.hpp>

#include <ostream>

namespace stackdyn::cli {
namespace {

struct DemoOptions {
  std::string output;
  long long steps = 0;
  double t_end = 0;
  int batch = 0;
  long long seed = 0;
};

// x_k(t) = 0.5 sin(2 pi t / (25 (k+1))) on every channel k, the same for every sample.
InputSpec default_input(int d) {
  InputSpec in;
  for (int k = 0; k < d; ++k) in.sinusoids.push_back({k, 0.5, 1.0 / (25.0 * (k + 1)), 0.0});
  return in;
}

SimulationConfig view_config(const DemoOptions& o, const Model& m, TimeView mode) {
  SimulationConfig c;
  c.mode = mode;
  c.batch = o.batch;
  c.seed = o.seed;
  c.s0_scale = 0.5;  // initial states U(-0.5, 0.5), the same in both views (same seed)
  c.input = default_input(m.input_size);
  c.steps = o.steps;
  c.integrator.method = Method::Dopri5;
  c.integrator.t_end = o.t_end;
  c.integrator.dt_out = 0.5;
  return c;
}

int run_demo(Invocation& inv) {
  Context& ctx = inv.ctx;
  DemoOptions o;
  o.output = inv.output;
  o.steps = inv.config.get_int("steps", Range::positive());
  o.t_end = inv.config.get_double("t_end", Range::positive());
  o.batch = static_cast<int>(inv.config.get_int("batch", Range::closed(1, 1e6)));
  o.seed = inv.config.get_int("seed", Range::non_negative());
  Config cfg = Config::from_string(default_model_toml, "default_model.toml");
  long long model_seed = 0;
  const Model model = model_from_config(cfg, &model_seed);

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  // The run's own options at the root; the model's description with the model (/model).
  write_provenance(f, make_provenance(ctx, "", inv.config.to_toml(), o.seed));
  f.set_attr("input_description", std::string("x_k(t) = 0.5 sin(2 pi t / (25 (k+1))), the same for every sample; "
                                              "initial states U(-0.5, 0.5) from the seed"));
  write_state_layout(f, model);
  {
    h5::Group mg = f.create_group("model");
    Provenance mp = make_provenance(ctx, "", cfg.to_toml(), model_seed);
    mp.source = "init (embedded default model)";
    write_model(model, mg, mp);
  }
  // The two views of one system.
  h5::Group dg = f.create_group("discrete");
  const SimulationResult rd = simulate(model, view_config(o, model, TimeView::Discrete), dg);
  h5::Group cg = f.create_group("continuous");
  const SimulationResult rc = simulate(model, view_config(o, model, TimeView::Continuous), cg);

  // Where the dynamics rest without input: fixed points and their linearisation.
  FixedPointSearch search;
  search.seed = static_cast<std::uint64_t>(o.seed);
  const VectorXd x0 = VectorXd::Zero(model.input_size);
  const FixedPointReport fp = analyse_fixed_points(model, x0, search);
  h5::Group fg = f.create_group("fixed_points_zero_input");
  write_fixed_point_report(fg, model, x0, search, fp);
  out.commit();

  ctx.out << o.output << ": default model, " << model.num_layers() << " layers (";
  for (int l = 0; l < model.num_layers(); ++l)
    ctx.out << (l ? ", " : "") << cell_name(model.layers[l].cell) << " " << model.layers[l].hidden_size;
  ctx.out << "), " << model.parameter_count() << " parameters, state_dim " << model.state_dim() << "\n";
  ctx.out << "  discrete map: " << o.batch << " trajectories of " << o.steps << " steps (group /discrete)\n";
  ctx.out << "  continuous time (tau = 1, dopri5, rtol 1e-6): t in [0, " << format_number(o.t_end) << "], " << rc.stats.steps
          << " steps, " << rc.stats.rejected_steps << " rejected, " << rc.stats.rhs_evaluations
          << " right-hand-side evaluations (group /continuous)\n";
  ctx.out << "  fixed points for zero input (discrete map, group /fixed_points_zero_input):\n";
  ctx.out << summarise(fp);
  (void)rd;
  return 0;
}

const bool registered = register_command({
    .name = "demo",
    .summary = "The main job: the embedded default 3-layer model in both views, and its fixed points",
    .options = {{"--steps", "steps", ValueKind::Integer, "400", "Steps of the discrete map", ""},
                {"--t-end", "t_end", ValueKind::Number, "100.0", "End time of the continuous view", ""},
                {"--batch", "batch", ValueKind::Integer, "8", "Number of trajectories", ""},
                {"--seed", "seed", ValueKind::Integer, "1", "Seed of the initial states and of the fixed-point starts", ""}},
    .output_default = "stackdyn_demo.h5",
    .run = run_demo,
});

}  // namespace
}  // namespace stackdyn::cli
