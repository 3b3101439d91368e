// The finder's solvers for one start (lm, hybrid, adam) and the parallel run over all
// starts (see fixed_points.hpp).
#include "levenberg_marquardt.hpp"
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/parallel.hpp>

#include <unsupported/Eigen/NonLinearOptimization>

#include <algorithm>
#include <cmath>
#include <limits>

namespace stackdyn {

namespace {

using detail::levenberg_marquardt;
using detail::LmBuffers;

// The whole system's residual, through two reusable linearisations (no allocation per call).
struct SystemProblem {
  const FixedPointSystem& sys;
  FixedPointSystem::Linearization current, trial;
  void evaluate(const VectorXd& s, VectorXd& r, bool is_trial) {
    FixedPointSystem::Linearization& lin = is_trial ? trial : current;
    sys.linearize(s, lin);
    sys.residual(lin, r);
  }
  void accept() { std::swap(current, trial); }
  void jacobian(MatrixXd& J) { sys.jacobian(current, J); }
};

// MINPACK's hybrj through Eigen: the functor computes r and dr/ds.
struct HybridFunctor {
  const FixedPointSystem* sys;
  int operator()(const VectorXd& x, VectorXd& f) const {
    f.resize(x.size());
    sys->residual(x, f);
    return f.allFinite() ? 0 : -1;
  }
  int df(const VectorXd& x, MatrixXd& J) const {
    J = sys->jacobian(sys->linearize(x));
    return J.allFinite() ? 0 : -1;
  }
};

StartResult hybrid(const FixedPointSystem& sys, const Eigen::Ref<const VectorXd>& s0, const FinderOptions& o) {
  StartResult out;
  out.initial = s0;
  HybridFunctor fn{&sys};
  Eigen::HybridNonLinearSolver<HybridFunctor> solver(fn);
  solver.parameters.xtol = std::max(o.step_tol, std::numeric_limits<double>::epsilon());
  solver.parameters.maxfev = 1000L * o.max_iters;
  VectorXd s = s0;
  auto status = solver.solveInit(s);
  int it = 0;
  double q = solver.fvec.size() ? 0.5 * solver.fvec.squaredNorm() : std::numeric_limits<double>::infinity();
  out.status = StartStatus::CapReached;
  while (true) {
    if (!std::isfinite(q) || !s.allFinite() || s.lpNorm<Eigen::Infinity>() > o.divergence_bound ||
        status == Eigen::HybridNonLinearSolverSpace::UserAsked) {
      out.status = StartStatus::Diverged;
      break;
    }
    if (q < o.q_tol) {
      out.status = StartStatus::Converged;
      break;
    }
    if (status != Eigen::HybridNonLinearSolverSpace::Running) {
      out.status = StartStatus::SlowPoint;
      break;
    }
    if (it >= o.max_iters) break;
    status = solver.solveOneStep(s);
    q = 0.5 * solver.fvec.squaredNorm();
    ++it;
  }
  out.state = s;
  out.q = 0.5 * solver.fvec.squaredNorm();
  if (!std::isfinite(out.q)) out.q = std::numeric_limits<double>::infinity();
  out.iterations = it;
  return out;
}

// Adam on q with FixedPointFinder's adaptive learning rate (initial 1.0, x0.95 after an
// increase of q, x1/0.95 after 5 steps of steady decrease, floor 1e-3) and epsilon 0.01.
template <class QGrad>
StartResult adam(const Eigen::Ref<const VectorXd>& s0, const FinderOptions& o, QGrad q_and_grad) {
  StartResult out;
  out.initial = s0;
  VectorXd s = s0, m = VectorXd::Zero(s.size()), v = VectorXd::Zero(s.size()), g(s.size());
  double lr = o.adam_lr, q_prev = std::numeric_limits<double>::infinity(), q = 0;
  int improving = 0, since_decrease = 0;
  double b1t = 1, b2t = 1;
  out.status = StartStatus::CapReached;
  int it = 0;
  for (;; ++it) {
    q = q_and_grad(s, g);
    if (!std::isfinite(q) || !s.allFinite() || s.lpNorm<Eigen::Infinity>() > o.divergence_bound) {
      out.status = StartStatus::Diverged;
      break;
    }
    if (q < o.q_tol) {
      out.status = StartStatus::Converged;
      break;
    }
    if (std::abs(q - q_prev) < o.dq_tol) {
      out.status = StartStatus::SlowPoint;
      break;
    }
    if (it >= o.max_iters) break;
    ++since_decrease;
    if (q > q_prev) {
      improving = 0;
      if (since_decrease >= 5) {
        lr = std::max(lr * 0.95, 1e-3);
        since_decrease = 0;
      }
    } else if (++improving >= 5) {
      lr /= 0.95;
      improving = 0;
    }
    q_prev = q;
    b1t *= o.adam_beta1;
    b2t *= o.adam_beta2;
    m = o.adam_beta1 * m + (1 - o.adam_beta1) * g;
    v = o.adam_beta2 * v + (1 - o.adam_beta2) * g.cwiseAbs2();
    s.array() -= lr * (m.array() / (1 - b1t)) / ((v.array() / (1 - b2t)).sqrt() + o.adam_epsilon);
  }
  out.state = s;
  out.q = q;
  out.iterations = it;
  return out;
}

// The work of one thread: its buffers, reused from start to start.
class StartWorker {
 public:
  StartWorker(const FixedPointSystem& sys, const FinderOptions& o) : sys_(sys), o_(o), problem_{sys, {}, {}} {}

  StartResult run(const Eigen::Ref<const VectorXd>& s0) {
    StartResult r;
    switch (o_.method) {
      case FinderMethod::LevenbergMarquardt: r = levenberg_marquardt(s0, o_, problem_, buffers_); break;
      case FinderMethod::Hybrid: r = hybrid(sys_, s0, o_); break;
      case FinderMethod::Adam:
        r = adam(s0, o_, [&](const VectorXd& s, VectorXd& g) {
          if (!s.allFinite()) return std::numeric_limits<double>::infinity();
          sys_.linearize(s, problem_.current);
          g = sys_.gradient(problem_.current);
          return 0.5 * sys_.residual(problem_.current).squaredNorm();
        });
        break;
    }
    if (!std::isfinite(r.q)) r.q = std::numeric_limits<double>::infinity();
    return r;
  }

 private:
  const FixedPointSystem& sys_;
  const FinderOptions& o_;
  SystemProblem problem_;
  LmBuffers buffers_;
};

}  // namespace

StartResult run_start(const FixedPointSystem& sys, const Eigen::Ref<const VectorXd>& s0, const FinderOptions& o) {
  return StartWorker(sys, o).run(s0);
}

std::vector<StartResult> run_starts(const FixedPointSystem& sys, const ConstMatRef& starts, const FinderOptions& o) {
  o.validate("fixed-point search");
  const auto n = static_cast<std::size_t>(starts.cols());
  std::vector<StartResult> out(n);
  // One worker per thread, each taking the next start until none is left.
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(o.threads > 0 ? o.threads : default_threads()), n);
  std::atomic<std::size_t> next{0};
  parallel_for(workers, static_cast<int>(workers), [&](std::size_t) {
    StartWorker w(sys, o);
    for (std::size_t i; (i = next.fetch_add(1)) < n;) out[i] = w.run(starts.col(static_cast<Eigen::Index>(i)));
  });
  return out;
}

}  // namespace stackdyn
