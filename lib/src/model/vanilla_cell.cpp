// Vanilla RNN cell: step and derivatives (see vanilla_cell.hpp).
#include <stackdyn/core/gemm.hpp>
#include <stackdyn/model/vanilla_cell.hpp>
#include <stackdyn/model/activation.hpp>

namespace stackdyn {

VanillaCell::VanillaCell(const CellParams& p, int hidden, int input, bool relu)
    : p_(&p), n_(hidden), in_(input), relu_(relu) {
  if (p.b_ih.size() > 0) bias_ = p.b_ih + p.b_hh;
}

void VanillaCell::project_input(const ConstMatRef& U, MatRef P) const {
  gemm(p_->w_ih, false, U, false, P);
  if (bias_.size() > 0) P.colwise() += bias_;
}

void VanillaCell::step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const {
  t.a = P;
  gemm(p_->w_hh, false, S, false, t.a, 1.0, 1.0);
  if (relu_)
    S_new = t.a.cwiseMax(0.0);
  else
    tanh_into(t.a, S_new);
}

VectorXd VanillaCell::derivative(const CellTrace& t) const {
  const auto a = t.a.col(0).array();
  if (relu_) return (a > 0.0).cast<double>();
  return 1.0 - a.tanh().square();
}

void VanillaCell::jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS, MatRef out) const {
  out.noalias() = p_->w_hh * dS;
  out.noalias() += p_->w_ih * dU;
  out = derivative(t).asDiagonal() * out;
}

void VanillaCell::weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih, const MatrixXd& dW_hh,
                             MatRef out) const {
  out = derivative(t).asDiagonal() * weight_tangent(t.s, u, dW_ih, dW_hh, n_);
}

void VanillaCell::vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const {
  const MatrixXd C = derivative(t).asDiagonal() * G;
  gS.noalias() = p_->w_hh.transpose() * C;
  gU.noalias() = p_->w_ih.transpose() * C;
}

void VanillaCell::jacobian_state(const CellTrace& t, MatRef A) const {
  A.noalias() = derivative(t).asDiagonal() * p_->w_hh;
}

void VanillaCell::jacobian_input(const CellTrace& t, MatRef B) const {
  B.noalias() = derivative(t).asDiagonal() * p_->w_ih;
}

void VanillaCell::backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& S_new, const ConstMatRef& G,
                           MatRef gP, MatRef gS, CellParams& grad, CellTrace& /*scratch*/) const {
  if (relu_)
    gP = (t.a.array() > 0.0).select(G.array(), 0.0).matrix();
  else
    gP = (G.array() * (1.0 - S_new.array().square())).matrix();
  gemm(p_->w_hh, true, gP, false, gS);
  gemm(gP, false, S, true, grad.w_hh, 1.0, 1.0);
  if (grad.b_hh.size() > 0) grad.b_hh += gP.rowwise().sum();
}

}  // namespace stackdyn
