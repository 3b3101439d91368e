// Pieces of the cascade (cascade.hpp) that the steppers need: one layer's accepted steps as
// piecewise polynomials (DenseTrack), and one layer as a system driven by the dense
// outputs of the layers below it (LayerSystem).
#pragma once
#include <stackdyn/dynamics/inputs.hpp>
#include <stackdyn/model/stack.hpp>

#include <limits>
#include <vector>

namespace stackdyn::detail {

/// One layer's accepted steps within the current window: on [t0, t0 + h],
/// x(t0 + theta h) = sum_p c_p theta^p (the stepper's continuous extension), with the step's
/// error estimate eps (max |embedded error|). Storage is kept between windows, so a window
/// allocates only when it holds more steps than any before it.
class DenseTrack {
 public:
  void reset(int rows, int cols, double t_start);
  /// Appends a step and returns its coefficient matrices c_0..c_degree (degree <= 5) to fill.
  Eigen::MatrixXd* add(double t0, double h, int degree, double eps);
  long long size() const { return static_cast<long long>(n_); }
  double t_begin() const { return t_start_; }
  /// x(t), clamped to the covered interval.
  void eval(double t, Eigen::Ref<Eigen::MatrixXd> out) const;
  /// dx/dt(t), the derivative of the polynomial.
  void derivative(double t, Eigen::Ref<Eigen::MatrixXd> out) const;
  /// The largest step error estimate over the steps that meet [ta, tb].
  double max_error(double ta, double tb) const;

 private:
  std::size_t find(double t) const;
  static constexpr int kSlots = 6;
  int rows_ = 0, cols_ = 0;
  double t_start_ = 0;
  std::size_t n_ = 0;
  std::vector<double> t0_, h_, eps_;
  std::vector<int> degree_;
  std::vector<Eigen::MatrixXd> coef_;  // kSlots per step
  mutable std::size_t cursor_ = 0;
};

/// Layer l of the continuous view alone: tau_l ds^(l)/dt = F_l(s^(l), u^(l)(t)) - s^(l), where
/// u^(l)(t) is built from the input and the dense outputs of the layers below. The state is
/// the batch's (n_l x B) matrix column by column, as for ContinuousSystem.
class LayerSystem {
 public:
  using State = Eigen::VectorXd;
  /// `below[k]` is layer k's track (k < layer); all must outlive the system.
  LayerSystem(const Stack& stack, int layer, double tau, const InputSignal& input,
              const std::vector<DenseTrack>& below);

  int state_dim() const { return n_; }
  int batch() const { return B_; }
  const std::vector<StateSlice>& slices() const { return slice_; }
  double tau() const { return tau_; }
  const std::vector<int>& layers_read() const { return read_; }

  void operator()(const State& s, State& dsdt, double t);
  /// J = df/ds (n_l x n_l) for sample b: (A_ll - I) / tau; dfdt = dF_l/du du/dt / tau, du/dt
  /// from the input's derivative and the derivatives of the dense outputs below.
  void jacobian(const Eigen::Ref<const Eigen::VectorXd>& s, double t, int b, Eigen::MatrixXd& J,
                Eigen::VectorXd* dfdt = nullptr, bool count = true);
  void count_jacobian_evaluation() { ++jac_; }
  /// As ContinuousSystem::hold_input_at.
  void hold_input_at(double t0) {
    hold_ = t0;
    invalidate();
  }
  /// Forget the input computed last (the tracks below changed).
  void invalidate() { u_t_ = du_t_ = std::numeric_limits<double>::quiet_NaN(); }

  /// max over samples of ||dF_l/du||_inf at state s and time t: how strongly an error of
  /// the input moves this layer.
  double input_gain(const State& s, double t);

  long long rhs_evaluations() const { return rhs_; }
  long long jacobian_evaluations() const { return jac_; }

 private:
  void inputs_at(double t);           // U_ = u^(l)(t) for the batch
  void input_derivative_at(double t);  // dU_ = du^(l)/dt for the batch
  void trace_sample(const Eigen::Ref<const Eigen::VectorXd>& s, int b);

  const Stack* stack_;
  int l_, n_, B_, below_rows_;
  double tau_;
  bool reads_x_ = true;
  const InputSignal* input_;
  InputSignal::Draws draws_;  // this layer's own draws: the signal is shared and immutable
  const std::vector<DenseTrack>* below_;
  std::vector<int> read_;
  std::vector<StateSlice> slice_;
  Stack::Workspace ws_;
  CellTrace trace_, trace1_;
  Eigen::MatrixXd X_, dX_, Sb_, U_, dU_, P_, G_, P1_, G1_, jvp_, zero_, Bl_;
  double u_t_ = std::numeric_limits<double>::quiet_NaN(), du_t_ = std::numeric_limits<double>::quiet_NaN();
  double hold_ = std::numeric_limits<double>::quiet_NaN();
  long long rhs_ = 0, jac_ = 0;
};

}  // namespace stackdyn::detail
