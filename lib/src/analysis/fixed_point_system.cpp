// The fixed-point system of a stack (residual, q, Jacobians in either view) and the
// finder's names and options (see fixed_points.hpp).
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/format.hpp>

#include <algorithm>
#include <cmath>

namespace stackdyn {

std::string_view finder_method_name(FinderMethod m) {
  switch (m) {
    case FinderMethod::LevenbergMarquardt: return "lm";
    case FinderMethod::Hybrid: return "hybrid";
    case FinderMethod::Adam: return "adam";
  }
  return "?";
}

FinderMethod parse_finder_method(std::string_view name, std::string_view where) {
  for (auto m : {FinderMethod::LevenbergMarquardt, FinderMethod::Hybrid, FinderMethod::Adam})
    if (name == finder_method_name(m)) return m;
  throw InputError(std::string(where) + ": unknown method '" + std::string(name) + "', expected lm, hybrid or adam");
}

std::string_view start_status_name(StartStatus s) {
  switch (s) {
    case StartStatus::Converged: return "converged";
    case StartStatus::SlowPoint: return "slow_point";
    case StartStatus::Diverged: return "diverged";
    case StartStatus::CapReached: return "cap_reached";
  }
  return "?";
}

void FinderOptions::validate(std::string_view where) const {
  const std::string w(where);
  auto bad = [&](const std::string& what, const std::string& expected, double got) {
    throw InputError(w + ": " + what + " must be " + expected + ", got " + format_number(got));
  };
  if (!(q_tol > 0) || !std::isfinite(q_tol)) bad("q-tol", "a finite number > 0", q_tol);
  if (!(step_tol >= 0) || !std::isfinite(step_tol)) bad("step-tol", "a finite number >= 0", step_tol);
  if (!(dq_tol >= 0) || !std::isfinite(dq_tol)) bad("dq-tol", "a finite number >= 0", dq_tol);
  if (max_iters < 1) bad("max-iters", "a positive integer", max_iters);
  if (!(divergence_bound > 0)) bad("divergence bound", "> 0", divergence_bound);
  if (!(adam_lr > 0) || !std::isfinite(adam_lr)) bad("adam learning rate", "a finite number > 0", adam_lr);
  if (!(adam_epsilon > 0)) bad("adam epsilon", "> 0", adam_epsilon);
}

// --- the system ------------------------------------------------------------------------

FixedPointSystem::FixedPointSystem(const Model& model, const Eigen::Ref<const VectorXd>& x, TimeView view,
                                   std::vector<double> tau)
    : stack_(model, view == TimeView::Discrete ? Coupling::Sequential : Coupling::Simultaneous),
      x_(x),
      view_(view) {
  if (x.size() != model.input_size)
    throw InputError("constant input has " + std::to_string(x.size()) + " values, expected input_size = " +
                     std::to_string(model.input_size));
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (!std::isfinite(x[i]))
      throw InputError("constant input value " + std::to_string(i) + " is not finite; expected finite numbers");
  const auto L = static_cast<std::size_t>(model.num_layers());
  if (tau.size() == 1) tau.assign(L, tau.front());
  if (tau.size() != L)
    throw InputError("tau has " + std::to_string(tau.size()) + " values, expected 1 or one per layer (" +
                     std::to_string(L) + ")");
  for (double t : tau)
    if (!(t > 0) || !std::isfinite(t))
      throw InputError("tau must be finite and > 0, got " + format_number(t));
  tau_layer_ = std::move(tau);
  tau_state_.resize(stack_.state_dim());
  for (std::size_t l = 0; l < L; ++l) {
    const auto& sl = stack_.slices()[l];
    tau_state_.segment(sl.offset, sl.size).setConstant(tau_layer_[l]);
  }
}

void FixedPointSystem::residual(const ConstMatRef& S, MatRef R) const {
  auto ws = stack_.make_workspace();
  const MatrixXd X = x_.replicate(1, S.cols());
  stack_.step(X, S, R, ws);
  R -= S;
  if (view_ == TimeView::Continuous) R.array().colwise() /= tau_state_.array();
}

double FixedPointSystem::q(const Eigen::Ref<const VectorXd>& s) const {
  VectorXd r(dim());
  residual(s, r);
  return 0.5 * r.squaredNorm();
}

VectorXd FixedPointSystem::residual(const Linearization& lin) const {
  VectorXd r(dim());
  residual(lin, r);
  return r;
}

void FixedPointSystem::residual(const Linearization& lin, Eigen::Ref<VectorXd> r) const {
  r = lin.s_next - lin.s;
  if (view_ == TimeView::Continuous) r.array() /= tau_state_.array();
}

void FixedPointSystem::map_jacobian(const Linearization& lin, MatRef J) const { stack_.jacobian_state(lin, J); }

MatrixXd FixedPointSystem::dynamics_jacobian(const Linearization& lin) const {
  MatrixXd J(dim(), dim());
  map_jacobian(lin, J);
  if (view_ == TimeView::Continuous) {
    J.diagonal().array() -= 1.0;
    J.array().colwise() /= tau_state_.array();
  }
  return J;
}

MatrixXd FixedPointSystem::jacobian(const Linearization& lin) const {
  MatrixXd J(dim(), dim());
  jacobian(lin, J);
  return J;
}

void FixedPointSystem::jacobian(const Linearization& lin, MatRef J) const {
  map_jacobian(lin, J);
  J.diagonal().array() -= 1.0;
  if (view_ == TimeView::Continuous) J.array().colwise() /= tau_state_.array();
}

void FixedPointSystem::dynamics_jvp(const Linearization& lin, const ConstMatRef& V, MatRef out) const {
  const MatrixXd dX = MatrixXd::Zero(stack_.input_size(), V.cols());
  stack_.jvp(lin, dX, V, out);
  if (view_ == TimeView::Continuous) {
    out -= V;
    out.array().colwise() /= tau_state_.array();
  }
}

void FixedPointSystem::dynamics_vjp(const Linearization& lin, const ConstMatRef& V, MatRef out) const {
  MatrixXd gX(stack_.input_size(), V.cols());
  if (view_ == TimeView::Discrete) {
    stack_.vjp(lin, V, gX, out);
    return;
  }
  MatrixXd G = V;
  G.array().colwise() /= tau_state_.array();
  stack_.vjp(lin, G, gX, out);
  out -= G;
}

VectorXd FixedPointSystem::gradient(const Linearization& lin) const {
  const VectorXd r = residual(lin);
  VectorXd g(dim());
  dynamics_vjp(lin, r, g);
  if (view_ == TimeView::Discrete) g -= r;
  return g;
}

MatrixXd FixedPointSystem::dynamics_block(const Linearization& lin, int layer) const {
  MatrixXd A = stack_.diagonal_block(lin, layer);
  if (view_ == TimeView::Continuous) {
    A.diagonal().array() -= 1.0;
    A /= tau(layer);
  }
  return A;
}

}  // namespace stackdyn
