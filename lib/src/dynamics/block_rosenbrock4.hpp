// odeint's rosenbrock4 (the same RODAS coefficients, error norm, step-size controller and
// dense output: rodas_coefficients.hpp, odeint's rosenbrock4_controller) rewritten on Eigen
// so that its linear algebra can use the structure of the continuous-time view.
//
// Each stage solves (I / (gamma h) - J) g = r. J = T^{-1} (J_G - I) is block-diagonal over the
// samples of the batch and, within a sample, block lower-triangular in layers (docs/design.md 3:
// layer l reads only layers <= l). So the matrix is factored one layer's diagonal block at a
// time (O(sum n_l^3) instead of O((B sum n_l)^3)) and a stage is a forward substitution
// through the layers, the blocks below the diagonal applied as dense products. odeint's own
// rosenbrock4 factors the whole (B N) x (B N) matrix with ublas's unblocked LU.
//
// The stepper is a template over the system: the whole stack (ContinuousSystem) or one layer
// of the cascade (cascade_layer.hpp), both instantiated in block_rosenbrock4.cpp. A System
// provides state_dim(), batch(), operator()(x, dxdt, t), jacobian(x_b, t, b, J, &dfdt, false)
// for sample b, and count_jacobian_evaluation().
#pragma once
#include <stackdyn/dynamics/continuous_system.hpp>

#include <Eigen/LU>
#include <vector>

namespace stackdyn::detail {

template <class System>
class BlockRosenbrock4 {
 public:
  /// `slices`: the layers of the system's state (block lower-triangular structure).
  BlockRosenbrock4(System& sys, const std::vector<StateSlice>& slices, double atol, double rtol,
                   const Eigen::VectorXd& s0);
  /// One attempt from the current state at t with step dt (odeint's try_step: on success t
  /// and dt advance and the state moves on; on failure only dt shrinks).
  bool try_step(double& t, double& dt);
  const double* state() const { return x_.data(); }
  /// Between the last two accepted times: the method's 3rd-order dense output.
  void dense(double t, Eigen::VectorXd& out) const;
  void copy_state(Eigen::VectorXd& out) const { out = x_; }
  /// An absolute error added to every component's error estimate, scaled component by component and
  /// capped at `cap` of the tolerance (the cascade's interpolation error of the input, cascade.hpp).
  void set_input_error(double e, double cap) { input_error_ = e; input_cap_ = cap; }
  /// The last accepted step: its embedded error estimate, and the dense output as a polynomial
  /// x(t_old + theta h) = c0 + c1 theta + c2 theta^2 + c3 theta^3.
  const Eigen::VectorXd& error_estimate() const { return xerr_; }
  void dense_coefficients(Eigen::VectorXd& c0, Eigen::VectorXd& c1, Eigen::VectorXd& c2, Eigen::VectorXd& c3) const;
  double t_old() const { return t_old_; }
  /// Accepted steps in which the input error reached its cap.
  long long capped() const { return capped_; }

 private:
  void do_step(double t, double dt);
  void factor(double t, double dt);
  void solve(Eigen::VectorXd& g);
  double error() const;

  System* sys_;
  double atol_, rtol_;
  int N_, B_;
  std::vector<StateSlice> slices_;
  std::vector<Eigen::MatrixXd> J_;                         // per sample, N x N
  std::vector<Eigen::PartialPivLU<Eigen::MatrixXd>> lu_;  // per sample and layer
  Eigen::VectorXd x_, x_old_, x_new_, dxdt_, dfdt_, dxdt_new_, xtmp_, xerr_, g1_, g2_, g3_, g4_, g5_, cont3_,
      cont4_, dfdt_b_, tmp_;
  double t_old_ = 0, t_new_ = 0;
  bool first_step_ = true, last_rejected_ = false;
  double err_old_ = 0, dt_old_ = 0;
  double input_error_ = 0, input_cap_ = 0;
  mutable bool last_capped_ = false;
  long long capped_ = 0;
};

}  // namespace stackdyn::detail
