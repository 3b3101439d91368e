// Eigen-analysis of the Jacobian of the dynamics (see eigen_analysis.hpp).
#include <stackdyn/eigen_analysis.hpp>
#include <stackdyn/error.hpp>

#include <Spectra/GenEigsSolver.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

namespace stackdyn {

using Eigen::MatrixXcd;
using Eigen::VectorXcd;

std::string_view eigen_method_name(EigenMethod m) {
  switch (m) {
    case EigenMethod::Auto: return "auto";
    case EigenMethod::Full: return "full";
    case EigenMethod::Block: return "block";
    case EigenMethod::Spectra: return "spectra";
  }
  return "?";
}

EigenMethod parse_eigen_method(std::string_view name, std::string_view where) {
  for (auto m : {EigenMethod::Auto, EigenMethod::Full, EigenMethod::Block, EigenMethod::Spectra})
    if (name == eigen_method_name(m)) return m;
  throw InputError(std::string(where) + ": unknown eigen method '" + std::string(name) +
                   "', expected auto, full, block or spectra");
}

std::string_view eigen_order_name(EigenOrder w) { return w == EigenOrder::LargestMagnitude ? "magnitude" : "real"; }

EigenOrder parse_eigen_order(std::string_view name, std::string_view where) {
  if (name == "magnitude") return EigenOrder::LargestMagnitude;
  if (name == "real") return EigenOrder::LargestReal;
  throw InputError(std::string(where) + ": unknown order '" + std::string(name) + "', expected magnitude or real");
}

std::vector<int> eigen_order(const VectorXcd& lambda, EigenOrder which) {
  std::vector<int> idx(static_cast<std::size_t>(lambda.size()));
  std::iota(idx.begin(), idx.end(), 0);
  auto key = [&](int i) { return which == EigenOrder::LargestMagnitude ? std::abs(lambda[i]) : lambda[i].real(); };
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    const double ka = key(a), kb = key(b);
    // equal up to rounding (conjugate pairs): the positive imaginary part first
    if (std::abs(ka - kb) > 1e-12 * std::max(1.0, std::abs(ka))) return ka > kb;
    return lambda[a].imag() > lambda[b].imag();
  });
  return idx;
}

int count_unstable(const VectorXcd& lambda, TimeView view) {
  int n = 0;
  for (const auto& l : lambda)
    n += view == TimeView::Discrete ? std::abs(l) > 1 + 1e-12 : l.real() > 1e-12;
  return n;
}

void timescales(const VectorXcd& lambda, TimeView view, Eigen::VectorXd& tau, Eigen::VectorXd& period) {
  const double inf = std::numeric_limits<double>::infinity();
  tau.resize(lambda.size());
  period.resize(lambda.size());
  for (Eigen::Index i = 0; i < lambda.size(); ++i) {
    const auto l = lambda[i];
    if (view == TimeView::Discrete) {
      const double m = std::abs(l), a = std::abs(std::arg(l));
      tau[i] = m == 1 ? inf : m == 0 ? 0.0 : -1.0 / std::log(m);
      period[i] = a == 0 ? inf : 2 * std::numbers::pi / a;
    } else {
      tau[i] = l.real() == 0 ? inf : -1.0 / l.real();
      period[i] = l.imag() == 0 ? inf : 2 * std::numbers::pi / std::abs(l.imag());
    }
  }
}

void JacobianOp::perform_op(const double* x_in, double* y_out) const {
  const Eigen::Map<const VectorXd> x(x_in, rows());
  Eigen::Map<VectorXd> y(y_out, rows());
  VectorXd out(rows());
  if (transpose_)
    sys_->dynamics_vjp(*lin_, x, out);
  else
    sys_->dynamics_jvp(*lin_, x, out);
  y = out;
}

namespace {

void finish(Spectrum& sp, TimeView view) {
  sp.n_unstable = count_unstable(sp.eigenvalues, view);
  timescales(sp.eigenvalues, view, sp.timescales, sp.periods);
}

VectorXcd sorted(const VectorXcd& v, EigenOrder which) {
  const auto idx = eigen_order(v, which);
  VectorXcd out(v.size());
  for (std::size_t i = 0; i < idx.size(); ++i) out[static_cast<Eigen::Index>(i)] = v[idx[i]];
  return out;
}

void block_spectra(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, EigenOrder which,
                   Spectrum& sp) {
  sp.block_eigenvalues.clear();
  for (int l = 0; l < sys.stack().num_layers(); ++l) {
    Eigen::EigenSolver<MatrixXd> es(sys.dynamics_block(lin, l), false);
    sp.block_eigenvalues.push_back(sorted(es.eigenvalues(), which));
  }
}

void full_solve(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                Spectrum& sp) {
  const MatrixXd J = sys.dynamics_jacobian(lin);
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(J.rows()));
  Eigen::EigenSolver<MatrixXd> es(J, nv > 0);
  if (es.info() != Eigen::Success) throw RunError("the dense eigen-solve did not converge");
  const VectorXcd lambda = es.eigenvalues();
  const auto idx = eigen_order(lambda, o.which);
  sp.eigenvalues.resize(lambda.size());
  for (std::size_t i = 0; i < idx.size(); ++i) sp.eigenvalues[static_cast<Eigen::Index>(i)] = lambda[idx[i]];
  if (nv > 0) {
    const MatrixXcd V = es.eigenvectors();
    const MatrixXcd W = V.partialPivLu().inverse();  // rows: left eigenvectors, W V = I
    sp.right.resize(J.rows(), nv);
    sp.left.resize(J.rows(), nv);
    for (int i = 0; i < nv; ++i) {
      const double nrm = V.col(idx[static_cast<std::size_t>(i)]).norm();
      sp.right.col(i) = V.col(idx[static_cast<std::size_t>(i)]) / nrm;
      sp.left.col(i) = W.row(idx[static_cast<std::size_t>(i)]).transpose() * nrm;
    }
  }
}

template <class Op>
bool spectra_top(Op& op, int k, EigenOrder which, const EigenOptions& o, VectorXcd& vals, MatrixXcd& vecs,
                 int& converged) {
  const int N = static_cast<int>(op.rows());
  const int ncv = std::min(N, o.spectra_ncv > 0 ? std::max(o.spectra_ncv, k + 2) : std::max(5 * k, k + 40));
  Spectra::GenEigsSolver<Op> eigs(op, k, ncv);
  eigs.init();
  const auto rule = which == EigenOrder::LargestMagnitude ? Spectra::SortRule::LargestMagn : Spectra::SortRule::LargestReal;
  converged = static_cast<int>(eigs.compute(rule, o.spectra_max_iters, o.spectra_tol, rule));
  if (converged == 0) return false;
  vals = eigs.eigenvalues();
  vecs = eigs.eigenvectors();
  return true;
}

void spectra_solve(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                   Spectrum& sp) {
  const int N = sys.dim();
  const int k = std::clamp(o.top_k, 1, N - 2);
  JacobianOp op(sys, lin, false);
  VectorXcd vals;
  MatrixXcd vecs;
  spectra_top(op, k, o.which, o, vals, vecs, sp.converged);
  const auto idx = eigen_order(vals, o.which);
  sp.eigenvalues.resize(vals.size());
  for (std::size_t i = 0; i < idx.size(); ++i) sp.eigenvalues[static_cast<Eigen::Index>(i)] = vals[idx[i]];
  sp.complete = false;
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(vals.size()));
  if (nv <= 0) return;
  JacobianOp opT(sys, lin, true);
  VectorXcd lvals;
  MatrixXcd lvecs;
  int lconv = 0;
  const bool have_left = spectra_top(opT, k, o.which, o, lvals, lvecs, lconv);
  sp.right.resize(N, nv);
  sp.left = MatrixXcd::Zero(N, nv);
  for (int i = 0; i < nv; ++i) {
    const VectorXcd v = vecs.col(idx[static_cast<std::size_t>(i)]).normalized();
    sp.right.col(i) = v;
    if (!have_left) continue;
    // the left eigenvector of the same eigenvalue: the nearest among J^T's
    Eigen::Index best = 0;
    (lvals.array() - sp.eigenvalues[i]).abs().minCoeff(&best);
    VectorXcd w = lvecs.col(best);
    const std::complex<double> c = w.transpose() * v;
    if (std::abs(c) > 1e-300) sp.left.col(i) = w / c;
  }
}

}  // namespace

Spectrum analyse_spectrum(const FixedPointSystem& sys, const Eigen::Ref<const VectorXd>& s, const EigenOptions& o) {
  if (s.size() != sys.dim())
    throw InputError("state has " + std::to_string(s.size()) + " values, expected state_dim = " +
                     std::to_string(sys.dim()));
  if (!s.allFinite()) throw InputError("state holds non-finite values; expected finite numbers");
  const auto lin = sys.linearize(s);
  Spectrum sp;
  EigenMethod m = o.method;
  if (m == EigenMethod::Auto) m = sys.dim() <= o.full_limit ? EigenMethod::Full : EigenMethod::Spectra;
  if (m == EigenMethod::Spectra && sys.dim() < o.top_k + 3) m = EigenMethod::Full;  // too small for Arnoldi
  sp.method = m;
  if (m == EigenMethod::Full || m == EigenMethod::Block || (o.block_spectra && sys.dim() <= o.full_limit))
    block_spectra(sys, lin, o.which, sp);
  switch (m) {
    case EigenMethod::Full: full_solve(sys, lin, o, sp); break;
    case EigenMethod::Block: {
      Eigen::Index n = 0;
      for (const auto& b : sp.block_eigenvalues) n += b.size();
      VectorXcd all(n);
      n = 0;
      for (const auto& b : sp.block_eigenvalues) {
        all.segment(n, b.size()) = b;
        n += b.size();
      }
      sp.eigenvalues = sorted(all, o.which);
      break;
    }
    case EigenMethod::Spectra: spectra_solve(sys, lin, o, sp); break;
    case EigenMethod::Auto: break;
  }
  finish(sp, sys.view());
  return sp;
}

}  // namespace stackdyn
