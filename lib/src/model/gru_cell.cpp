// GRU cells (torch "reset after" and the original "reset before"): steps and derivatives.
// Trace: a = recurrent term (reset after: W_hh h + b_hh, 3n rows; reset before: the
// r,z rows of it and, in rows 2n..3n, W_hn (r*h) + b_hn); b = gates [r; z; n].
#include <stackdyn/core/gemm.hpp>
#include <stackdyn/model/gru_cell.hpp>
#include <stackdyn/model/activation.hpp>

namespace stackdyn {
namespace {

// The logistic function as an expression (no temporary: a step allocates nothing).
template <class E>
auto sig(const Eigen::ArrayBase<E>& x) {
  return 1.0 / (1.0 + (-x).exp());
}

struct GruPoint {  // the gate values at a 1-column trace, as arrays
  Eigen::ArrayXd r, z, nn, h, an;
};

GruPoint point(const CellTrace& t, int n) {
  GruPoint g;
  g.r = t.b.col(0).segment(0, n).array();
  g.z = t.b.col(0).segment(n, n).array();
  g.nn = t.b.col(0).segment(2 * n, n).array();
  g.h = t.s.col(0).array();
  g.an = t.a.col(0).segment(2 * n, n).array();
  return g;
}

void project_gru(const CellParams& p, const ConstMatRef& U, MatRef P) {
  gemm(p.w_ih, false, U, false, P);
  if (p.b_ih.size() > 0) P.colwise() += p.b_ih;
}

// h' = (1 - z) n + z h from the gates in t.b.
void combine(const CellTrace& t, const ConstMatRef& S, MatRef S_new, int n) {
  const auto z = t.b.middleRows(n, n).array();
  S_new = ((1.0 - z) * t.b.middleRows(2 * n, n).array() + z * S.array()).matrix();
}

}  // namespace

GruCell::GruCell(const CellParams& p, int hidden, int input) : p_(&p), n_(hidden), in_(input) {}

void GruCell::project_input(const ConstMatRef& U, MatRef P) const { project_gru(*p_, U, P); }

void GruCell::step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const {
  const int n = n_;
  t.a.resize(3 * n, S.cols());
  gemm(p_->w_hh, false, S, false, t.a);
  if (p_->b_hh.size() > 0) t.a.colwise() += p_->b_hh;
  t.b.resize(3 * n, S.cols());
  t.b.topRows(2 * n) = sig(P.topRows(2 * n).array() + t.a.topRows(2 * n).array());
  t.b.bottomRows(n) = (P.bottomRows(n).array() + t.b.topRows(n).array() * t.a.bottomRows(n).array()).matrix();
  tanh_inplace(t.b.bottomRows(n));
  combine(t, S, S_new, n);
}

namespace {

// The tangent of h' from the pre-activation tangents Gu (input side) and Gh (recurrent
// side, before the reset gate multiplies its n rows), without h's direct term z dh.
void gate_tangent(const GruPoint& g, int n, const MatrixXd& Gu, const MatrixXd& Gh, MatRef out) {
  const Eigen::ArrayXXd dr = (g.r * (1 - g.r)).matrix().asDiagonal() * (Gu.topRows(n) + Gh.topRows(n));
  const Eigen::ArrayXXd dz =
      (g.z * (1 - g.z)).matrix().asDiagonal() * (Gu.middleRows(n, n) + Gh.middleRows(n, n));
  const Eigen::ArrayXXd dn = (1 - g.nn.square()).matrix().asDiagonal() *
                             (Gu.bottomRows(n).array() + dr.colwise() * g.an +
                              Gh.bottomRows(n).array().colwise() * g.r)
                                 .matrix();
  out = (dz.colwise() * (g.h - g.nn) + dn.colwise() * (1 - g.z)).matrix();
}

}  // namespace

void GruCell::jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS, MatRef out) const {
  const GruPoint g = point(t, n_);
  gate_tangent(g, n_, p_->w_ih * dU, p_->w_hh * dS, out);
  out += (dS.array().colwise() * g.z).matrix();
}

void GruCell::weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih, const MatrixXd& dW_hh,
                         MatRef out) const {
  const GruPoint g = point(t, n_);
  gate_tangent(g, n_, weight_tangent(t.s, u, dW_ih, MatrixXd(), 3 * n_), weight_tangent(t.s, u, MatrixXd(), dW_hh, 3 * n_),
               out);
}

namespace {

// Reset before: the tangent of h' from the input-side tangent Gu (3n rows), the recurrent
// r, z rows Gh (2n rows) and the n rows' extra term (W_hn applied to what is not the reset
// gate's own change), without the direct z dh.
void gate_tangent_reset_before(const GruPoint& g, int n, const MatrixXd& W_hn, const MatrixXd& Gu, const MatrixXd& Gh,
                               const MatrixXd& extra_n, MatRef out) {
  const Eigen::ArrayXXd dr = (g.r * (1 - g.r)).matrix().asDiagonal() * (Gu.topRows(n) + Gh.topRows(n));
  const Eigen::ArrayXXd dz =
      (g.z * (1 - g.z)).matrix().asDiagonal() * (Gu.middleRows(n, n) + Gh.bottomRows(n));
  MatrixXd pre_n = Gu.bottomRows(n) + extra_n;
  pre_n.noalias() += W_hn * (dr.colwise() * g.h).matrix();
  const Eigen::ArrayXXd dn = pre_n.array().colwise() * (1 - g.nn.square());
  out = (dz.colwise() * (g.h - g.nn) + dn.colwise() * (1 - g.z)).matrix();
}

}  // namespace

void GruCell::vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const Eigen::ArrayXXd Ga = G.array();
  const Eigen::ArrayXXd pre_n = Ga.colwise() * ((1 - g.z) * (1 - g.nn.square()));
  const Eigen::ArrayXXd pre_z = Ga.colwise() * ((g.h - g.nn) * g.z * (1 - g.z));
  const Eigen::ArrayXXd pre_r = pre_n.colwise() * (g.an * g.r * (1 - g.r));
  MatrixXd C(3 * n, G.cols());
  C << pre_r.matrix(), pre_z.matrix(), pre_n.matrix();
  gU.noalias() = p_->w_ih.transpose() * C;
  C.bottomRows(n) = (pre_n.colwise() * g.r).matrix();
  gS.noalias() = p_->w_hh.transpose() * C;
  gS += (Ga.colwise() * g.z).matrix();
}

void GruCell::jacobian_state(const CellTrace& t, MatRef A) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const auto& W = p_->w_hh;
  A.noalias() = ((g.h - g.nn) * g.z * (1 - g.z)).matrix().asDiagonal() * W.middleRows(n, n);
  const Eigen::ArrayXd cn = (1 - g.z) * (1 - g.nn.square());
  A.noalias() += (cn * g.an * g.r * (1 - g.r)).matrix().asDiagonal() * W.topRows(n);
  A.noalias() += (cn * g.r).matrix().asDiagonal() * W.bottomRows(n);
  A.diagonal() += g.z.matrix();
}

void GruCell::jacobian_input(const CellTrace& t, MatRef B) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const auto& W = p_->w_ih;
  B.noalias() = ((g.h - g.nn) * g.z * (1 - g.z)).matrix().asDiagonal() * W.middleRows(n, n);
  const Eigen::ArrayXd cn = (1 - g.z) * (1 - g.nn.square());
  B.noalias() += (cn * g.an * g.r * (1 - g.r)).matrix().asDiagonal() * W.topRows(n);
  B.noalias() += cn.matrix().asDiagonal() * W.bottomRows(n);
}

// --- reset before ----------------------------------------------------------------------

GruResetBeforeCell::GruResetBeforeCell(const CellParams& p, int hidden, int input)
    : p_(&p), n_(hidden), in_(input) {}

void GruResetBeforeCell::project_input(const ConstMatRef& U, MatRef P) const { project_gru(*p_, U, P); }

void GruResetBeforeCell::step(const ConstMatRef& P, const ConstMatRef& S, MatRef S_new, CellTrace& t) const {
  const int n = n_;
  t.a.resize(3 * n, S.cols());
  t.b.resize(3 * n, S.cols());
  gemm(p_->w_hh.topRows(2 * n), false, S, false, t.a.topRows(2 * n));
  if (p_->b_hh.size() > 0) t.a.topRows(2 * n).colwise() += p_->b_hh.head(2 * n);
  t.b.topRows(2 * n) = sig(P.topRows(2 * n).array() + t.a.topRows(2 * n).array());
  // r * h goes into the n rows of b for the moment, then W_hn (r * h) into a's n rows.
  t.b.bottomRows(n) = t.b.topRows(n).cwiseProduct(S);
  gemm(p_->w_hh.bottomRows(n), false, t.b.bottomRows(n), false, t.a.bottomRows(n));
  if (p_->b_hh.size() > 0) t.a.bottomRows(n).colwise() += p_->b_hh.tail(n);
  t.b.bottomRows(n) = P.bottomRows(n) + t.a.bottomRows(n);
  tanh_inplace(t.b.bottomRows(n));
  combine(t, S, S_new, n);
}

void GruResetBeforeCell::jvp(const CellTrace& t, const ConstMatRef& dU, const ConstMatRef& dS,
                             MatRef out) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const MatrixXd W_hn = p_->w_hh.bottomRows(n);
  gate_tangent_reset_before(g, n, W_hn, p_->w_ih * dU, p_->w_hh.topRows(2 * n) * dS,
                            W_hn * (dS.array().colwise() * g.r).matrix(), out);
  out += (dS.array().colwise() * g.z).matrix();
}

void GruResetBeforeCell::weight_jvp(const CellTrace& t, const ConstMatRef& u, const MatrixXd& dW_ih,
                                    const MatrixXd& dW_hh, MatRef out) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  MatrixXd Gh = MatrixXd::Zero(2 * n, 1), extra_n = MatrixXd::Zero(n, 1);
  if (dW_hh.size() > 0) {
    Gh.noalias() = dW_hh.topRows(2 * n) * t.s;
    extra_n.noalias() = dW_hh.bottomRows(n) * (g.r * g.h).matrix();
  }
  gate_tangent_reset_before(g, n, p_->w_hh.bottomRows(n), weight_tangent(t.s, u, dW_ih, MatrixXd(), 3 * n), Gh, extra_n,
                            out);
}

void GruResetBeforeCell::vjp(const CellTrace& t, const ConstMatRef& G, MatRef gU, MatRef gS) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const Eigen::ArrayXXd Ga = G.array();
  const MatrixXd pre_n = (Ga.colwise() * ((1 - g.z) * (1 - g.nn.square()))).matrix();
  const Eigen::ArrayXXd g_rh = (p_->w_hh.bottomRows(n).transpose() * pre_n).array();
  MatrixXd C(3 * n, G.cols());
  C.topRows(n) = (g_rh.colwise() * (g.h * g.r * (1 - g.r))).matrix();
  C.middleRows(n, n) = (Ga.colwise() * ((g.h - g.nn) * g.z * (1 - g.z))).matrix();
  C.bottomRows(n) = pre_n;
  gU.noalias() = p_->w_ih.transpose() * C;
  gS.noalias() = p_->w_hh.topRows(2 * n).transpose() * C.topRows(2 * n);
  gS += (g_rh.colwise() * g.r + Ga.colwise() * g.z).matrix();
}

void GruResetBeforeCell::jacobian_state(const CellTrace& t, MatRef A) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const auto& W = p_->w_hh;
  // d(r*h)/dh = diag(h r (1-r)) W_hr + diag(r)
  MatrixXd drh = (g.h * g.r * (1 - g.r)).matrix().asDiagonal() * W.topRows(n);
  drh.diagonal() += g.r.matrix();
  A.noalias() = ((1 - g.z) * (1 - g.nn.square())).matrix().asDiagonal() * (W.bottomRows(n) * drh);
  A.noalias() += ((g.h - g.nn) * g.z * (1 - g.z)).matrix().asDiagonal() * W.middleRows(n, n);
  A.diagonal() += g.z.matrix();
}

void GruResetBeforeCell::jacobian_input(const CellTrace& t, MatRef B) const {
  const int n = n_;
  const GruPoint g = point(t, n);
  const auto& W = p_->w_ih;
  const MatrixXd drh = (g.h * g.r * (1 - g.r)).matrix().asDiagonal() * W.topRows(n);
  MatrixXd pre_n = p_->w_hh.bottomRows(n) * drh;
  pre_n += W.bottomRows(n);
  B.noalias() = ((1 - g.z) * (1 - g.nn.square())).matrix().asDiagonal() * pre_n;
  B.noalias() += ((g.h - g.nn) * g.z * (1 - g.z)).matrix().asDiagonal() * W.middleRows(n, n);
}

void GruCell::backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& /*S_new*/, const ConstMatRef& G,
                       MatRef gP, MatRef gS, CellParams& grad, CellTrace& scratch) const {
  const int n = n_;
  const auto r = t.b.topRows(n).array(), z = t.b.middleRows(n, n).array(), nn = t.b.bottomRows(n).array();
  const auto an = t.a.bottomRows(n).array();
  // n's pre-activation, then r and z; scratch.a is the cotangent of W_hh h + b_hh.
  gP.bottomRows(n) = (G.array() * (1.0 - z) * (1.0 - nn.square())).matrix();
  gP.topRows(n) = (gP.bottomRows(n).array() * an * r * (1.0 - r)).matrix();
  gP.middleRows(n, n) = (G.array() * (S.array() - nn) * z * (1.0 - z)).matrix();
  scratch.a.resize(3 * n, G.cols());
  scratch.a.topRows(2 * n) = gP.topRows(2 * n);
  scratch.a.bottomRows(n) = (gP.bottomRows(n).array() * r).matrix();
  gemm(p_->w_hh, true, scratch.a, false, gS);
  gS += (G.array() * z).matrix();
  gemm(scratch.a, false, S, true, grad.w_hh, 1.0, 1.0);
  if (grad.b_hh.size() > 0) grad.b_hh += scratch.a.rowwise().sum();
}

void GruResetBeforeCell::backward(const CellTrace& t, const ConstMatRef& S, const ConstMatRef& /*S_new*/,
                                  const ConstMatRef& G, MatRef gP, MatRef gS, CellParams& grad,
                                  CellTrace& scratch) const {
  const int n = n_;
  const auto r = t.b.topRows(n).array(), z = t.b.middleRows(n, n).array(), nn = t.b.bottomRows(n).array();
  gP.bottomRows(n) = (G.array() * (1.0 - z) * (1.0 - nn.square())).matrix();
  // scratch.a: the cotangent of r * h; scratch.b: r * h itself (what W_hn multiplied).
  scratch.a.resize(n, G.cols());
  gemm(p_->w_hh.bottomRows(n), true, gP.bottomRows(n), false, scratch.a);
  gP.topRows(n) = (scratch.a.array() * S.array() * r * (1.0 - r)).matrix();
  gP.middleRows(n, n) = (G.array() * (S.array() - nn) * z * (1.0 - z)).matrix();
  gemm(p_->w_hh.topRows(2 * n), true, gP.topRows(2 * n), false, gS);
  gS += (scratch.a.array() * r + G.array() * z).matrix();
  scratch.b = (r * S.array()).matrix();
  gemm(gP.topRows(2 * n), false, S, true, grad.w_hh.topRows(2 * n), 1.0, 1.0);
  gemm(gP.bottomRows(n), false, scratch.b, true, grad.w_hh.bottomRows(n), 1.0, 1.0);
  if (grad.b_hh.size() > 0) grad.b_hh += gP.rowwise().sum();
}

}  // namespace stackdyn
