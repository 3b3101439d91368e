// Fixed-point and slow-point search (see fixed_points.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/parallel.hpp>
#include <stackdyn/core/random.hpp>

#include <unsupported/Eigen/NonLinearOptimization>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <numeric>

namespace stackdyn {

std::string_view time_view_name(TimeView v) { return v == TimeView::Discrete ? "discrete" : "continuous"; }

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
    throw InputError(w + ": " + what + " must be " + expected + ", got " + std::to_string(got));
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
      throw InputError("tau must be finite and > 0, got " + std::to_string(t));
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

// --- one start -------------------------------------------------------------------------

namespace {

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

// --- unique points ---------------------------------------------------------------------

UniqueResult unique_points(const std::vector<StartResult>& starts, const UniqueOptions& o, const ConstMatRef& seeds) {
  std::vector<int> order;
  for (std::size_t i = 0; i < starts.size(); ++i) {
    const auto st = starts[i].status;
    if (st == StartStatus::Converged || (o.include_slow && st == StartStatus::SlowPoint))
      order.push_back(static_cast<int>(i));
  }
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return starts[a].q < starts[b].q; });
  UniqueResult res;
  for (int i : order) {
    bool merged = false;
    for (auto& u : res.points)
      if ((u.state - starts[i].state).norm() < o.tol) {
        ++u.count;
        merged = true;
        break;
      }
    if (!merged) res.points.push_back({starts[i].state, starts[i].q, 1, i});
  }
  if (o.outlier_distance_scale > 0 && seeds.cols() > 0) {
    const VectorXd c = seeds.rowwise().mean();
    const double radius = (seeds.colwise() - c).colwise().norm().maxCoeff();
    const auto before = res.points.size();
    std::erase_if(res.points,
                  [&](const UniquePoint& u) { return (u.state - c).norm() > o.outlier_distance_scale * radius; });
    res.outliers_removed = static_cast<int>(before - res.points.size());
  }
  return res;
}

// --- hierarchical mode -----------------------------------------------------------------

HierarchicalResult find_hierarchical(const FixedPointSystem& sys, const ConstMatRef& starts,
                                     const HierarchicalOptions& o) {
  o.finder.validate("hierarchical fixed-point search");
  const Stack& st = sys.stack();
  const int L = st.num_layers(), N = st.state_dim();
  HierarchicalResult res;
  // Branches of the level below: node index and the full state with the layers so far set.
  struct Branch {
    int node;
    VectorXd full;
  };
  std::vector<Branch> below{{-1, VectorXd::Zero(N)}};
  for (int l = 0; l < L; ++l) {
    const auto& sl = st.slices()[static_cast<std::size_t>(l)];
    std::vector<Branch> next;
    for (const Branch& b : below) {
      // The layer's own residual with the layers below held at their fixed point: it
      // depends only on s^(<=l), and its Jacobian is the diagonal block minus I (scaled).
      auto layer_residual = [&](const VectorXd& sl_state) {
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = sl_state;
        VectorXd r(N);
        sys.residual(full, r);
        return VectorXd(r.segment(sl.offset, sl.size));
      };
      auto layer_jacobian = [&](const VectorXd& sl_state) {
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = sl_state;
        MatrixXd A = sys.dynamics_block(sys.linearize(full), l);
        if (sys.view() == TimeView::Discrete) A.diagonal().array() -= 1.0;
        return A;
      };
      const int n = std::min<int>(o.starts_per_layer, static_cast<int>(starts.cols()));
      std::vector<StartResult> runs(static_cast<std::size_t>(n));
      FinderOptions fo = o.finder;
      if (fo.method != FinderMethod::LevenbergMarquardt) fo.method = FinderMethod::LevenbergMarquardt;
      parallel_for(runs.size(), fo.threads, [&](std::size_t i) {
        FunctionProblem<decltype(layer_residual), decltype(layer_jacobian)> p{layer_residual, layer_jacobian, {}, {}};
        LmBuffers buffers;
        runs[i] = levenberg_marquardt(starts.col(static_cast<Eigen::Index>(i)).segment(sl.offset, sl.size), fo, p,
                                      buffers);
      });
      UniqueOptions uo = o.unique;
      uo.outlier_distance_scale = 0;
      const UniqueResult u = unique_points(runs, uo, MatrixXd());
      for (const auto& p : u.points) {
        if (static_cast<int>(next.size()) >= o.max_combinations) {
          res.capped = true;
          break;
        }
        HierarchyNode node{l, b.node, p.state, p.q, p.count};
        res.nodes.push_back(node);
        VectorXd full = b.full;
        full.segment(sl.offset, sl.size) = p.state;
        next.push_back({static_cast<int>(res.nodes.size()) - 1, full});
      }
    }
    below = std::move(next);
  }
  for (const Branch& b : below) {
    res.leaves.push_back(b.node);
    res.full_states.push_back(b.full);
  }
  return res;
}

}  // namespace stackdyn
