// Fixed points of one constant input, end to end (see fixed_point_analysis.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/analysis/fixed_point_analysis.hpp>
#include <stackdyn/core/parallel.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

namespace stackdyn {

FixedPointReport analyse_fixed_points(const Model& model, const Eigen::Ref<const VectorXd>& x,
                                      const FixedPointSearch& search, const MatrixXd* starts) {
  search.finder.validate("fixed-point search");
  if (search.n_init < 1 && !starts) throw InputError("n-init must be a positive integer");
  if (!(search.noise >= 0)) throw InputError("noise must be >= 0");
  const FixedPointSystem sys(model, x, search.view, search.tau);
  FixedPointReport rep;
  rep.view = search.view;
  rep.q_tol = search.finder.q_tol;
  if (starts) {
    if (starts->rows() != sys.dim())
      throw InputError("initial states have width " + std::to_string(starts->rows()) + ", expected state_dim = " +
                       std::to_string(sys.dim()));
    if (!starts->allFinite()) throw InputError("initial states hold non-finite values; expected finite numbers");
    rep.starts = *starts;
    rep.starts_description = "starts: given (" + std::to_string(starts->cols()) + " states)";
  } else {
    StartSampling so;
    so.n = search.n_init;
    so.noise = search.noise;
    so.seed = search.seed;
    so.progress = search.progress;
    TrajectoryStarts ts = sample_trajectory_starts(model, x, search.view, search.tau, so);
    rep.starts = std::move(ts.states);
    rep.starts_description = std::move(ts.description);
  }

  if (search.hierarchical) {
    HierarchicalOptions ho;
    ho.finder = search.finder;
    ho.unique = search.unique;
    ho.starts_per_layer = static_cast<int>(rep.starts.cols());
    ho.max_combinations = search.max_combinations;
    rep.hierarchy = find_hierarchical(sys, rep.starts, ho);
    rep.best_q = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < rep.hierarchy->full_states.size(); ++i) {
      const VectorXd& s = rep.hierarchy->full_states[i];
      const double q = sys.q(s);
      rep.best_q = std::min(rep.best_q, q);
      if (q < search.finder.q_tol) {
        ++rep.n_converged;
        rep.points.push_back({s, q, rep.hierarchy->leaf_starts[i], -1});
      }
    }
    std::stable_sort(rep.points.begin(), rep.points.end(),
                     [](const UniquePoint& a, const UniquePoint& b) { return a.q < b.q; });
  } else {
    rep.runs = run_starts(sys, rep.starts, search.finder);
    rep.best_q = std::numeric_limits<double>::infinity();
    for (const auto& r : rep.runs) {
      rep.best_q = std::min(rep.best_q, r.q);
      rep.n_converged += r.status == StartStatus::Converged;
    }
    UniqueResult u = unique_points(rep.runs, search.unique, rep.starts);
    rep.points = std::move(u.points);
    rep.outliers_removed = u.outliers_removed;
    rep.start_point.assign(rep.runs.size(), -1);
    for (std::size_t i = 0; i < rep.runs.size(); ++i) {
      const auto st = rep.runs[i].status;
      if (st != StartStatus::Converged && !(search.unique.include_slow && st == StartStatus::SlowPoint)) continue;
      for (std::size_t k = 0; k < rep.points.size(); ++k)
        if ((rep.points[k].state - rep.runs[i].state).norm() < search.unique.tol) {
          rep.start_point[i] = static_cast<int>(k);
          break;
        }
    }
  }
  rep.spectra.resize(rep.points.size());
  parallel_for(rep.points.size(), search.finder.threads,
               [&](std::size_t k) { rep.spectra[k] = analyse_spectrum(sys, rep.points[k].state, search.eigen); });
  std::vector<VectorXd> states;
  std::vector<long long> counts;
  for (const auto& p : rep.points) {
    states.push_back(p.state);
    counts.push_back(p.count);
  }
  ContinuousSetOptions so = search.sets;
  so.threads = search.finder.threads;
  rep.sets = classify_fixed_points(sys, states, counts, so);
  if (search.saddle_graph) rep.edges = saddle_graph(sys, states, rep.spectra);
  return rep;
}

std::string summarise(const FixedPointReport& r, int max_points) {
  std::ostringstream s;
  const std::size_t n_starts = r.hierarchy ? r.hierarchy->full_states.size() : r.runs.size();
  if (r.points.empty()) {
    s << "no start converged to q < " << r.q_tol << " (" << n_starts << (r.hierarchy ? " branches" : " starts")
      << "; best q = " << r.best_q << ")\n";
    return s.str();
  }
  int stable = 0, undecided = 0;
  for (const auto& sp : r.spectra) {
    const Stability st = stability(sp, r.view);
    stable += st == Stability::Stable;
    undecided += st == Stability::Undecided;
  }
  const std::size_t unstable = r.points.size() - static_cast<std::size_t>(stable + undecided);
  s << r.points.size() << " fixed point" << (r.points.size() == 1 ? "" : "s") << " (" << stable << " stable, "
    << unstable << " with unstable directions";
  if (undecided > 0) s << ", " << undecided << " undecided: the top-k eigenvalues are not the least stable ones";
  s << ") from " << n_starts << (r.hierarchy ? " hierarchical branches" : " starts");
  if (r.hierarchy) {
    int reached = 0;
    for (const auto& p : r.points) reached += p.count;
    s << " of " << r.hierarchy->n_starts << " starts (" << reached << " reached a point, "
      << r.hierarchy->n_starts - reached << " none)";
  }
  if (!r.hierarchy) {
    int counts[4] = {0, 0, 0, 0};
    for (const auto& run : r.runs) ++counts[static_cast<int>(run.status)];
    s << ": " << counts[0] << " converged, " << counts[1] << " slow points, " << counts[2] << " diverged, "
      << counts[3] << " reached the iteration cap";
  }
  s << "\n";
  if (!r.sets.sets.empty()) {
    s << "  " << r.points.size() - static_cast<std::size_t>(r.sets.isolated()) << " of them on " << r.sets.sets.size()
      << " continuous set" << (r.sets.sets.size() == 1 ? "" : "s") << " of fixed points, " << r.sets.isolated()
      << " isolated:";
    for (std::size_t i = 0; i < r.sets.sets.size(); ++i) {
      const auto& cs = r.sets.sets[i];
      s << (i ? ";" : "") << " set " << i << " a " << continuous_set_name(cs.dimension) << " (" << cs.points.size()
        << " points over a distance " << cs.extent << ", reached by " << cs.starts << ")";
    }
    s << "\n";
  }
  const char* unit = r.view == TimeView::Discrete ? "steps" : "time units";
  for (std::size_t k = 0; k < r.points.size() && static_cast<int>(k) < max_points; ++k) {
    const auto& sp = r.spectra[k];
    const Stability st = stability(sp, r.view);
    s << "  #" << k << ": ";
    if (st == Stability::Stable)
      s << "stable";
    else if (st == Stability::Undecided)
      s << "stability undecided";
    else
      s << "unstable in " << sp.n_unstable << (n_unstable_exact(sp, r.view) ? "" : "+") << " direction"
        << (sp.n_unstable == 1 ? "" : "s");
    if (sp.eigenvalues.size() > 0) {
      const auto l0 = sp.eigenvalues[0];
      s << ", leading eigenvalue " << l0.real() << (l0.imag() >= 0 ? "+" : "") << l0.imag() << "i";
      if (st == Stability::Stable) s << " (slowest timescale " << sp.timescales[0] << " " << unit << ")";
    }
    s << ", q " << r.points[k].q << ", reached by " << r.points[k].count;
    if (k < r.sets.set_of.size() && r.sets.set_of[k] >= 0) s << ", on set " << r.sets.set_of[k];
    s << "\n";
  }
  if (static_cast<int>(r.points.size()) > max_points)
    s << "  ... and " << r.points.size() - static_cast<std::size_t>(max_points) << " more\n";
  return s.str();
}

}  // namespace stackdyn
