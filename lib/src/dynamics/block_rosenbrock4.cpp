// The block-triangular Rosenbrock stepper (see block_rosenbrock4.hpp). do_step and try_step
// follow odeint's rosenbrock4::do_step and rosenbrock4_controller::try_step line for line.
#include "block_rosenbrock4.hpp"

#include "cascade_layer.hpp"
#include "rodas_coefficients.hpp"

#include <algorithm>
#include <cmath>

namespace stackdyn::detail {
namespace {
const RodasCoefficients kC;
}

template <class System>
BlockRosenbrock4<System>::BlockRosenbrock4(System& sys, const std::vector<StateSlice>& slices, double atol,
                                           double rtol, const Eigen::VectorXd& s0)
    : sys_(&sys), atol_(atol), rtol_(rtol), N_(sys.state_dim()), B_(sys.batch()), slices_(slices), J_(static_cast<std::size_t>(B_)),
      lu_(static_cast<std::size_t>(B_) * slices_.size()), x_(s0) {
  const Eigen::Index n = x_.size();
  for (Eigen::VectorXd* v : {&x_old_, &x_new_, &dxdt_, &dfdt_, &dxdt_new_, &xtmp_, &xerr_, &g1_, &g2_, &g3_, &g4_,
                             &g5_, &cont3_, &cont4_})
    v->setZero(n);
  dfdt_b_.resize(N_);
  int widest = 0;
  for (const StateSlice& sl : slices_) widest = std::max(widest, sl.size);
  tmp_.resize(widest);
}

template <class System>
void BlockRosenbrock4<System>::factor(double t, double dt) {
  const double shift = 1.0 / (kC.gamma * dt);
  for (int b = 0; b < B_; ++b) {
    sys_->jacobian(x_.segment(static_cast<Eigen::Index>(b) * N_, N_), t, b, J_[b], &dfdt_b_, false);
    dfdt_.segment(static_cast<Eigen::Index>(b) * N_, N_) = dfdt_b_;
    for (std::size_t l = 0; l < slices_.size(); ++l) {
      const StateSlice& sl = slices_[l];
      lu_[static_cast<std::size_t>(b) * slices_.size() + l].compute(
          shift * Eigen::MatrixXd::Identity(sl.size, sl.size) - J_[b].block(sl.offset, sl.offset, sl.size, sl.size));
    }
  }
  sys_->count_jacobian_evaluation();
}

// g <- (I/(gamma h) - J)^{-1} g: per sample, forward substitution through the layers. The
// blocks left of the diagonal are -J_lk, so layer l's right-hand side gains J_lk g_k.
template <class System>
void BlockRosenbrock4<System>::solve(Eigen::VectorXd& g) {
  for (int b = 0; b < B_; ++b) {
    auto gb = g.segment(static_cast<Eigen::Index>(b) * N_, N_);
    for (std::size_t l = 0; l < slices_.size(); ++l) {
      const StateSlice& sl = slices_[l];
      auto gl = gb.segment(sl.offset, sl.size);
      if (sl.offset > 0) gl.noalias() += J_[b].block(sl.offset, 0, sl.size, sl.offset) * gb.head(sl.offset);
      auto t = tmp_.head(sl.size);
      t.noalias() = lu_[static_cast<std::size_t>(b) * slices_.size() + l].solve(gl);
      gl = t;
    }
  }
}

template <class System>
void BlockRosenbrock4<System>::do_step(double t, double dt) {
  const ContinuousSystem::State& x = x_;
  (*sys_)(x, dxdt_, t);
  factor(t, dt);

  g1_ = dxdt_ + dt * kC.d1 * dfdt_;
  solve(g1_);

  xtmp_ = x + kC.a21 * g1_;
  (*sys_)(xtmp_, dxdt_new_, t + kC.c2 * dt);
  g2_ = dxdt_new_ + dt * kC.d2 * dfdt_ + (kC.c21 / dt) * g1_;
  solve(g2_);

  xtmp_ = x + kC.a31 * g1_ + kC.a32 * g2_;
  (*sys_)(xtmp_, dxdt_new_, t + kC.c3 * dt);
  g3_ = dxdt_new_ + dt * kC.d3 * dfdt_ + (kC.c31 / dt) * g1_ + (kC.c32 / dt) * g2_;
  solve(g3_);

  xtmp_ = x + kC.a41 * g1_ + kC.a42 * g2_ + kC.a43 * g3_;
  (*sys_)(xtmp_, dxdt_new_, t + kC.c4 * dt);
  g4_ = dxdt_new_ + dt * kC.d4 * dfdt_ + (kC.c41 / dt) * g1_ + (kC.c42 / dt) * g2_ + (kC.c43 / dt) * g3_;
  solve(g4_);

  xtmp_ = x + kC.a51 * g1_ + kC.a52 * g2_ + kC.a53 * g3_ + kC.a54 * g4_;
  (*sys_)(xtmp_, dxdt_new_, t + dt);
  g5_ = dxdt_new_ + (kC.c51 / dt) * g1_ + (kC.c52 / dt) * g2_ + (kC.c53 / dt) * g3_ + (kC.c54 / dt) * g4_;
  solve(g5_);

  xtmp_ += g5_;
  (*sys_)(xtmp_, dxdt_new_, t + dt);
  xerr_ = dxdt_new_ + (kC.c61 / dt) * g1_ + (kC.c62 / dt) * g2_ + (kC.c63 / dt) * g3_ + (kC.c64 / dt) * g4_ +
          (kC.c65 / dt) * g5_;
  solve(xerr_);
  x_new_ = xtmp_ + xerr_;
}

// odeint's rosenbrock4_controller::error: RMS of err_i / (atol + rtol max(|x_old,i|, |x_i|)).
// With an input error e (the cascade), each term gains min(e / sk_i, cap).
template <class System>
double BlockRosenbrock4<System>::error() const {
  const auto sk = atol_ + rtol_ * x_.cwiseAbs().cwiseMax(x_new_.cwiseAbs()).array();
  if (input_error_ == 0)
    return std::sqrt((xerr_.array() / sk).square().sum() / static_cast<double>(x_.size()));
  last_capped_ = (input_error_ / sk > input_cap_).any();
  const auto r = xerr_.array().abs() / sk + (input_error_ / sk).min(input_cap_);
  return std::sqrt(r.square().sum() / static_cast<double>(x_.size()));
}

template <class System>
bool BlockRosenbrock4<System>::try_step(double& t, double& dt) {
  constexpr double safe = 0.9, fac1 = 5.0, fac2 = 1.0 / 6.0;
  do_step(t, dt);
  const double err = error();
  double fac = std::max(fac2, std::min(fac1, std::pow(err, 0.25) / safe));
  double dt_new = dt / fac;
  if (!(err <= 1.0)) {
    dt = dt_new;
    last_rejected_ = true;
    return false;
  }
  if (first_step_) {
    first_step_ = false;
  } else {
    double fac_pred = (dt_old_ / dt) * std::pow(err * err / err_old_, 0.25) / safe;
    fac_pred = std::max(fac2, std::min(fac1, fac_pred));
    fac = std::max(fac, fac_pred);
    dt_new = dt / fac;
  }
  if (input_error_ > 0 && last_capped_) ++capped_;
  dt_old_ = dt;
  err_old_ = std::max(0.01, err);
  if (last_rejected_) dt_new = std::min(dt_new, dt);
  // The step is accepted: odeint's prepare_dense_output, then the state moves on.
  cont3_ = kC.d21 * g1_ + kC.d22 * g2_ + kC.d23 * g3_ + kC.d24 * g4_ + kC.d25 * g5_;
  cont4_ = kC.d31 * g1_ + kC.d32 * g2_ + kC.d33 * g3_ + kC.d34 * g4_ + kC.d35 * g5_;
  x_old_.swap(x_);
  x_.swap(x_new_);
  t_old_ = t;
  t += dt;
  t_new_ = t;
  dt = dt_new;
  last_rejected_ = false;
  return true;
}

template <class System>
void BlockRosenbrock4<System>::dense(double t, Eigen::VectorXd& out) const {
  const double s = (t - t_old_) / (t_new_ - t_old_), s1 = 1.0 - s;
  out = x_old_ * s1 + s * (x_ + s1 * (cont3_ + s * cont4_));
}

// out = x_old (1-s) + s (x + (1-s)(cont3 + s cont4)), expanded in powers of s.
template <class System>
void BlockRosenbrock4<System>::dense_coefficients(Eigen::VectorXd& c0, Eigen::VectorXd& c1, Eigen::VectorXd& c2,
                                                  Eigen::VectorXd& c3) const {
  c0 = x_old_;
  c1 = x_ - x_old_ + cont3_;
  c2 = cont4_ - cont3_;
  c3 = -cont4_;
}

template class BlockRosenbrock4<ContinuousSystem>;
template class BlockRosenbrock4<LayerSystem>;

}  // namespace stackdyn::detail
