// Beyond one input: a branch of fixed points followed as a parameter p moves — the constant
// input along a line, x(p) = x0 + p dx, or a scale on one weight matrix, W -> p W — by
// pseudo-arclength continuation (so that it turns through folds), with the points where an
// eigenvalue crosses the stability boundary; and the graph between fixed points: where each
// side of a saddle's unstable directions leads.
#pragma once
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_points.hpp>

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

/// What p moves.
///   Input:       x(p) = x0 + p direction (the model as it is).
///   WeightScale: layer `layer`'s weight_hh (or weight_ih) W is replaced by p W, the input
///                held at x0; p = 1 is the model as it is. dr/dp is analytic: the weights'
///                Jacobian-vector product in the direction W (Stack::weight_jvp).
struct ContinuationParameter {
  enum class Kind { Input, WeightScale };
  Kind kind = Kind::Input;
  VectorXd direction;            ///< Input
  int layer = 0;                 ///< WeightScale: 0-based, as in the model file
  bool recurrent = true;         ///< WeightScale: weight_hh (true) or weight_ih (false)
  /// "layers/<l>/weight_hh" (the model file's dataset, docs/model-format.md) or "input".
  std::string name() const;
};
/// The parameter for a scale on the dataset `name` = "layers/<l>/weight_hh" or
/// "layers/<l>/weight_ih". InputError starting with `where` for anything else: a malformed
/// name, a layer the model does not have, a dataset the layer does not have, or one that is
/// not weight_hh / weight_ih.
ContinuationParameter parse_weight_scale(const Model& model, std::string_view name, std::string_view where);
/// The model at p: a copy, with the parameter's matrix times p (WeightScale).
Model model_at(const Model& model, const ContinuationParameter& par, double p);
/// dr/dp at (s, p), r the residual of the view (F - s, or T^{-1}(G - s)): analytic.
VectorXd residual_dp(const Model& model, const Eigen::Ref<const VectorXd>& x0, const ContinuationParameter& par,
                     TimeView view, const std::vector<double>& tau, const Eigen::Ref<const VectorXd>& s, double p);

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
/// The same for any parameter (the input x0 + p direction, or a weight scale with the input
/// held at x0); `s0` a fixed point of model_at(model, par, p0) under its input.
Branch continue_branch(const Model& model, const Eigen::Ref<const VectorXd>& x0, const ContinuationParameter& par,
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
