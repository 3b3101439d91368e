// Levenberg-Marquardt for one start, shared by the whole-system search and the
// hierarchical search's per-layer subproblems (internal to the analysis module).
#pragma once
#include <stackdyn/analysis/fixed_points.hpp>

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>

namespace stackdyn::detail {

// Levenberg-Marquardt on a least-squares problem P, which keeps two evaluation points (the
// current one and a trial) so that an accepted trial's evaluation also serves its Jacobian:
//   p.evaluate(s, r, trial)   r = r(s), remembered as the trial point or as the current one
//   p.accept()                the trial point becomes the current one
//   p.jacobian(J)             J = dr/ds at the current point
// The buffers live in LmBuffers (one per thread): after the first start of a given size an
// iteration allocates nothing.
struct LmBuffers {
  MatrixXd J, A, M;
  VectorXd g, scale, d, s_try, r_try;
  Eigen::LLT<MatrixXd> llt;
};

template <class Problem>
StartResult levenberg_marquardt(const Eigen::Ref<const VectorXd>& s0, const FinderOptions& o, Problem& p,
                                LmBuffers& b) {
  const Eigen::Index n = s0.size();
  StartResult out;
  out.initial = s0;
  VectorXd s = s0, r(n);
  b.J.resize(n, n);
  b.r_try.resize(n);
  p.evaluate(s, r, false);
  double q = 0.5 * r.squaredNorm();
  double mu = 1e-6;       // relative to the diagonal of J^T J (Marquardt's scaling)
  double radius = 1.0;    // trust radius: no step longer than this, adapted as steps succeed or fail
  int polish = -1;        // Newton steps still to take once q < q_tol (-1: not there yet)
  out.status = StartStatus::CapReached;
  int it = 0;
  for (;; ++it) {
    if (!std::isfinite(q) || !s.allFinite() || s.lpNorm<Eigen::Infinity>() > o.divergence_bound) {
      out.status = StartStatus::Diverged;
      break;
    }
    if (q < o.q_tol) {
      out.status = StartStatus::Converged;
      // A couple more steps cost little and take an isolated root (quadratic convergence)
      // far below the tolerance; a near-neutral slow region does not improve.
      if (polish < 0) polish = o.polish_steps;
      if (polish-- == 0 || q == 0) break;
    }
    if (it >= o.max_iters) break;
    p.jacobian(b.J);
    // A NaN or Inf in J makes every trial step NaN: rejected until mu gives up, which would
    // read as a slow point. The start has left the region where the model is finite.
    if (!b.J.allFinite()) {
      out.status = StartStatus::Diverged;
      break;
    }
    // J^T J: its lower triangle is all the Cholesky factorisation reads
    b.A.setZero(n, n);
    b.A.selfadjointView<Eigen::Lower>().rankUpdate(b.J.transpose());
    b.g.noalias() = b.J.transpose() * r;
    b.scale = b.A.diagonal().cwiseMax(1e-12 * std::max(1.0, b.A.diagonal().maxCoeff()));
    bool accepted = false;
    double step_norm = 0;
    while (mu < 1e16) {
      b.M = b.A;
      b.M.diagonal() += mu * b.scale;
      b.llt.compute(b.M);  // positive definite for mu > 0, up to rounding
      if (b.llt.info() != Eigen::Success) {
        mu *= 10;
        continue;
      }
      b.d = b.llt.solve(b.g);
      b.d = -b.d;
      step_norm = b.d.norm();
      if (step_norm > radius) {
        b.d *= radius / step_norm;
        step_norm = radius;
      }
      b.s_try = s + b.d;
      p.evaluate(b.s_try, b.r_try, true);
      const double q_try = 0.5 * b.r_try.squaredNorm();
      if (std::isfinite(q_try) && q_try < q) {
        s.swap(b.s_try);
        r.swap(b.r_try);
        p.accept();
        q = q_try;
        mu = std::max(mu * 0.1, 1e-15);
        radius = std::min(std::max(radius, 2 * step_norm), 10.0);
        accepted = true;
        break;
      }
      mu *= 10;
      radius = std::max(0.5 * step_norm, 1e-12);
      if (step_norm <= o.step_tol * (1.0 + s.norm())) break;
    }
    if (!accepted || step_norm <= o.step_tol * (1.0 + s.norm())) {
      out.status = q < o.q_tol ? StartStatus::Converged : StartStatus::SlowPoint;
      ++it;
      break;
    }
  }
  out.state = std::move(s);
  out.q = q;
  out.iterations = it;
  return out;
}

// A subproblem given as functions: r = res(s), J = jac(s).
template <class Res, class Jac>
struct FunctionProblem {
  Res res;
  Jac jac;
  VectorXd current, trial;
  void evaluate(const VectorXd& s, VectorXd& r, bool is_trial) {
    r = res(s);
    (is_trial ? trial : current) = s;
  }
  void accept() { current.swap(trial); }
  void jacobian(MatrixXd& J) { J = jac(current); }
};

}  // namespace stackdyn::detail
