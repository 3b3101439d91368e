// Fixed points and slow points of a stack for a constant input (docs/design.md sections 3, 4):
// minimise q(s) = 1/2 |r(s)|^2 with r(s) = F(s) - s (discrete map) or
// r(s) = T^{-1} (G(s) - s) (continuous view, T = diag(tau_l)), from many starts.
//
//   | method  | what it does                                                              |
//   |---------|---------------------------------------------------------------------------|
//   | lm      | Levenberg-Marquardt on r with the analytic Jacobian (default): near a root |
//   |         | it is Newton's method, quadratic convergence                              |
//   | hybrid  | MINPACK's hybrid Powell (dogleg trust region, Eigen's unsupported          |
//   |         | NonLinearOptimization) with the analytic Jacobian                         |
//   | adam    | Adam on q with the gradient J^T r (one vector-Jacobian product), as        |
//   |         | FixedPointFinder does: first order, finds slow points too                  |
//
// Every start ends with a status, never an exception: converged (q < q_tol), slow point
// (the step or the decrease of q fell below its tolerance with q >= q_tol: a local minimum
// of q), diverged (a non-finite value or |s|_inf > divergence_bound), cap reached.
#pragma once
#include <stackdyn/model/model.hpp>
#include <stackdyn/model/time_view.hpp>
#include <stackdyn/model/stack.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stackdyn {


/// The residual r(s) of one constant input and its derivatives. Const and thread-safe: each
/// call makes its own workspace.
class FixedPointSystem {
 public:
  /// `tau` holds one time constant per layer (or one for all); only the continuous view
  /// uses it. `model` must outlive the system. InputError on a wrong input width, a
  /// bidirectional model, non-finite x or tau <= 0.
  FixedPointSystem(const Model& model, const Eigen::Ref<const VectorXd>& x, TimeView view,
                   std::vector<double> tau = {1.0});

  const Stack& stack() const { return stack_; }
  const Model& model() const { return stack_.model(); }
  TimeView view() const { return view_; }
  const VectorXd& input() const { return x_; }
  int dim() const { return stack_.state_dim(); }
  /// Time constant of each state coordinate (tau of its layer).
  const VectorXd& tau_per_state() const { return tau_state_; }
  double tau(int layer) const { return tau_layer_[static_cast<std::size_t>(layer)]; }

  /// R = r(S), column by column.
  void residual(const ConstMatRef& S, MatRef R) const;
  double q(const Eigen::Ref<const VectorXd>& s) const;

  using Linearization = Stack::Linearization;
  Linearization linearize(const Eigen::Ref<const VectorXd>& s) const { return stack_.linearize(x_, s); }
  /// The same into `lin`, reusing its buffers (no allocation once sized: one per thread).
  void linearize(const Eigen::Ref<const VectorXd>& s, Linearization& lin) const { stack_.linearize(x_, s, lin); }
  /// r at the linearisation point.
  VectorXd residual(const Linearization& lin) const;
  void residual(const Linearization& lin, Eigen::Ref<VectorXd> r) const;
  /// Dense dr/ds: J_F - I, or T^{-1}(J_G - I).
  MatrixXd jacobian(const Linearization& lin) const;
  /// The same into J (dim x dim); for a one-layer stack straight from the cell's formula,
  /// without allocation.
  void jacobian(const Linearization& lin, MatRef J) const;
  /// The Jacobian of the dynamics: J_F (discrete) or T^{-1}(J_G - I) (continuous).
  MatrixXd dynamics_jacobian(const Linearization& lin) const;
  /// out = J_dyn V and out = J_dyn^T V (k columns at once), matrix-free.
  void dynamics_jvp(const Linearization& lin, const ConstMatRef& V, MatRef out) const;
  void dynamics_vjp(const Linearization& lin, const ConstMatRef& V, MatRef out) const;
  /// gradient of q: (dr/ds)^T r(s).
  VectorXd gradient(const Linearization& lin) const;
  /// The layer's own block of J_dyn: A_ll, or (A_ll - I)/tau_l.
  MatrixXd dynamics_block(const Linearization& lin, int layer) const;

 private:
  /// J_F (discrete) or J_G (continuous) into J.
  void map_jacobian(const Linearization& lin, MatRef J) const;

  Stack stack_;
  VectorXd x_;
  TimeView view_;
  std::vector<double> tau_layer_;
  VectorXd tau_state_;
};

enum class FinderMethod { LevenbergMarquardt, Hybrid, Adam };
std::string_view finder_method_name(FinderMethod m);               ///< "lm", "hybrid", "adam"
FinderMethod parse_finder_method(std::string_view name, std::string_view where);

enum class StartStatus { Converged = 0, SlowPoint = 1, Diverged = 2, CapReached = 3 };
std::string_view start_status_name(StartStatus s);  ///< converged, slow_point, diverged, cap_reached

struct FinderOptions {
  FinderMethod method = FinderMethod::LevenbergMarquardt;
  double q_tol = 1e-12;       ///< converged when q < q_tol
  double step_tol = 1e-14;    ///< stalled when |step| <= step_tol (1 + |s|)
  double dq_tol = 1e-20;      ///< Adam: stalled when |q_k - q_{k-1}| < dq_tol
  int max_iters = 200;        ///< per start (Adam: iterations of the optimiser)
  double divergence_bound = 1e6;
  int polish_steps = 2;       ///< lm: steps taken after q < q_tol (an isolated root goes far below it)
  int threads = 0;            ///< 0 = every core
  // Adam (defaults of FixedPointFinder: adaptive learning rate from 1.0, epsilon 0.01)
  double adam_lr = 1.0;
  double adam_epsilon = 1e-2;
  double adam_beta1 = 0.9, adam_beta2 = 0.999;
  /// Throws InputError naming `where` on a bad value (q_tol <= 0, ...).
  void validate(std::string_view where) const;
};

struct StartResult {
  VectorXd initial, state;
  double q = 0;
  int iterations = 0;
  StartStatus status = StartStatus::CapReached;
};

/// Runs every start (columns of `starts`) in parallel; results in column order.
std::vector<StartResult> run_starts(const FixedPointSystem& sys, const ConstMatRef& starts, const FinderOptions& o);
/// One start (the work of run_starts).
StartResult run_start(const FixedPointSystem& sys, const Eigen::Ref<const VectorXd>& s0, const FinderOptions& o);

struct UniquePoint {
  VectorXd state;
  double q = 0;
  int count = 0;          ///< starts that reached it
  int first_start = -1;   ///< index of the start with the smallest q among them
};

struct UniqueOptions {
  double tol = 1e-3;  ///< same point when |s_a - s_b|_2 < tol (FixedPointFinder's tol_unique)
  bool include_slow = false;  ///< also deduplicate slow points (otherwise converged starts only)
  /// Drop points farther from the centroid of `seeds` than this many times the largest
  /// distance of a seed from it (FixedPointFinder's outlier_distance_scale); 0 = keep all.
  double outlier_distance_scale = 0;
};

struct UniqueResult {
  std::vector<UniquePoint> points;  ///< sorted by q ascending... then by state
  int outliers_removed = 0;
};
/// Greedy deduplication in order of increasing q. `seeds` (columns) are the states the
/// search started from, used only for outlier removal.
UniqueResult unique_points(const std::vector<StartResult>& starts, const UniqueOptions& o, const ConstMatRef& seeds);

/// Initial states "from trajectories" of the discrete map: n random states s ~ U(-1, 1)
/// stepped `burn_in` + U{0..spread} times under the constant input, plus N(0, noise^2) on
/// every coordinate. Deterministic in `seed`. (sample_trajectory_starts with the Discrete
/// view, states only.)
MatrixXd sample_initial_states(const Stack& sequential, const Eigen::Ref<const VectorXd>& x, int n, double noise,
                               std::uint64_t seed, int burn_in = 20, int spread = 80);

/// How starts are sampled from simulated trajectories.
struct StartSampling {
  int n = 256;
  double noise = 0.5;       ///< std of the Gaussian noise added to every coordinate
  std::uint64_t seed = 0;
  int burn_in = 20;         ///< a start is taken after burn_in + U{0..spread} units of time:
  int spread = 80;          ///< steps of the map, or (continuous view) multiples of max(tau)
  double rtol = 1e-8, atol = 1e-10;  ///< continuous view: dopri5's tolerances
  /// Continuous view: above this ratio max(tau)/min(tau) the view is stiff (an explicit
  /// method needs steps of min(tau) over a time of 100 max(tau)), and the trajectories are
  /// integrated by rosenbrock4 at `stiff_rtol` instead.
  double stiff_ratio = 10.0;
  double stiff_rtol = 1e-6, stiff_atol = 1e-8;
  /// Called now and then with the fraction of the sampling done (continuous view).
  std::function<void(double)> progress;
};

struct TrajectoryStarts {
  MatrixXd states;    ///< (state_dim, n) the starts, noise included
  MatrixXd origins;   ///< (state_dim, n) the random state s ~ U(-1, 1) each trajectory began at
  VectorXd times;     ///< (n) when each start was taken: steps, or time units of tau
  std::string description;  ///< how, in one line (for the result file's provenance)
  /// Continuous view: the integrator used and its work (zero for the discrete map).
  std::string method;
  long long steps = 0, rhs_evaluations = 0;
};

/// n trajectories from random states under the constant input x, each sampled once at a
/// random time, plus noise. Discrete view: the map F (Sequential coupling), exactly as
/// sample_initial_states. Continuous view: tau_l ds^(l)/dt = G_l(s, x) - s^(l) integrated
/// by integrate() (dopri5, or rosenbrock4 when stiff (StartSampling::stiff_ratio), dense output at the sampling times, all trajectories as one
/// batch). Deterministic in `o.seed`; `tau` as FixedPointSystem's.
TrajectoryStarts sample_trajectory_starts(const Model& model, const Eigen::Ref<const VectorXd>& x, TimeView view,
                                          const std::vector<double>& tau, const StartSampling& o);

// --- hierarchical mode (docs/design.md 3: layer l's points depend on the points below) -------

struct HierarchicalOptions {
  FinderOptions finder;
  UniqueOptions unique;
  int starts_per_layer = 64;   ///< per combination of lower points
  int max_combinations = 256;  ///< cap on the number of branches kept at each level
};

struct HierarchyNode {
  int layer = 0;
  int parent = -1;        ///< index of the node in the layer below (-1 for layer 0)
  VectorXd layer_state;   ///< s^(l) at this node
  double q_layer = 0;     ///< q of the layer's own residual
  int count = 0;          ///< starts of its branch (of the layer's own search) that reached it
};

struct HierarchicalResult {
  std::vector<HierarchyNode> nodes;     ///< layer by layer
  std::vector<int> leaves;              ///< nodes of the top layer
  std::vector<VectorXd> full_states;    ///< one full fixed point per leaf
  /// Per leaf: the starts whose path ends there. Start i's path: the layer-1 point its
  /// layer-1 slice reached, then, in that point's branch, the layer-2 point its layer-2
  /// slice reached, and so on; the counts and `unreached` add up to the starts used.
  std::vector<int> leaf_starts;
  int unreached = 0;                    ///< starts whose path ended before the top layer
  int n_starts = 0;                     ///< starts used per branch
  bool capped = false;                  ///< some branches were dropped by max_combinations
};
/// Layer 1 from `starts`' layer-1 slices, then layer l for each point of the layers below
/// (their slices of `starts` as initial states). Only the Discrete view and Continuous view
/// of `sys` differ in the scale of q, not in the points.
HierarchicalResult find_hierarchical(const FixedPointSystem& sys, const ConstMatRef& starts,
                                     const HierarchicalOptions& o);

}  // namespace stackdyn
