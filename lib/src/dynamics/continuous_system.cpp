// The continuous-time view as an odeint system (see continuous_system.hpp).
#include <stackdyn/dynamics/continuous_system.hpp>
#include <stackdyn/core/error.hpp>

#include <cmath>

namespace stackdyn {

ContinuousSystem::ContinuousSystem(const Model& model, const std::vector<double>& tau, const InputSignal& input)
    : stack_(model, Coupling::Simultaneous), input_(&input), B_(input.batch()) {
  const int L = model.num_layers();
  if (tau.size() != 1 && static_cast<int>(tau.size()) != L)
    throw InputError("tau: " + std::to_string(tau.size()) + " values for a model of " + std::to_string(L) +
                     " layers; expected one value or one per layer");
  for (std::size_t l = 0; l < tau.size(); ++l)
    if (!(tau[l] > 0) || !std::isfinite(tau[l]))
      throw InputError("tau: value " + std::to_string(tau[l]) + " (layer " + std::to_string(l) +
                       ") is not a positive number; expected tau > 0");
  if (input.input_size() != model.input_size)
    throw InputError("input signal of width " + std::to_string(input.input_size()) + ", expected " +
                     std::to_string(model.input_size) + " (the model's input_size)");
  inv_tau_.resize(stack_.state_dim());
  for (int l = 0; l < L; ++l) {
    const auto& sl = stack_.slices()[l];
    inv_tau_.segment(sl.offset, sl.size).setConstant(1.0 / tau[tau.size() == 1 ? 0 : l]);
  }
  ws_ = stack_.make_workspace();
  X_.resize(model.input_size, B_);
  G_.resize(stack_.state_dim(), B_);
  dXdt_.resize(model.input_size, B_);
  jvp_out_.resize(stack_.state_dim(), 1);
  zero_state_.setZero(stack_.state_dim(), 1);
}

void ContinuousSystem::rhs(const double* s, double* dsdt, double t) {
  const int N = stack_.state_dim();
  const Eigen::Map<const Eigen::MatrixXd> S(s, N, B_);
  Eigen::Map<Eigen::MatrixXd> D(dsdt, N, B_);
  input_->at(t, std::isnan(hold_) ? t : hold_, X_, draws_);
  stack_.step(X_, S, G_, ws_);
  D.array() = (G_.array() - S.array()).colwise() * inv_tau_.array();
  ++rhs_;
}

void ContinuousSystem::jacobian(const Eigen::Ref<const Eigen::VectorXd>& s, double t, int sample,
                                Eigen::MatrixXd& J, Eigen::VectorXd* dfdt, bool count) {
  input_->at(t, std::isnan(hold_) ? t : hold_, X_, draws_);
  stack_.linearize(X_.col(sample), s, lin_);
  J.resize(stack_.state_dim(), stack_.state_dim());
  stack_.jacobian_state(lin_, J);
  J.diagonal().array() -= 1.0;
  J.array().colwise() *= inv_tau_.array();
  if (dfdt) {
    if (input_->time_varying()) {
      // df/dt = T^{-1} dG/dx dx/dt: one Jacobian-vector product in the input direction.
      input_->derivative(t, dXdt_);
      stack_.jvp(lin_, dXdt_.col(sample), zero_state_, jvp_out_);
      *dfdt = inv_tau_.cwiseProduct(jvp_out_.col(0));
    } else {
      dfdt->setZero(stack_.state_dim());
    }
  }
  if (count) ++jac_;
}

std::pair<int, int> ContinuousSystem::first_nonfinite(const double* s) const {
  const int N = stack_.state_dim();
  for (int l = 0; l < stack_.num_layers(); ++l)  // the lowest layer first: where it started
    for (int b = 0; b < B_; ++b) {
      const auto& sl = stack_.slices()[l];
      for (int i = 0; i < sl.size; ++i)
        if (!std::isfinite(s[static_cast<std::size_t>(b) * N + sl.offset + i])) return {l, b};
    }
  return {-1, -1};
}

}  // namespace stackdyn
