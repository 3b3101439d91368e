// The continuous-time view of docs/design.md 3 as a Boost.Odeint system:
//   tau_l ds^(l)/dt = G_l(s, x(t)) - s^(l),
// G the stack with Simultaneous coupling (stack.hpp). The state is a whole batch at once,
// an Eigen vector holding the (state_dim x batch) matrix column by column, so that one
// right-hand side is one matrix-matrix product per weight matrix and allocates nothing.
//
// Odeint concepts it models:
//   | expression                    | meaning                                                   |
//   |-------------------------------|-----------------------------------------------------------|
//   | sys(s, dsdt, t)               | dsdt = f(s, t); s, dsdt Eigen::VectorXd (vector_space_algebra) |
//   | sys.jacobian(s_b, t, b, J, &dfdt) | J = df/ds for sample b, the analytic Jacobian          |
// J_f = T^{-1} (J_G - I), T = diag(tau) (block-diagonal over the samples of the batch), and
// df/dt = T^{-1} dG/dx dx/dt. rosenbrock4 (ublas states) uses them through
// lib/src/dynamics/block_rosenbrock4.hpp (and the tests, odeint's own, through tests/odeint_rosenbrock4.cpp).
#pragma once
#include <stackdyn/dynamics/inputs.hpp>
#include <stackdyn/model/stack.hpp>

#include <limits>
#include <vector>

namespace stackdyn {

class ContinuousSystem {
 public:
  using State = Eigen::VectorXd;

  /// `tau`: one value, or one per layer, each > 0 (InputError otherwise). `model` and
  /// `input` must outlive the system; the batch is the input's.
  ContinuousSystem(const Model& model, const std::vector<double>& tau, const InputSignal& input);

  int state_dim() const { return stack_.state_dim(); }
  int batch() const { return B_; }
  /// Length of the odeint state: state_dim * batch.
  Eigen::Index size() const { return static_cast<Eigen::Index>(stack_.state_dim()) * B_; }
  const Stack& stack() const { return stack_; }
  const InputSignal& input() const { return *input_; }
  /// 1/tau for every component of the state (state_dim).
  const Eigen::VectorXd& inverse_tau() const { return inv_tau_; }

  void operator()(const State& s, State& dsdt, double t) { rhs(s.data(), dsdt.data(), t); }
  /// The same on raw storage: s and dsdt hold size() numbers.
  void rhs(const double* s, double* dsdt, double t);

  /// J = df/ds (state_dim x state_dim) at one sample's state s and time t; dfdt = df/dt
  /// there (the input's time derivative through dG/dx) when not null. `sample` picks the
  /// input column. Counts as one Jacobian evaluation when `count`.
  void jacobian(const Eigen::Ref<const Eigen::VectorXd>& s, double t, int sample, Eigen::MatrixXd& J,
                Eigen::VectorXd* dfdt = nullptr, bool count = true);
  /// Evaluate the input's piecewise-constant parts at `t0` from now on (the start of the
  /// step or of the stretch between two jumps being integrated; InputSignal::at), or at
  /// the time asked for when t0 is NaN (the default).
  void hold_input_at(double t0) { hold_ = t0; }
  /// For callers that assemble the whole batch's Jacobian from per-sample calls.
  void count_jacobian_evaluation() { ++jac_; }

  long long rhs_evaluations() const { return rhs_; }
  long long jacobian_evaluations() const { return jac_; }

  /// The first layer (and sample) holding a NaN or Inf in the batch state s, or {-1, -1}.
  std::pair<int, int> first_nonfinite(const double* s) const;

 private:
  Stack stack_;
  const InputSignal* input_;
  InputSignal::Draws draws_;  // this system's own: the signal may be shared between threads
  int B_;
  Eigen::VectorXd inv_tau_;
  Stack::Workspace ws_;
  Eigen::MatrixXd X_, G_, dXdt_, jvp_out_, zero_state_;
  Stack::Linearization lin_;  // reused by jacobian()
  long long rhs_ = 0, jac_ = 0;
  double hold_ = std::numeric_limits<double>::quiet_NaN();
};

}  // namespace stackdyn
