// Deep-transition cell: MLP transition, step and derivatives. Trace: mlp[k] = z_{k+1}.
#include <stackdyn/model/deep_transition_cell.hpp>
#include <stackdyn/model/activation.hpp>

namespace stackdyn {

DeepTransitionCell::DeepTransitionCell(const CellParams& p, int hidden, int input, bool residual, bool relu)
    : p_(&p), n_(hidden), in_(input), residual_(residual), relu_(relu) {}

void DeepTransitionCell::project_input(const ConstMatRef& U, MatRef P) const {
  P.noalias() = p_->w_ih * U;
  if (p_->b_ih.size() > 0) P.colwise() += p_->b_ih;
}

void DeepTransitionCell::step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const {
  const std::size_t K = p_->mlp_w.size();
  t.mlp.resize(K + 1);
  auto activate = [this](MatrixXd& z) {
    if (relu_)
      z = z.cwiseMax(0.0);
    else
      tanh_inplace(z);
  };
  t.mlp[0] = P;
  t.mlp[0].noalias() += p_->w_hh * S;
  activate(t.mlp[0]);
  for (std::size_t k = 0; k < K; ++k) {
    t.mlp[k + 1].noalias() = p_->mlp_w[k] * t.mlp[k];
    if (p_->mlp_b.size() > k && p_->mlp_b[k].size() > 0) t.mlp[k + 1].colwise() += p_->mlp_b[k];
    activate(t.mlp[k + 1]);
  }
  if (residual_)
    S_new = t.mlp[K] + S;
  else
    S_new = t.mlp[K];
}

MatrixXd DeepTransitionCell::act_derivative(const MatrixXd& z) const {
  if (relu_) return (z.array() > 0.0).cast<double>().matrix();
  return (1.0 - z.array().square()).matrix();
}

void DeepTransitionCell::propagate(const CellTrace& t, MatrixXd Z, MatRef out) const {
  Z = act_derivative(t.mlp[0]).col(0).asDiagonal() * Z;
  for (std::size_t k = 0; k < p_->mlp_w.size(); ++k) {
    MatrixXd next = p_->mlp_w[k] * Z;
    Z = act_derivative(t.mlp[k + 1]).col(0).asDiagonal() * next;
  }
  out = Z;
}

void DeepTransitionCell::jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS, MatRef out) const {
  MatrixXd Z = p_->w_hh * dS;
  Z.noalias() += p_->w_ih * dU;
  propagate(t, std::move(Z), out);
  if (residual_) out += dS;
}

void DeepTransitionCell::weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih,
                                    const MatrixXd& dW_hh, MatRef out) const {
  propagate(t, weight_tangent(t.s, u, dW_ih, dW_hh, p_->w_hh.rows()), out);
}

void DeepTransitionCell::vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const {
  const std::size_t K = p_->mlp_w.size();
  MatrixXd C = act_derivative(t.mlp[K]).col(0).asDiagonal() * G;
  for (std::size_t k = K; k-- > 0;) {
    MatrixXd prev = p_->mlp_w[k].transpose() * C;
    C = act_derivative(t.mlp[k]).col(0).asDiagonal() * prev;
  }
  gU.noalias() = p_->w_ih.transpose() * C;
  gS.noalias() = p_->w_hh.transpose() * C;
  if (residual_) gS += G;
}

void DeepTransitionCell::jacobian_state(const CellTrace& t, MatRef A) const {
  propagate(t, p_->w_hh, A);
  if (residual_) A.diagonal().array() += 1.0;
}

void DeepTransitionCell::jacobian_input(const CellTrace& t, MatRef B) const { propagate(t, p_->w_ih, B); }

void DeepTransitionCell::backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& /*S_new*/,
                                  const ConstMatRef& G, MatRef gP, MatRef gS, CellParams& grad,
                                  CellTrace& scratch) const {
  const std::size_t K = p_->mlp_w.size();
  // Multiplies by the activation's derivative, from its value: tanh' = 1 - z^2, relu' = [z > 0].
  auto times_derivative = [this](const MatrixXd& z, auto&& x) {
    if (relu_)
      x = (z.array() > 0.0).select(x.array(), 0.0).matrix();
    else
      x.array() *= 1.0 - z.array().square();
  };
  // scratch.mlp[k]: the cotangent of layer k's pre-activation (one buffer per width).
  scratch.mlp.resize(K + 1);
  if (K > 0) scratch.mlp[K].resize(G.rows(), G.cols());
  MatRef top = K == 0 ? gP : MatRef(scratch.mlp[K]);
  top = G;
  times_derivative(t.mlp[K], top);
  for (std::size_t k = K; k-- > 0;) {
    const MatrixXd& C = scratch.mlp[k + 1];
    grad.mlp_w[k].noalias() += C * t.mlp[k].transpose();
    if (grad.mlp_b.size() > k) grad.mlp_b[k] += C.rowwise().sum();
    if (k == 0) {
      gP.noalias() = p_->mlp_w[k].transpose() * C;
      times_derivative(t.mlp[0], gP);
    } else {
      scratch.mlp[k].resize(p_->mlp_w[k].cols(), C.cols());
      scratch.mlp[k].noalias() = p_->mlp_w[k].transpose() * C;
      times_derivative(t.mlp[k], scratch.mlp[k]);
    }
  }
  gS.noalias() = p_->w_hh.transpose() * gP;
  if (residual_) gS += G;
  grad.w_hh.noalias() += gP * S.transpose();
}

}  // namespace stackdyn
