// Beyond one input: a branch of fixed points followed as the constant input moves along a
// line, x(p) = x0 + p dx, by pseudo-arclength continuation (so that it turns through folds),
// with the points where an eigenvalue crosses the stability boundary; and the graph between
// fixed points: where each side of a saddle's unstable directions leads.
#pragma once
#include <stackdyn/eigen_analysis.hpp>
#include <stackdyn/fixed_points.hpp>

#include <string>
#include <vector>

namespace stackdyn {

struct ContinuationOptions {
  double p_min = -1, p_max = 1;  ///< stop when p leaves [p_min, p_max]
  double ds = 0.02, ds_min = 1e-7, ds_max = 0.1;  ///< arclength step in (s, p) and its bounds
  int max_steps = 5000;
  double newton_tol = 1e-10;  ///< corrector: |r| below this
  int newton_max_iters = 12;
  int direction = 1;  ///< +1: start towards larger p, -1: towards smaller p
};

struct BranchPoint {
  double p = 0;
  VectorXd state;
  int n_unstable = 0;
  double dp_ds = 0;              ///< p-component of the unit tangent (its sign flips at a fold)
  std::complex<double> critical; ///< the eigenvalue nearest the stability boundary
};

struct BranchEvent {
  int after = 0;          ///< between points `after` and `after + 1`
  double p = 0;           ///< located by linear interpolation of the critical eigenvalue
  std::string kind;       ///< fold, stability_change (lambda = +1 / 0), period_doubling, neimark_sacker, hopf
  int n_unstable_before = 0, n_unstable_after = 0;
};

struct Branch {
  std::vector<BranchPoint> points;
  std::vector<BranchEvent> events;
  std::string stop_reason;  ///< left the range, step too small, step cap
};

/// Follows the branch through the fixed point `s0` at p = p0 (refined first with Newton).
/// `dx` is the direction of the input; `model` must outlive the call. Throws InputError for
/// bad options or widths; a corrector that cannot continue ends the branch (stop_reason).
Branch continue_branch(const Model& model, const Eigen::Ref<const VectorXd>& x0, const Eigen::Ref<const VectorXd>& dx,
                       TimeView view, const std::vector<double>& tau, const Eigen::Ref<const VectorXd>& s0, double p0,
                       const ContinuationOptions& o);

/// Where each side of a saddle's unstable directions goes: the state s* +- eps v (v the real
/// part of the unit right eigenvector) is stepped with the discrete map (or, in the
/// continuous view, integrated with RK4 at dt = min(tau) / 10) for `steps` steps and matched
/// to the nearest stable point within `tol`, or -1.
struct SaddleEdge {
  int saddle = 0, mode = 0, side = 0;  ///< side 0: -eps v, 1: +eps v
  int target = -1;                     ///< index of the stable point reached, -1 for none
};
std::vector<SaddleEdge> saddle_graph(const FixedPointSystem& sys, const std::vector<VectorXd>& points,
                                     const std::vector<Spectrum>& spectra, double eps = 1e-3, int steps = 3000,
                                     double tol = 1e-3);

}  // namespace stackdyn
