// LSTM cell as torch.nn.LSTM: step and derivatives. Trace: a = gates after their
// nonlinearities [i; f; g; o]; b = tanh(c').
#include <stackdyn/core/gemm.hpp>
#include <stackdyn/model/lstm_cell.hpp>
#include <stackdyn/model/activation.hpp>

namespace stackdyn {
namespace {

struct LstmPoint {
  Eigen::ArrayXd i, f, g, o, tc, c;
};

LstmPoint point(const CellTrace& t, int n) {
  const auto a = t.a.col(0);
  return {a.segment(0, n).array(), a.segment(n, n).array(),     a.segment(2 * n, n).array(),
          a.segment(3 * n, n).array(), t.b.col(0).array(), t.s.col(0).tail(n).array()};
}

}  // namespace

LstmCell::LstmCell(const CellParams& p, int hidden, int input) : p_(&p), n_(hidden), in_(input) {
  if (p.b_ih.size() > 0) bias_ = p.b_ih + p.b_hh;
}

void LstmCell::project_input(const ConstMatRef& U, MatRef P) const {
  gemm(p_->w_ih, false, U, false, P);
  if (bias_.size() > 0) P.colwise() += bias_;
}

void LstmCell::step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const {
  const int n = n_;
  t.a = P;
  gemm(p_->w_hh, false, S.topRows(n), false, t.a, 1.0, 1.0);
  auto sigm = [](auto x) { return 1.0 / (1.0 + (-x).exp()); };
  t.a.topRows(2 * n) = sigm(t.a.topRows(2 * n).array());
  tanh_inplace(t.a.middleRows(2 * n, n));
  t.a.bottomRows(n) = sigm(t.a.bottomRows(n).array());
  // c' = f c + i g, then h' = o tanh(c'); S may alias nothing in S_new (different buffers).
  S_new.bottomRows(n) = t.a.middleRows(n, n).cwiseProduct(S.bottomRows(n)) +
                        t.a.topRows(n).cwiseProduct(t.a.middleRows(2 * n, n));
  t.b.resize(n, S.cols());
  tanh_into(S_new.bottomRows(n), t.b);
  S_new.topRows(n) = t.a.bottomRows(n).cwiseProduct(t.b);
}

void LstmCell::jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS, MatRef out) const {
  const int n = n_;
  MatrixXd pre = p_->w_hh * dS.topRows(n);
  pre.noalias() += p_->w_ih * dU;
  gate_tangent(t, pre, dS.bottomRows(n), out);
}

void LstmCell::weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih, const MatrixXd& dW_hh,
                          MatRef out) const {
  const int n = n_;
  gate_tangent(t, weight_tangent(t.s.topRows(n), u, dW_ih, dW_hh, 4 * n), MatrixXd::Zero(n, 1), out);
}

// The state tangent from the gates' pre-activation tangent `pre` and the old cell state's dC.
void LstmCell::gate_tangent(const CellTrace& t, const MatrixXd& pre, const ConstMatRef& dC, MatRef out) const {
  const int n = n_;
  const LstmPoint q = point(t, n);
  const Eigen::ArrayXXd di = pre.topRows(n).array().colwise() * (q.i * (1 - q.i));
  const Eigen::ArrayXXd df = pre.middleRows(n, n).array().colwise() * (q.f * (1 - q.f));
  const Eigen::ArrayXXd dg = pre.middleRows(2 * n, n).array().colwise() * (1 - q.g.square());
  const Eigen::ArrayXXd dout = pre.bottomRows(n).array().colwise() * (q.o * (1 - q.o));
  const Eigen::ArrayXXd dc = dC.array().colwise() * q.f + df.colwise() * q.c + di.colwise() * q.g + dg.colwise() * q.i;
  out.bottomRows(n) = dc.matrix();
  out.topRows(n) = (dc.colwise() * (q.o * (1 - q.tc.square())) + dout.colwise() * q.tc).matrix();
}

void LstmCell::vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const {
  const int n = n_;
  const LstmPoint q = point(t, n);
  const Eigen::ArrayXXd Gh = G.topRows(n).array();
  const Eigen::ArrayXXd gc = G.bottomRows(n).array() + Gh.colwise() * (q.o * (1 - q.tc.square()));
  MatrixXd C(4 * n, G.cols());
  C.topRows(n) = (gc.colwise() * (q.g * q.i * (1 - q.i))).matrix();
  C.middleRows(n, n) = (gc.colwise() * (q.c * q.f * (1 - q.f))).matrix();
  C.middleRows(2 * n, n) = (gc.colwise() * (q.i * (1 - q.g.square()))).matrix();
  C.bottomRows(n) = (Gh.colwise() * (q.tc * q.o * (1 - q.o))).matrix();
  gU.noalias() = p_->w_ih.transpose() * C;
  gS.topRows(n).noalias() = p_->w_hh.transpose() * C;
  gS.bottomRows(n) = (gc.colwise() * q.f).matrix();
}

void LstmCell::gate_jacobian(const CellTrace& t, const MatrixXd& W, MatRef dh, MatRef dc) const {
  const int n = n_;
  const LstmPoint q = point(t, n);
  dc.noalias() = (q.g * q.i * (1 - q.i)).matrix().asDiagonal() * W.topRows(n);
  dc.noalias() += (q.c * q.f * (1 - q.f)).matrix().asDiagonal() * W.middleRows(n, n);
  dc.noalias() += (q.i * (1 - q.g.square())).matrix().asDiagonal() * W.middleRows(2 * n, n);
  dh.noalias() = (q.o * (1 - q.tc.square())).matrix().asDiagonal() * dc;
  dh.noalias() += (q.tc * q.o * (1 - q.o)).matrix().asDiagonal() * W.bottomRows(n);
}

void LstmCell::jacobian_state(const CellTrace& t, MatRef A) const {
  const int n = n_;
  const LstmPoint q = point(t, n);
  gate_jacobian(t, p_->w_hh, A.topLeftCorner(n, n), A.bottomLeftCorner(n, n));
  A.topRightCorner(n, n).setZero();
  A.topRightCorner(n, n).diagonal() = (q.o * (1 - q.tc.square()) * q.f).matrix();
  A.bottomRightCorner(n, n).setZero();
  A.bottomRightCorner(n, n).diagonal() = q.f.matrix();
}

void LstmCell::jacobian_input(const CellTrace& t, MatRef B) const {
  const int n = n_;
  gate_jacobian(t, p_->w_ih, B.topRows(n), B.bottomRows(n));
}

void LstmCell::backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& /*S_new*/, const ConstMatRef& G,
                        MatRef gP, MatRef gS, CellParams& grad, CellTrace& scratch, const ConstMatRef* gGates) const {
  const int n = n_;
  const auto i = t.a.topRows(n).array(), f = t.a.middleRows(n, n).array(), g = t.a.middleRows(2 * n, n).array(),
             o = t.a.bottomRows(n).array();
  const auto tc = t.b.array();
  const auto Gh = G.topRows(n).array();
  // scratch.a: the cotangent of c'.
  scratch.a = (G.bottomRows(n).array() + Gh * o * (1.0 - tc.square())).matrix();
  const auto gc = scratch.a.array();
  gP.topRows(n) = (gc * g * i * (1.0 - i)).matrix();
  gP.middleRows(n, n) = (gc * S.bottomRows(n).array() * f * (1.0 - f)).matrix();
  gP.middleRows(2 * n, n) = (gc * i * (1.0 - g.square())).matrix();
  gP.bottomRows(n) = (Gh * tc * o * (1.0 - o)).matrix();
  if (gGates) {
    const auto gg = gGates->array();
    gP.topRows(n).array() += gg.topRows(n) * i * (1.0 - i);
    gP.middleRows(n, n).array() += gg.middleRows(n, n) * f * (1.0 - f);
    gP.middleRows(2 * n, n).array() += gg.middleRows(2 * n, n) * (1.0 - g.square());
    gP.bottomRows(n).array() += gg.bottomRows(n) * o * (1.0 - o);
  }
  gemm(p_->w_hh, true, gP, false, gS.topRows(n));
  gS.bottomRows(n) = (gc * f).matrix();
  gemm(gP, false, S.topRows(n), true, grad.w_hh, 1.0, 1.0);
  if (grad.b_hh.size() > 0) grad.b_hh += gP.rowwise().sum();
}

}  // namespace stackdyn
