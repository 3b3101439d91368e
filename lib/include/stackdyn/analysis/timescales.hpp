// Which frequencies each layer passes, and how slowly it forgets (docs/probes.md): the stack,
// resting on its stable fixed point under a constant input x0, is driven by
// x(t) = x0 + a sin(2 pi f t) e, and each layer's hidden state is projected on the drive's
// frequency after a transient:
//   c_j = (2/N) sum_t (h_j(t) - mean_j) exp(-2 pi i f t),   gain^(l) = |c^(l)|_2 / a,
// over N samples of P whole periods (discrete: N = round(P / f) steps; continuous: P periods
// sampled at `samples_per_period` points from the integrator's dense output). The same gain
// predicted by the linearisation at the fixed point is the transfer function's layer rows:
//   discrete    (z I - A)^-1 B e,  z = exp(2 pi i f),  A = dF/ds, B = dF/dx;
//   continuous  (2 pi i f I - T^-1 (A - I))^-1 T^-1 B e,  A, B the Jacobians of G.
// Both are block lower-triangular, so the solve goes layer by layer (forward substitution
// with one n_l x n_l complex LU per layer and frequency).
//
// Discrete: every frequency is one column of one batched run of the map (its own transient
// and window); continuous: frequencies are integrated independently, in parallel.
//
// Each layer's own gain (docs/design.md 4, docs/probes.md): the layer driven alone, every
// stream below it held to its measured sinusoid (the fundamental c^(k) of the run above,
// scaled so that the stream it reads, h^(l-1) or the input for l = 0, has amplitude a):
// own^(l) = |c'^(l)_h| / a. Predicted: |x^(l)_h| / |x^(l-1)_h| of the forward substitution,
// x^(l) = (z I - A_ll)^-1 (B_l u^(l)), the layer's own transfer function applied to the
// amplitude of the stream it reads (up to the unit phase of the step convention).
//
// The rest point: Newton (the fixed-point finder) from the zero state, states of the
// drive's trajectory from the zero state (lowest frequency) and `extra_starts` (a run's
// recorded fixed points); the stable point nearest the trajectory's second half is taken.
// `given_start` replaces all of them.
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>

#include <string>
#include <vector>

namespace stackdyn {

struct TimescaleOptions {
  TimeView view = TimeView::Discrete;
  std::vector<double> tau{1.0};
  std::vector<double> frequencies;  ///< cycles per step (discrete, in (0, 0.5)) or per unit time
  double amplitude = 0.01;
  VectorXd direction;  ///< input_size numbers (normalised here); empty = the first input unit
  VectorXd x0;         ///< operating point; empty = zero
  double periods = 20;            ///< measured, at least 1
  double transient_periods = 20;  ///< and at least 10 of the slowest timescales
  int samples_per_period = 64;    ///< continuous
  double rtol = 1e-6, atol = 1e-9;
  int threads = 0;
  /// The only start of the rest-point search when set (--fixed-point, --state).
  VectorXd given_start;
  std::string given_label;  ///< what given_start is, for fixed_point_start
  /// Further starts (columns), e.g. a checkpoint's fixed points, and what they are.
  MatrixXd extra_starts;
  std::string extra_label;
  /// InputError naming `where` and the offending option.
  void validate(const Model& model, const std::string& where) const;
};

struct TimescaleResult {
  VectorXd frequencies;          ///< ascending
  MatrixXd gain, gain_linear;    ///< (L, n_f)
  MatrixXd power;                ///< (L, n_f): mean over the window of |h^(l) - mean|^2
  VectorXd preferred_frequency;  ///< (L,): argmax of gain over the grid
  VectorXd cutoff_frequency;     ///< (L,): highest grid frequency with gain >= gain(lowest)/sqrt 2
  VectorXd spectral_radius;      ///< (L,): of A_ll at the fixed point
  VectorXd timescale;            ///< (L,): the slowest of the block, steps or time units
  VectorXd fixed_point;          ///< the state the probe starts from
  std::string fixed_point_start; ///< which start the search took it from
  int starts_tried = 0, starts_stable = 0;  ///< converged to a stable point
  MatrixXd own_gain, own_gain_linear;       ///< (L, n_f): each layer alone, from the stream it reads
  VectorXd own_preferred_frequency, own_cutoff_frequency;  ///< (L,) of own_gain
  VectorXd readout_gain;         ///< (n_f,): input to the readout's prediction; empty without a readout
  VectorXd readout_gain_linear;  ///< (n_f,): its linear prediction
  std::vector<long long> window; ///< per frequency: samples in the measured window
  std::vector<double> transient; ///< per frequency: steps or time before the window
};

/// Runs the probe. RunError when no stable fixed point is found from the starts (or the
/// given start is not one) or the trajectory leaves the finite numbers.
TimescaleResult probe_timescales(const Model& model, const TimescaleOptions& o);

/// The linear prediction alone, at the state s (columns: frequencies), rows per layer.
MatrixXd linear_gain(const Model& model, const VectorXd& x0, const VectorXd& s, const VectorXd& direction,
                     const std::vector<double>& frequencies, TimeView view, const std::vector<double>& tau);

}  // namespace stackdyn
