// Integrating the continuous-time view with Boost.Odeint's steppers, chosen by name
//, with output at requested times through an observer obs(s, t).
//
//   | name           | stepper                                   | step            | output       |
//   |----------------|-------------------------------------------|-----------------|--------------|
//   | euler          | odeint::euler                             | fixed, dt       | on the grid  |
//   | rk4            | odeint::runge_kutta4                      | fixed, dt       | on the grid  |
//   | dopri5         | controlled runge_kutta_dopri5 (FSAL)      | adaptive        | dense output |
//   | rosenbrock4    | odeint's rosenbrock4 and its controller,  | adaptive        | dense output |
//   |                | on Eigen with block-triangular solves     |                 |              |
//   |                | (lib/src/dynamics/block_rosenbrock4.hpp)  |                 |              |
//   | bulirsch_stoer | odeint::bulirsch_stoer                    | adaptive        | steps land on output times |
//   | cascade        | layer by layer, each with its own method (dopri5 or rosenbrock4) and steps, | | |
//   |                | driven by the dense outputs below (cascade.hpp) | adaptive per layer | dense output |
//   | auto           | cascade with each layer's method chosen from its diagonal block's eigenvalues | | |
//
// Fixed steps divide each output interval into equal steps of at most dt. Adaptive steppers
// also stop at the input's jumps (pulse edges, held samples), so that no step straddles a
// discontinuity, and restart their derivative there. A caller may also bring its own adaptive
// stepper with dense output (IntegratorOptions::stepper): the tests plug odeint's own ublas
// rosenbrock4 in there as an independent check of the library's.
#pragma once
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/core/error.hpp>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stackdyn {

enum class Method { Euler, Rk4, Dopri5, Rosenbrock4, BulirschStoer, Cascade, Auto };
std::string_view method_name(Method m);
/// InputError naming `where` and the accepted names.
Method parse_method(std::string_view name, std::string_view where);
/// A cascade layer's method: dopri5, rosenbrock4 or auto (InputError otherwise).
Method parse_layer_method(std::string_view name, std::string_view where);
bool is_adaptive(Method m);
bool is_cascade(Method m);

/// An adaptive stepper with dense output on the whole (batched) state, owned by integrate().
class AdaptiveStepper {
 public:
  virtual ~AdaptiveStepper() = default;
  /// One attempt from the current state at t with step dt: on success t and dt advance and
  /// the state moves on; on failure only dt shrinks.
  virtual bool try_step(double& t, double& dt) = 0;
  /// The current state; between the last two accepted times, the dense output.
  virtual const double* state() const = 0;
  virtual void dense(double t, Eigen::VectorXd& out) const = 0;
  virtual void copy_state(Eigen::VectorXd& out) const = 0;
};
using StepperFactory = std::function<std::unique_ptr<AdaptiveStepper>(ContinuousSystem& sys, double atol, double rtol,
                                                                      const Eigen::VectorXd& s0)>;

struct IntegratorOptions {
  Method method = Method::Dopri5;
  double rtol = 1e-6, atol = 1e-9;
  double dt = 0.01;  ///< fixed step (euler, rk4); first trial step of the adaptive ones
  double t_end = 1.0;
  double dt_out = 0.1;  ///< output at 0, dt_out, 2 dt_out, ... and at t_end
  /// Cascade only: each layer's method (Dopri5, Rosenbrock4 or Auto), one value or one per
  /// layer; empty: Dopri5 for `cascade`, Auto for `auto`.
  std::vector<Method> layer_methods;
  /// Cascade only: each layer's tolerances, one value or one per layer; empty: rtol, atol.
  std::vector<double> layer_rtol, layer_atol;
  /// Cascade only: a window is this many steps of the bottom layer (memory per window).
  int window_steps = 256;
  /// When set, integrate() steps with this instead of `method` (which still names the run in
  /// messages; it must not be a cascade).
  StepperFactory stepper;
};

/// What the cascade did in one layer.
struct LayerStats {
  std::string requested, chosen;  ///< method asked for (auto, dopri5, rosenbrock4) and used
  double rtol = 0, atol = 0;
  double spectral_radius = 0;  ///< max |eigenvalue| of the layer's df/ds at the start
  double step_estimate = 0;    ///< the accuracy-limited step auto assumed
  long long steps = 0, rejected_steps = 0, rhs_evaluations = 0, jacobian_evaluations = 0;
  long long input_error_capped = 0;  ///< steps where the input's error reached its cap
};

struct IntegrationStats {
  long long steps = 0;           ///< accepted steps
  long long rejected_steps = 0;  ///< steps the error control refused
  long long rhs_evaluations = 0;
  long long jacobian_evaluations = 0;
  long long outputs = 0;
  double t_reached = 0.0;
  std::vector<LayerStats> layers;  ///< cascade only, bottom layer first
};

/// Output times: k dt_out for k = 0, 1, ... up to t_end, and t_end itself.
struct OutputClock {
  OutputClock(double t_end, double dt_out);
  long long count() const { return n_; }
  double time(long long k) const { return k + 1 == n_ ? t_end_ : static_cast<double>(k) * dt_out_; }

 private:
  double t_end_, dt_out_;
  long long n_;
};

/// The state left the finite numbers: where, and what had been done.
struct DivergenceError : RunError {
  DivergenceError(const std::string& msg, double t_, int layer_, IntegrationStats st)
      : RunError(msg), t(t_), layer(layer_), stats(st) {}
  double t;
  int layer;
  IntegrationStats stats;
};

/// obs(s, t) at every output time, the first at t = 0 with the initial state.
using Observer = std::function<void(const Eigen::VectorXd& s, double t)>;

/// Integrates sys from t = 0 to opt.t_end, starting from s (length sys.size()), which holds
/// the final state on return. Throws DivergenceError when the state becomes NaN/Inf (after
/// the observer has seen every output time before it), RunError when the step size
/// underflows.
IntegrationStats integrate(ContinuousSystem& sys, Eigen::VectorXd& s, const IntegratorOptions& opt,
                           const Observer& obs);

}  // namespace stackdyn
