// Fixed-point search options from a configuration (see fixed_point_options.hpp).
#include <stackdyn/analysis/fixed_point_options.hpp>

#include <cmath>

namespace stackdyn {

const OptionTable& fixed_point_options() {
  using K = ValueKind;
  static const OptionTable table = {
      {"--mode", "mode", K::Text, "\"discrete\"", "discrete (q = 1/2 |F(s) - s|^2) or continuous (q = 1/2 |f(s)|^2)", ""},
      {"--tau", "tau", K::Numbers, "1.0", "Time constants of the continuous view: one value, or one per layer",
       "continuous"},
      {"--input-constant", "input.constant", K::Numbers, "", "Constant input x*: v1,v2,... (default zeros)", ""},
      {"--n-init", "n_init", K::Integer, "256", "Number of starts sampled from trajectories", ""},
      {"--seed", "seed", K::Integer, "0", "Seed of the sampled starts", ""},
      {"--q-tol", "q_tol", K::Number, "1e-12", "A start converged when q < q-tol", ""},
      {"--max-iters", "max_iters", K::Integer, "", "Iteration cap per start (default 200; adam 5000)", ""},
      {"--method", "method", K::Text, "\"lm\"", "lm (Levenberg-Marquardt), hybrid (MINPACK hybrj) or adam", ""},
      {"--noise", "noise", K::Number, "0.5", "Std of the Gaussian noise on sampled starts", ""},
      {"--unique-tol", "unique_tol", K::Number, "1e-3", "Points closer than this (2-norm) are one", ""},
      {"--outlier-scale", "outlier_scale", K::Number, "0.0",
       "Drop points farther from the starts' centroid than this times the starts' radius (0 = off)", ""},
      {"--step-tol", "step_tol", K::Number, "1e-14", "A start stalls when its step is below this", ""},
      {"--include-slow", "include_slow", K::Switch, "false", "Also keep slow points among the unique points", ""},
      {"--eig-method", "eig_method", K::Text, "\"auto\"", "auto, full, block or spectra", ""},
      {"--top-k", "top_k", K::Integer, "20", "Eigenvalues kept by spectra", ""},
      {"--which", "which", K::Text, "", "Order of eigenvalues: magnitude or real (default: the view's own)", ""},
      {"--n-vectors", "n_vectors", K::Integer, "3", "Top modes with right and left eigenvectors", ""},
      {"--threads", "threads", K::Integer, "0", "Threads (0 = every core)", ""},
      {"--hierarchical", "hierarchical", K::Switch, "false",
       "Layer by layer: layer 0, then each layer given the points below", ""},
      {"--max-combinations", "max_combinations", K::Integer, "256", "Hierarchical: cap on the branches", ""},
      {"--saddle-graph", "saddle_graph", K::Switch, "false",
       "From each saddle, follow both sides of its unstable directions to the stable points", ""},
      {"--neutral-tol", "neutral_tol", K::Number, "1e-3",
       "A direction is neutral (eigenvalue 1 of the map, 0 of the flow) when its singular value of D dr/ds is below "
       "this",
       ""},
      {"--follow-tol", "follow_tol", K::Number, "0.1",
       "Two points are on one continuous set when each lies within this (relative) of the other's neutral directions",
       ""},
  };
  return table;
}

FixedPointSearch search_from_config(const Config& given, const Model& model) {
  Config cfg = given;
  fill_defaults(cfg, fixed_point_options());
  FixedPointSearch s;
  const std::string mode = cfg.get_string("mode");
  if (mode == "discrete")
    s.view = TimeView::Discrete;
  else if (mode == "continuous")
    s.view = TimeView::Continuous;
  else
    throw cfg.error("mode", "expected discrete or continuous, got '" + mode + "'");
  if (s.view == TimeView::Continuous) {
    s.tau = cfg.get_double_list("tau", Range::positive());
    if (s.tau.size() != 1 && s.tau.size() != static_cast<std::size_t>(model.num_layers()))
      throw cfg.error("tau", "expected one value or one per layer (" + std::to_string(model.num_layers()) +
                                 "), got " + std::to_string(s.tau.size()));
    for (double t : s.tau)
      if (!std::isfinite(t)) throw cfg.error("tau", "expected finite values");
  }
  s.finder.method = parse_finder_method(cfg.get_string("method"), cfg.name() + ": key 'method'");
  const int default_iters = s.finder.method == FinderMethod::Adam ? 5000 : 200;
  s.finder.max_iters = static_cast<int>(cfg.get_int("max_iters", default_iters, Range::closed(1, 1e9)));
  s.finder.q_tol = cfg.get_double("q_tol", Range::positive());
  if (!std::isfinite(s.finder.q_tol)) throw cfg.error("q_tol", "expected a finite number > 0");
  s.finder.step_tol = cfg.get_double("step_tol", Range::non_negative());
  s.finder.threads = static_cast<int>(cfg.get_int("threads", Range::closed(0, 4096)));
  s.n_init = static_cast<int>(cfg.get_int("n_init", Range::closed(1, 1e8)));
  s.seed = static_cast<std::uint64_t>(cfg.get_int("seed", Range::non_negative()));
  s.noise = cfg.get_double("noise", Range::non_negative());
  s.unique.tol = cfg.get_double("unique_tol", Range::positive());
  s.unique.outlier_distance_scale = cfg.get_double("outlier_scale", Range::non_negative());
  s.unique.include_slow = cfg.get_bool("include_slow");
  s.eigen.method = parse_eigen_method(cfg.get_string("eig_method"), cfg.name() + ": key 'eig_method'");
  s.eigen.which = cfg.has("which") ? parse_eigen_order(cfg.get_string("which"), cfg.name() + ": key 'which'")
                                   : natural_order(s.view);
  s.eigen.top_k = static_cast<int>(cfg.get_int("top_k", Range::closed(1, 1e6)));
  s.eigen.n_vectors = static_cast<int>(cfg.get_int("n_vectors", Range::closed(0, 1e6)));
  s.hierarchical = cfg.get_bool("hierarchical");
  s.max_combinations = static_cast<int>(cfg.get_int("max_combinations", Range::closed(1, 1e7)));
  s.saddle_graph = cfg.get_bool("saddle_graph");
  s.sets.neutral_tol = cfg.get_double("neutral_tol", Range::non_negative());
  s.sets.follow_tol = cfg.get_double("follow_tol", Range::non_negative());
  return s;
}

VectorXd input_from_config(const Config& cfg, const Model& model) {
  const auto v =
      cfg.get_double_list("input.constant", std::vector<double>(static_cast<std::size_t>(model.input_size), 0.0));
  if (v.size() != static_cast<std::size_t>(model.input_size))
    throw cfg.error("input.constant", "expected " + std::to_string(model.input_size) +
                                          " values (the model's input_size), got " + std::to_string(v.size()));
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) throw cfg.error("input.constant", "value " + std::to_string(i) + " is not finite");
  return Eigen::Map<const VectorXd>(v.data(), static_cast<Eigen::Index>(v.size()));
}

}  // namespace stackdyn
