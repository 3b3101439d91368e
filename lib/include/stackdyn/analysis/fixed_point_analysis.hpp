// The whole fixed-point analysis of one constant input in one call: sample starts, search,
// deduplicate (or the hierarchical tree), and the eigen-analysis at every unique point;
// plus a few lines of summary for people. Used by `stackdyn fixed-points` and the demo.
#pragma once
#include <stackdyn/analysis/continuation.hpp>
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_point_sets.hpp>
#include <stackdyn/analysis/fixed_points.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace stackdyn {

struct FixedPointSearch {
  TimeView view = TimeView::Discrete;
  std::vector<double> tau = {1.0};
  FinderOptions finder;
  UniqueOptions unique;
  EigenOptions eigen;
  ContinuousSetOptions sets;
  int n_init = 256;         ///< starts sampled from trajectories (ignored when starts are given)
  double noise = 0.5;       ///< std of the noise added to sampled starts (FixedPointFinder's 0.5)
  std::uint64_t seed = 0;
  bool hierarchical = false;
  int max_combinations = 256;
  bool saddle_graph = false;  ///< follow each side of every saddle's unstable directions
  /// Called now and then with the fraction done of sampling the starts (continuous view).
  std::function<void(double)> progress;
};

struct FixedPointReport {
  MatrixXd starts;                   ///< (state_dim, n) initial states
  std::string starts_description;    ///< where the starts came from (sample_trajectory_starts' description)
  std::vector<StartResult> runs;     ///< per start (empty in hierarchical mode)
  std::vector<UniquePoint> points;   ///< unique fixed points, increasing q
  std::vector<Spectrum> spectra;     ///< one per point
  SetClassification sets;            ///< isolated points and continuous sets among the points
  std::vector<int> start_point;      ///< per start: index of the unique point it reached, or -1
  int outliers_removed = 0;
  std::optional<HierarchicalResult> hierarchy;
  std::vector<SaddleEdge> edges;     ///< the saddle graph, when asked for
  double best_q = 0;                 ///< smallest q over all starts (or leaves)
  int n_converged = 0;               ///< starts (or hierarchical leaves) with q < q_tol
  TimeView view = TimeView::Discrete;
  double q_tol = 0;
};

/// `starts` (state_dim x n), when given, replaces the sampled ones. InputError on a bad
/// option, input width or start width.
FixedPointReport analyse_fixed_points(const Model& model, const Eigen::Ref<const VectorXd>& x,
                                      const FixedPointSearch& search, const MatrixXd* starts = nullptr);

/// A few lines for people: how many points, how many stable, which lie on continuous sets,
/// each point's index (number of unstable directions), slowest timescale and q, and the
/// starts' statuses.
std::string summarise(const FixedPointReport& r, int max_points = 8);

}  // namespace stackdyn
