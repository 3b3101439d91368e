// Lyapunov spectra of a stack along trajectories (docs/design.md 4, docs/probes.md): the
// growth rates of K tangent directions, kept orthonormal by repeated QR.
//
//   discrete map   Q_{t+1} = dF/ds(s_t, x_t) Q_t, one Jacobian-vector product with K
//                  columns per step (Stack::jvp), rates per step;
//   continuous     ds/dt = T^-1 (G(s, x) - s), dQ/dt = T^-1 (dG/ds Q - Q), integrated together
//                  by dopri5 (the variational equations), rates per unit time.
//
// Every `reorthonormalize_every` steps (or time units, at most: it is halved while a QR's
// spread of log|R_ii| passes 16 nats, the interval redone) Q = QR and log|R_ii| is added to the
// sums; exponents are the sums over the measured window divided by its length. The first
// `transient` steps (time) are run with the same re-orthonormalisation but not counted.
// With all exponents, each layer's own block A_ll (continuous: (A_ll - I)/tau_l) is carried
// too, on a block-diagonal basis: its exponents are the layer's. Since dF/ds is block
// lower-triangular (the states of the layers above l form an invariant subspace of the
// tangent dynamics), the stack's spectrum is the union of the layers'. Two routes:
//
//   Route::Full    the K-column basis of the whole tangent dynamics (one JVP through the
//                  stack and one N x K QR per step), the layers' blocks beside it when K = N;
//   Route::Layers  only the layers' own blocks, layer l with min(K, n_l) columns; the
//                  exponents are the largest K of the union. Per step L products and QRs of
//                  n_l x n_l instead of one of N x N: for L equal layers about L^2 times less
//                  work. The same limit; at finite length the two estimates differ by the
//                  estimator's O(1/length).
//   Route::Auto    Layers when K = N, else Full.
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/dynamics/inputs.hpp>

#include <string>
#include <vector>

namespace stackdyn {

struct LyapunovOptions {
  enum class Route { Auto, Full, Layers };
  TimeView view = TimeView::Discrete;
  Route route = Route::Auto;
  std::vector<double> tau{1.0};  ///< continuous view: one value or one per layer
  int k = 0;                     ///< exponents wanted, 1..state_dim; 0 = all
  double length = 1000;          ///< measured window: steps (discrete) or time units
  double transient = 0;          ///< before it, not counted
  double reorthonormalize_every = 1;
  double record_every = 0;  ///< running estimate every this many steps / time units; 0 = about 100 records
  double rtol = 1e-6, atol = 1e-9, dt = 0.01;  ///< dopri5 (continuous)
  std::uint64_t seed = 0;                      ///< of the initial tangent bases
  int threads = 0;                             ///< samples in parallel; 0 = every core
  /// InputError naming `where` on values that do not fit the model (K above the state, ...).
  void validate(const Model& model, const std::string& where) const;
};

struct LyapunovResult {
  VectorXd exponents;        ///< (K,), descending, the mean over the batch
  MatrixXd per_sample;       ///< (B, K), each row descending
  MatrixXd running;          ///< (n_records, K): running estimate of the batch mean
  VectorXd record_times;     ///< (n_records,): steps or time since the end of the transient
  double kaplan_yorke = 0;   ///< NaN when the K exponents do not determine it
  MatrixXd layer_exponents;  ///< (L, n_max) NaN-padded, when K = state_dim; else empty
  long long rhs_evaluations = 0;  ///< continuous: right-hand sides of the augmented system
  std::string route;              ///< "full" or "layers": the route taken
  /// The interval adapts: a QR whose spread of log|R_ii| passes a bound (16 nats) is redone
  /// from the previous QR with half the interval (docs/probes.md).
  double reorthonormalize_every_used = 0;  ///< the smallest final interval over the samples
  long long reorthonormalize_halvings = 0;  ///< halvings, summed over the samples
  double max_log_r_spread = 0;              ///< the largest spread of log|R_ii| of an accepted QR
  /// Continuous view, all exponents: the trajectories' mean of tr(T^-1 (dG/ds - I)) over the
  /// window (batch mean), which the exponents' sum equals exactly (Liouville); else NaN.
  double volume_rate = 0;
};

/// Lyapunov exponents along the trajectories that start at the columns of S0
/// (state_dim x B), driven by `input` (batch B). RunError (naming step or time, layer and
/// sample) when a trajectory leaves the finite numbers.
LyapunovResult lyapunov_spectrum(const Model& model, const InputSpec& input, const MatrixXd& S0,
                                 const LyapunovOptions& o);

/// Kaplan-Yorke dimension j + (l_1 + ... + l_j) / |l_{j+1}| of descending exponents, j the
/// largest index with a non-negative partial sum; 0 when l_1 < 0; NaN when every partial sum
/// of K < state_dim exponents is non-negative (the next exponent is not known).
double kaplan_yorke_dimension(const VectorXd& descending, int state_dim);

}  // namespace stackdyn
