// `stackdyn continuation MODEL.h5 -o OUT.h5 --direction d1,d2,...` (or `--scale
// layers/<l>/weight_hh`): the bifurcation diagram of the fixed points as the constant input
// moves along x(p) = x0 + p d, or as one weight matrix is scaled, W -> p W: the points at
// p = p-start (default the model as it is: p = 0 on the input line, p = 1 for a scale) are
// found as by `stackdyn fixed-points`, then each is followed both ways by
// pseudo-arclength continuation through folds, recording where stability changes.
#include "command.hpp"
#include "command_util.hpp"

#include <stackdyn/core/format.hpp>
#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/analysis/fixed_point_file.hpp>
#include <stackdyn/analysis/fixed_point_options.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/model/model_io.hpp>

#include <algorithm>
#include <optional>
#include <ostream>

namespace stackdyn::cli {
namespace {

OptionTable options() {
  using K = ValueKind;
  OptionTable t = select_options(fixed_point_options(),
                                 {"mode", "tau", "input.constant", "n_init", "seed", "q_tol", "max_iters", "method",
                                  "noise", "unique_tol", "outlier_scale", "step_tol", "threads"});
  const OptionTable own = {
      {"--direction", "direction", K::Numbers, "", "Direction d of the input: x(p) = x0 + p d", ""},
      {"--scale", "scale", K::Text, "",
       "Scale a weight matrix instead: layers/<l>/weight_hh or layers/<l>/weight_ih -> p times it", ""},
      {"--p-min", "p_min", K::Number, "", "Lower end of p (default: the model's own p - 1)", ""},
      {"--p-max", "p_max", K::Number, "", "Upper end of p (default: the model's own p + 1)", ""},
      {"--p-start", "p_start", K::Number, "",
       "Where the fixed points are found first and the branches start, both ways (default: the model as it is, "
       "p = 0 for --direction, p = 1 for --scale)",
       ""},
      {"--initial-states", "initial_states", K::Path, "",
       "Start the search at p-start from these states: a fixed-points result (fixed_points/states), states "
       "(n, state_dim) or trajectories (batch, time, state_dim)",
       ""},
      {"--dataset", "dataset", K::Text, "", "Dataset of --initial-states (default states, else fixed_points/states)",
       ""},
      {"--every", "every", K::Integer, "1", "With trajectories as --initial-states: every K-th time of each", ""},
      {"--ds", "ds", K::Number, "0.02", "Initial arclength step", ""},
      {"--ds-max", "ds_max", K::Number, "0.1", "Largest arclength step", ""},
      {"--max-steps", "max_steps", K::Integer, "5000", "Step cap per branch", ""},
  };
  t.insert(t.end(), own.begin(), own.end());
  return t;
}

int run_continuation(Invocation& inv) {
  Context& ctx = inv.ctx;
  const Config& cfg = inv.config;
  const Model model = inv.model();
  require_causal(model, inv.arg("model"));
  const bool has_direction = cfg.has("direction"), has_scale = cfg.has("scale");
  if (has_direction == has_scale)
    throw InputError(has_direction ? "--direction and --scale: give one parameter, not both"
                                   : "--direction or --scale: required, the input's direction d (x(p) = x0 + p d) or "
                                     "the weight matrix scaled by p (layers/<l>/weight_hh)");
  const FixedPointSearch s = search_from_config(cfg, model);
  const VectorXd x0 = input_from_config(cfg, model);
  ContinuationParameter par;
  if (has_scale) {
    par = parse_weight_scale(model, cfg.get_string("scale"), "--scale");
  } else {
    const auto d = cfg.get_double_list("direction");
    if (d.size() != static_cast<std::size_t>(model.input_size))
      throw cfg.error("direction", "expected " + std::to_string(model.input_size) +
                                       " values (the model's input_size), got " + std::to_string(d.size()));
    par.direction = Eigen::Map<const VectorXd>(d.data(), static_cast<Eigen::Index>(d.size()));
    if (par.direction.norm() == 0)
      throw InputError("--direction: the zero vector moves nothing; expected a direction with a nonzero entry");
  }
  ContinuationOptions co;
  co.ds = cfg.get_double("ds", Range::positive());
  co.ds_max = cfg.get_double("ds_max", Range::positive());
  co.max_steps = static_cast<int>(cfg.get_int("max_steps", Range::closed(1, 1e9)));
  const bool input_line = par.kind == ContinuationParameter::Kind::Input;
  // p at the model as it is (input x0, or the scale 1) by default, and a range around it, so
  // that the branches run both ways from the model the user has
  const double p_model = input_line ? 0.0 : 1.0;
  co.p_min = cfg.get_double("p_min", p_model - 1);
  co.p_max = cfg.get_double("p_max", p_model + 1);
  if (!(co.p_max > co.p_min)) throw InputError("--p-min must be below --p-max");
  const double p0 = cfg.get_double("p_start", std::clamp(p_model, co.p_min, co.p_max));
  if (p0 < co.p_min || p0 > co.p_max) throw InputError("--p-start must lie in [p-min, p-max]");

  std::optional<MatrixXd> given;
  const std::string initial = cfg.get_string("initial_states", "");
  std::string dataset = cfg.get_string("dataset", "");
  if (!initial.empty()) {
    if (dataset.empty()) {
      const h5::File in = h5::File::open(initial);
      dataset = !in.has("states") && in.has("fixed_points/states") ? "fixed_points/states" : "states";
    }
    given = read_states(initial, model, dataset, static_cast<int>(cfg.get_int("every", Range::positive())));
  }
  const MatrixXd* starts = given ? &*given : nullptr;
  const FixedPointReport start = input_line ? analyse_fixed_points(model, x0 + p0 * par.direction, s, starts)
                                            : analyse_fixed_points(model_at(model, par, p0), x0, s, starts);
  // each start point, both ways
  std::vector<Branch> branches(2 * start.points.size());
  parallel_for(branches.size(), s.finder.threads, [&](std::size_t i) {
    ContinuationOptions oi = co;
    oi.direction = i % 2 ? -1 : 1;
    branches[i] = continue_branch(model, x0, par, s.view, s.tau, start.points[i / 2].state, p0, oi);
  });

  h5::AtomicOutput out(inv.output);
  h5::File& f = out.file();
  write_provenance(f, make_provenance(ctx, inv.arg("model"), cfg.to_toml(), static_cast<long long>(s.seed)));
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
  f.set_attr("p_min", co.p_min);
  f.set_attr("p_max", co.p_max);
  f.set_attr("starts_sampling", start.starts_description);
  if (!initial.empty()) {
    f.set_attr("initial_states_path", initial);
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
    {
      // the readout along the branch, with the input at each point's p
      MatrixXd S(static_cast<Eigen::Index>(N), static_cast<Eigen::Index>(n)), X(x0.size(), static_cast<Eigen::Index>(n));
      for (std::size_t k = 0; k < n; ++k) {
        S.col(static_cast<Eigen::Index>(k)) = b.points[k].state;
        X.col(static_cast<Eigen::Index>(k)) = input_line ? VectorXd(x0 + p[k] * par.direction) : x0;
      }
      write_predictions(g, model, S, X);
    }
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
  ctx.out << inv.output << ": " << branches.size() << " branches from " << start.points.size()
          << " fixed points at p = " << format_number(p0) << " (" << loops << " closed loops); " << n_events << " stability changes\n";
  int shown = 0;
  for (std::size_t i = 0; i < branches.size(); ++i)
    for (const auto& e : branches[i].events)
      if (shown++ < 20)
        ctx.out << "  branch " << i << ": " << e.kind << " at p = " << format_number(e.p) << " (unstable directions " << e.n_unstable_before
              << " -> " << e.n_unstable_after << ")\n";
  return 0;
}

const bool registered = register_command({
    .name = "continuation",
    .summary = "Follow fixed points as the constant input or a weight scale varies (pseudo-arclength, through folds)",
    .positionals = {model_positional(),
                    {"config", "Options as TOML (the keys shown in {key ...}); flags override it",
                     Positional::Kind::Config, false}},
    .options = options(),
    .set = true,
    .run = run_continuation,
});

}  // namespace
}  // namespace stackdyn::cli
