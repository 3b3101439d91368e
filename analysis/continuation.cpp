// `stackdyn continuation MODEL.h5 -o OUT.h5 --direction d1,d2,...` (or `--scale
// layers/<l>/weight_hh`): the bifurcation diagram of the fixed points as the constant input
// moves along x(p) = x0 + p d, or as one weight matrix is scaled, W -> p W: the points at
// p = p-start (default the model as it is: p = 0 on the input line, p = 1 for a scale) are
// found as by `stackdyn fixed-points`, then each is followed both ways by
// pseudo-arclength continuation through folds, recording where stability changes.
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"

#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/parallel.hpp>

#include <algorithm>
#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct ContinuationCmd {
  std::string model, output, initial_states, dataset;
  int every = 1;
  std::optional<std::string> input_constant, direction, scale, mode, tau, n_init, seed, threads, q_tol, max_iters,
      method, noise, unique_tol, step_tol, outlier_scale;
  double ds = 0.02, ds_max = 0.1;
  std::optional<double> p_min, p_max, p_start;
  int max_steps = 5000;
};

int run_continuation(const ContinuationCmd& o, Context& ctx) {
  const Model model = read_model(o.model);
  require_causal(model, o.model);
  if (!o.direction == !o.scale)
    throw InputError(o.direction ? "--direction and --scale: give one parameter, not both"
                                 : "--direction or --scale: required, the input's direction d (x(p) = x0 + p d) or "
                                   "the weight matrix scaled by p (layers/<l>/weight_hh)");
  Config cfg = Config::from_string("", "continuation options");
  set_list(cfg, "input_constant", o.input_constant, "--input-constant");
  set_list(cfg, "tau", o.tau, "--tau");
  for (const auto& [key, value] :
       {std::pair{"mode", &o.mode}, {"n_init", &o.n_init}, {"seed", &o.seed}, {"threads", &o.threads},
        {"q_tol", &o.q_tol}, {"max_iters", &o.max_iters}, {"method", &o.method}, {"noise", &o.noise},
        {"unique_tol", &o.unique_tol}, {"step_tol", &o.step_tol}, {"outlier_scale", &o.outlier_scale}})
    set_value(cfg, key, *value);
  const FixedPointSearch s = search_from_config(cfg, model);
  const VectorXd x0 = input_from_config(cfg, model);
  ContinuationParameter par;
  if (o.scale) {
    par = parse_weight_scale(model, *o.scale, "--scale");
  } else {
    const auto d = parse_list(*o.direction, "--direction");
    if (d.size() != static_cast<std::size_t>(model.input_size))
      throw InputError("--direction: expected " + std::to_string(model.input_size) +
                       " values (the model's input_size), got " + std::to_string(d.size()));
    par.direction = Eigen::Map<const VectorXd>(d.data(), static_cast<Eigen::Index>(d.size()));
    if (par.direction.norm() == 0)
      throw InputError("--direction: the zero vector moves nothing; expected a direction with a nonzero entry");
  }
  const bool input_line = par.kind == ContinuationParameter::Kind::Input;
  // p at the model as it is (input x0, or the scale 1) by default, and a range around it, so
  // that the branches run both ways from the model the user has
  const double p_model = input_line ? 0.0 : 1.0;
  const double p_min = o.p_min.value_or(p_model - 1), p_max = o.p_max.value_or(p_model + 1);
  if (!(p_max > p_min)) throw InputError("--p-min must be below --p-max");
  const double p0 = o.p_start.value_or(std::clamp(p_model, p_min, p_max));
  if (p0 < p_min || p0 > p_max) throw InputError("--p-start must lie in [p-min, p-max]");

  std::optional<MatrixXd> given;
  std::string dataset = o.dataset;
  if (!o.initial_states.empty()) {
    if (dataset.empty()) {
      const h5::File in = h5::File::open(o.initial_states);
      dataset = !in.has("states") && in.has("fixed_points/states") ? "fixed_points/states" : "states";
    }
    given = read_states(o.initial_states, model, dataset, o.every);
  }
  const MatrixXd* starts = given ? &*given : nullptr;
  const FixedPointReport start = input_line ? analyse_fixed_points(model, x0 + p0 * par.direction, s, starts)
                                            : analyse_fixed_points(model_at(model, par, p0), x0, s, starts);
  ContinuationOptions co;
  co.p_min = p_min;
  co.p_max = p_max;
  co.ds = o.ds;
  co.ds_max = o.ds_max;
  co.max_steps = o.max_steps;
  // each start point, both ways
  std::vector<Branch> branches(2 * start.points.size());
  parallel_for(branches.size(), s.finder.threads, [&](std::size_t i) {
    ContinuationOptions oi = co;
    oi.direction = i % 2 ? -1 : 1;
    branches[i] = continue_branch(model, x0, par, s.view, s.tau, start.points[i / 2].state, p0, oi);
  });

  h5::AtomicOutput out(o.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, o.model, cfg.to_toml(), static_cast<long long>(s.seed)));
  write_view_description(f, model, x0, s.view, s.tau);
  if (input_line) {
    f.write("direction", par.direction);
    f.set_attr("parameter", std::string("x(p) = input_constant + p * direction"));
  } else {
    f.set_attr("parameter", par.name() + " -> p * " + par.name() +
                                " (the model file's matrix times p; p = 1 is the model as it is); "
                                "the input is held at input_constant");
    f.set_attr("scaled_dataset", par.name());
  }
  f.set_attr("parameter_kind", std::string(input_line ? "input" : "weight_scale"));
  f.set_attr("p_start", p0);
  f.set_attr("p_min", p_min);
  f.set_attr("p_max", p_max);
  f.set_attr("starts_sampling", start.starts_description);
  if (!o.initial_states.empty()) {
    f.set_attr("initial_states_path", o.initial_states);
    f.set_attr("initial_states_dataset", dataset);
  }
  f.set_attr("description", std::string("branches/branch_<2k+j>: the branch through fixed point k at p_start, followed "
                                        "towards larger p (j = 0) or smaller p (j = 1); two branches may overlap"));
  std::size_t n_events = 0;
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const Branch& b = branches[i];
    h5::Group g = f.create_group("branches/branch_" + std::to_string(i));
    g.set_attr("stop_reason", b.stop_reason);
    const std::size_t n = b.points.size(), N = static_cast<std::size_t>(model.state_dim());
    std::vector<double> p(n), st(n * N), dp(n);
    std::vector<long long> nu(n);
    std::vector<std::complex<double>> crit(n);
    for (std::size_t k = 0; k < n; ++k) {
      p[k] = b.points[k].p;
      dp[k] = b.points[k].dp_ds;
      nu[k] = b.points[k].n_unstable;
      crit[k] = b.points[k].critical;
      for (std::size_t j = 0; j < N; ++j) st[k * N + j] = b.points[k].state[static_cast<Eigen::Index>(j)];
    }
    g.write("p", {n}, p.data());
    g.write("states", {n, N}, st.data());
    g.set_dim_labels("states", {"point", "state"});
    g.write_int("n_unstable", {n}, nu.data());
    g.write("dp_dsigma", {n}, dp.data());
    g.write_complex("critical_eigenvalue", {n}, crit.data());
    std::vector<double> ep;
    std::vector<long long> after;
    std::string kinds;
    for (const auto& e : b.events) {
      ep.push_back(e.p);
      after.push_back(e.after);
      kinds += (kinds.empty() ? "" : ";") + e.kind;
    }
    g.write("event_p", {ep.size()}, ep.data());
    g.write_int("event_after", {after.size()}, after.data());
    g.set_attr("event_kinds", kinds);
    n_events += b.events.size();
  }
  out.commit();
  std::size_t loops = 0;
  for (const auto& b : branches) loops += b.stop_reason == "closed loop";
  ctx.out << o.output << ": " << branches.size() << " branches from " << start.points.size()
          << " fixed points at p = " << p0 << " (" << loops << " closed loops); " << n_events << " stability changes\n";
  int shown = 0;
  for (std::size_t i = 0; i < branches.size(); ++i)
    for (const auto& e : branches[i].events)
      if (shown++ < 20)
        ctx.out << "  branch " << i << ": " << e.kind << " at p = " << e.p << " (unstable directions " << e.n_unstable_before
              << " -> " << e.n_unstable_after << ")\n";
  return 0;
}

const bool registered = register_command(
    {"continuation",
     "Follow fixed points as the constant input or a weight scale varies (pseudo-arclength, through folds)",
     [](CLI::App& sub) -> Runner {
       auto o = std::make_shared<ContinuationCmd>();
       sub.add_option("model", o->model, "Model file (HDF5)")->required();
       sub.add_option("-o,--output", o->output, "Result file (HDF5)")->required();
       sub.add_option("--direction", o->direction, "Direction d of the input: x(p) = x0 + p d");
       sub.add_option("--scale", o->scale,
                      "Scale a weight matrix instead: layers/<l>/weight_hh or layers/<l>/weight_ih -> p times it");
       sub.add_option("--input-constant", o->input_constant, "x0 (default zeros)");
       sub.add_option("--p-min", o->p_min, "Lower end of p (default: p-start - 1)");
       sub.add_option("--p-max", o->p_max, "Upper end of p (default: p-start + 1)");
       sub.add_option("--p-start", o->p_start,
                      "Where the fixed points are found first and the branches start, both ways (default: the "
                      "model as it is, p = 0 for --direction, p = 1 for --scale)");
       sub.add_option("--initial-states", o->initial_states,
                      "Start the search at p-start from these states: a fixed-points result (fixed_points/states), "
                      "states (n, state_dim) or trajectories (batch, time, state_dim)");
       sub.add_option("--dataset", o->dataset, "Dataset of --initial-states (default states, else fixed_points/states)");
       sub.add_option("--every", o->every, "With trajectories as --initial-states: every K-th time of each");
       sub.add_option("--ds", o->ds, "Initial arclength step")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--ds-max", o->ds_max, "Largest arclength step")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--max-steps", o->max_steps, "Step cap per branch")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--mode", o->mode, "discrete or continuous");
       sub.add_option("--tau", o->tau, "Time constants (continuous view)");
       sub.add_option("--n-init", o->n_init, "Starts of the initial search");
       sub.add_option("--seed", o->seed, "Seed of the initial search");
       sub.add_option("--threads", o->threads, "Threads (0 = every core)");
       sub.add_option("--q-tol", o->q_tol, "Initial search: a start converged when q < q-tol (default 1e-12)");
       sub.add_option("--max-iters", o->max_iters, "Initial search: iteration cap per start (default 200)");
       sub.add_option("--method", o->method, "Initial search: lm, hybrid or adam (default lm)");
       sub.add_option("--noise", o->noise, "Initial search: std of the noise on sampled starts (default 0.5)");
       sub.add_option("--unique-tol", o->unique_tol, "Initial search: points closer than this are one (default 1e-3)");
       sub.add_option("--step-tol", o->step_tol, "Initial search: a start stalls below this step (default 1e-14)");
       sub.add_option("--outlier-scale", o->outlier_scale, "Initial search: outlier distance scale (0 = off)");
       return [o](Context& ctx) { return run_continuation(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
