// `stackdyn continuation MODEL.h5 -o OUT.h5 --direction d1,d2,...` (or `--scale
// layers/<l>/weight_hh`): the bifurcation diagram of the fixed points as the constant input
// moves along x(p) = x0 + p d, or as one weight matrix is scaled, W -> p W: the points at
// p = p-start are found as by `stackdyn fixed-points`, then each is followed both ways by
// pseudo-arclength continuation through folds, recording where stability changes.
#include "cli.hpp"
#include "command_util.hpp"
#include "fixed_point_io.hpp"

#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/model/model_io.hpp>
#include <stackdyn/core/parallel.hpp>

#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

struct ContinuationCmd {
  std::string model, output;
  std::optional<std::string> input_constant, direction, scale, mode, tau, n_init, seed, threads;
  double p_min = -1, p_max = 1, ds = 0.02, ds_max = 0.1;
  std::optional<double> p_start;
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
       {std::pair{"mode", &o.mode}, {"n_init", &o.n_init}, {"seed", &o.seed}, {"threads", &o.threads}})
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
  }
  const bool input_line = par.kind == ContinuationParameter::Kind::Input;
  if (!(o.p_max > o.p_min)) throw InputError("--p-min must be below --p-max");
  const double p0 = o.p_start.value_or(o.p_min);
  if (p0 < o.p_min || p0 > o.p_max) throw InputError("--p-start must lie in [p-min, p-max]");

  const FixedPointReport start = input_line ? analyse_fixed_points(model, x0 + p0 * par.direction, s)
                                            : analyse_fixed_points(model_at(model, par, p0), x0, s);
  ContinuationOptions co;
  co.p_min = o.p_min;
  co.p_max = o.p_max;
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
       sub.add_option("--p-min", o->p_min, "Lower end of p")->capture_default_str();
       sub.add_option("--p-max", o->p_max, "Upper end of p")->capture_default_str();
       sub.add_option("--p-start", o->p_start, "Where the fixed points are searched first (default p-min)");
       sub.add_option("--ds", o->ds, "Initial arclength step")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--ds-max", o->ds_max, "Largest arclength step")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--max-steps", o->max_steps, "Step cap per branch")->check(CLI::PositiveNumber)->capture_default_str();
       sub.add_option("--mode", o->mode, "discrete or continuous");
       sub.add_option("--tau", o->tau, "Time constants (continuous view)");
       sub.add_option("--n-init", o->n_init, "Starts of the initial search");
       sub.add_option("--seed", o->seed, "Seed of the initial search");
       sub.add_option("--threads", o->threads, "Threads (0 = every core)");
       return [o](Context& ctx) { return run_continuation(*o, ctx); };
     }});

}  // namespace
}  // namespace stackdyn::cli
