// The cascade: the continuous-time view integrated layer by layer (methods `cascade` and
// `auto` of integrate.hpp).
//
// Layer l reads only the current states of the layers below it (docs/design.md 3: df/ds is
// block lower-triangular), so the stack can be integrated bottom-up, one layer at a time:
// layer 1 with its own method and step control, then layer 2 driven by layer 1's dense
// output, and so on. One sweep is exact up to the interpolation error; no iteration.
// Each layer gets its own method (dopri5 with odeint's controller, or the block
// rosenbrock4), tolerances and steps, and its weights stay in cache while it integrates.
//
// Windows: the span is processed in windows of `window_steps` steps of the bottom layer.
// Within a window every layer in turn integrates up to the window's end, keeping its
// accepted steps as polynomials (DenseTrack); the outputs inside the window are evaluated
// from those, and the window's storage is reused by the next. Memory is bounded by the
// steps of one window, not the length of the run.
//
// Interpolation error in the upper layer's error control: a step of layer l over [t, t+h]
// reads the dense outputs below, whose error is bounded by the lower steps' own error
// estimates eps (both continuous extensions are of the order of their embedded
// estimates). An input error eps moves layer l by at most
//   e_in = (1 - exp(-h / tau_l)) * g_l * eps,   g_l = max_b ||dF_l/du||_inf
// (the linear response of tau ds/dt = -s + dF/du du over h, saturating at the stiff end
// instead of growing like h / tau). Each component's scaled error estimate gains
// min(e_in / sc_i, 1/2) (sc_i the component's tolerance), so a step is accepted only when
// its own truncation error and the input's error fit the tolerance together; the cap
// keeps the controller from shrinking h for ever when the lower layers' error does not
// shrink with it (counted per layer as input_error_capped: tighten those layers then).
//
// auto: a layer is explicit (dopri5) when h_acc * rho_l <= 3.3 (dopri5's stability
// boundary on the negative real axis), where rho_l is the spectral radius of its diagonal
// block (A_ll - I) / tau_l at the initial state (Eigen's eigenvalue solver, the first
// samples of the batch) and h_acc = 4 rtol_l^(1/5) T_l the step its accuracy allows:
// T_l is the fastest timescale forcing it (the input's fastest sinusoid 1/(2 pi f), the
// explicit layers below, 1/rho_k; at most t_end). rosenbrock4 otherwise.
#pragma once
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/dynamics/integrate.hpp>

namespace stackdyn {

/// integrate() for Method::Cascade and Method::Auto: the same contract (observer at every
/// output time, s holds the final state, DivergenceError / RunError), plus per-layer
/// statistics in IntegrationStats::layers. steps, rejected_steps and rhs_evaluations are
/// summed over the layers (a layer's right-hand side evaluates one layer). On divergence
/// the observer has seen the outputs before the window in which it happened.
IntegrationStats integrate_cascade(ContinuousSystem& sys, Eigen::VectorXd& s, const IntegratorOptions& opt,
                                   const Observer& obs);

}  // namespace stackdyn
