// `stackdyn fixed-points MODEL.h5 [CONFIG.toml] -o FP.h5`: fixed points and slow points of a
// stack for a constant input, deduplicated, with the eigen-analysis at each (docs/fixed-points.md).
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"

#include <stackdyn/core/config.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/model/model_io.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct FixedPointOptions {
  std::string model, config, output, initial_states;
  int every = 1;
  // every flag is also a key of the configuration (flag names with '_' for '-')
  std::optional<std::string> input_constant, mode, tau, n_init, seed, q_tol, max_iters, method, noise, unique_tol,
      outlier_scale, eig_method, top_k, which, n_vectors, threads, max_combinations, step_tol, neutral_tol,
      follow_tol;
  bool hierarchical = false, include_slow = false, saddle_graph = false;
  std::vector<std::string> sets;
};

const std::vector<std::string> config_keys = {
    "input_constant", "mode", "tau", "n_init", "seed", "q_tol", "max_iters", "method", "noise", "unique_tol",
    "outlier_scale", "eig_method", "top_k", "which", "n_vectors", "threads", "hierarchical", "max_combinations",
    "step_tol", "include_slow", "saddle_graph", "neutral_tol", "follow_tol"};

int run_fixed_points(const FixedPointOptions& o, Context& ctx) {
  const Model model = read_model(o.model);
  require_causal(model, o.model);
  Config cfg = o.config.empty() ? Config::from_string("", "fixed-points options") : Config::from_file(o.config);
  cfg.check_keys(config_keys);
  set_list(cfg, "input_constant", o.input_constant, "--input-constant");
  set_list(cfg, "tau", o.tau, "--tau");
  const std::pair<const char*, const std::optional<std::string>*> flags[] = {
      {"mode", &o.mode},           {"n_init", &o.n_init},         {"seed", &o.seed},
      {"q_tol", &o.q_tol},         {"max_iters", &o.max_iters},   {"method", &o.method},
      {"noise", &o.noise},         {"unique_tol", &o.unique_tol}, {"outlier_scale", &o.outlier_scale},
      {"eig_method", &o.eig_method}, {"top_k", &o.top_k},         {"which", &o.which},
      {"n_vectors", &o.n_vectors}, {"threads", &o.threads},       {"max_combinations", &o.max_combinations},
      {"step_tol", &o.step_tol},   {"neutral_tol", &o.neutral_tol}, {"follow_tol", &o.follow_tol}};
  for (const auto& [key, value] : flags) set_value(cfg, key, *value);
  if (o.hierarchical) cfg.set("hierarchical", "true");
  if (o.include_slow) cfg.set("include_slow", "true");
  if (o.saddle_graph) cfg.set("saddle_graph", "true");
  for (const auto& a : o.sets) cfg.set_assignment(a);

  FixedPointSearch s = search_from_config(cfg, model);
  ProgressBar bar(ctx.err, ctx.quiet, "fixed-points: sampling starts");
  s.progress = [&](double f) { bar(f); };
  const VectorXd x = input_from_config(cfg, model);

  std::optional<MatrixXd> starts;
  if (!o.initial_states.empty()) starts = read_states(o.initial_states, model, "states", o.every);
  const FixedPointReport rep = analyse_fixed_points(model, x, s, starts ? &*starts : nullptr);
  bar.done();

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  Provenance prov = make_provenance(ctx, o.model, cfg.to_toml(), static_cast<long long>(s.seed));
  prov.source = rep.starts_description;
  write_provenance(f, prov);
  if (!o.initial_states.empty()) {
    f.set_attr("initial_states_path", o.initial_states);
    f.set_attr("initial_states_every", static_cast<long long>(o.every));
  }
  write_fixed_point_report(f, model, x, s, rep);
  out.commit();

  ctx.out << o.output << ": " << summarise(rep);
  return 0;
}

const bool registered = register_command(
    {"fixed-points", "Find fixed points and slow points for a constant input, with their eigen-analysis",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<FixedPointOptions>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("config", o->config, "Options as TOML (keys: the flags' names with '_'); flags override it");
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--input-constant", o->input_constant, "Constant input x*: v1,v2,... (default zeros)");
       sub.add_option("--mode", o->mode, "discrete (q = 1/2 |F(s) - s|^2) or continuous (q = 1/2 |f(s)|^2)");
       sub.add_option("--tau", o->tau, "Time constants of the continuous view: one value, or one per layer (default 1)");
       sub.add_option("--initial-states", o->initial_states,
                      "Starts from a file: dataset 'states', (n, state_dim) or trajectories (batch, time, state_dim) "
                      "as forward and simulate write them");
       sub.add_option("--every", o->every, "With --initial-states trajectories: every K-th time of each (default 1)");
       sub.add_option("--n-init", o->n_init, "Number of starts sampled from trajectories (default 256)");
       sub.add_option("--seed", o->seed, "Seed of the sampled starts (default 0)");
       sub.add_option("--q-tol", o->q_tol, "A start converged when q < q-tol (default 1e-12)");
       sub.add_option("--max-iters", o->max_iters, "Iteration cap per start (default 200; adam 5000)");
       sub.add_option("--method", o->method, "lm (Levenberg-Marquardt, default), hybrid (MINPACK hybrj) or adam");
       sub.add_option("--noise", o->noise, "Std of the Gaussian noise on sampled starts (default 0.5)");
       sub.add_option("--unique-tol", o->unique_tol, "Points closer than this (2-norm) are one (default 1e-3)");
       sub.add_option("--outlier-scale", o->outlier_scale,
                      "Drop points farther from the starts' centroid than this times the starts' radius (0 = off)");
       sub.add_option("--eig-method", o->eig_method, "auto, full, block or spectra (default auto)");
       sub.add_option("--top-k", o->top_k, "Eigenvalues kept by spectra (default 20)");
       sub.add_option("--which", o->which, "Order of eigenvalues: magnitude or real (default: the view's own)");
       sub.add_option("--n-vectors", o->n_vectors, "Top modes with right and left eigenvectors (default 3)");
       sub.add_option("--threads", o->threads, "Threads for the starts (0 = every core; default 0)");
       sub.add_flag("--hierarchical", o->hierarchical, "Layer by layer: layer 1, then each layer given the points below");
       sub.add_option("--max-combinations", o->max_combinations, "Hierarchical: cap on the branches (default 256)");
       sub.add_option("--step-tol", o->step_tol, "A start stalls when its step is below this (default 1e-14)");
       sub.add_flag("--include-slow", o->include_slow, "Also keep slow points among the unique points");
       sub.add_option("--neutral-tol", o->neutral_tol,
                      "A direction is neutral (eigenvalue 1 of the map, 0 of the flow) when its singular value of "
                      "D dr/ds is below this (default 1e-3)");
       sub.add_option("--follow-tol", o->follow_tol,
                      "Two points are on one continuous set when each lies within this (relative) of the other's "
                      "neutral directions (default 0.1)");
       sub.add_flag("--saddle-graph", o->saddle_graph,
                    "From each saddle, follow both sides of its unstable directions to the stable points");
       sub.add_option("--set", o->sets, "KEY=VALUE: set any key of the options (repeatable)");
       sub.footer(
           "FP.h5 holds fixed_points/{states (K, state_dim), q (K,), counts (K,), eigenvalues (K, M) complex,\n"
           "n_unstable (K,), stable (K,), neutral_dim (K,), continuous_set (K,), timescales, periods,\n"
           "right_eigenvectors, left_eigenvectors, block_eigenvalues}, continuous_sets/{dimension, n_points, counts,\n"
           "extent} and starts/{initial, final, q, iterations, status, point}. See docs/fixed-points.md.");
       return [o](Context& ctx) { return run_fixed_points(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
