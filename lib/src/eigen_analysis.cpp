// Eigen-analysis of the Jacobian of the dynamics (see eigen_analysis.hpp).
#include <stackdyn/eigen_analysis.hpp>
#include <stackdyn/error.hpp>

#include <Spectra/GenEigsSolver.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>

// LAPACK (Debian's liblapack3 interface, OpenBLAS's implementation): the general real
// eigenproblem. Fortran calling convention: everything by pointer, column-major, the two
// hidden lengths of the character arguments last (gfortran passes them as size_t).
extern "C" void dgeev_(const char* jobvl, const char* jobvr, const int* n, double* a, const int* lda, double* wr,
                       double* wi, double* vl, const int* ldvl, double* vr, const int* ldvr, double* work,
                       const int* lwork, int* info, std::size_t jobvl_len, std::size_t jobvr_len);
// LU solve of a complex system (OpenBLAS's is blocked and threaded: several times Eigen's).
extern "C" void zgesv_(const int* n, const int* nrhs, std::complex<double>* a, const int* lda, int* ipiv,
                       std::complex<double>* b, const int* ldb, int* info);

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

DenseEigen dense_eigen(const Eigen::Ref<const MatrixXd>& A, bool vectors) {
  if (A.rows() != A.cols()) throw InputError("dense_eigen: the matrix must be square");
  if (A.rows() > std::numeric_limits<int>::max() / std::max<Eigen::Index>(A.rows(), 1))
    throw InputError("dense_eigen: the matrix is too large for LAPACK's 32-bit indices");
  const int n = static_cast<int>(A.rows());
  DenseEigen out;
  if (n == 0) return out;
  MatrixXd a = A;  // dgeev overwrites its input
  VectorXd wr(n), wi(n);
  MatrixXd vl(vectors ? n : 1, vectors ? n : 1), vr(vectors ? n : 1, vectors ? n : 1);
  const char job = vectors ? 'V' : 'N';
  const int ldv = static_cast<int>(vl.rows());
  int info = 0, lwork = -1;
  double query = 0;
  dgeev_(&job, &job, &n, a.data(), &n, wr.data(), wi.data(), vl.data(), &ldv, vr.data(), &ldv, &query, &lwork, &info,
         1, 1);
  if (info != 0) throw RunError("LAPACK dgeev: workspace query failed (info " + std::to_string(info) + ")");
  lwork = std::max(static_cast<int>(query), vectors ? 4 * n : 3 * n);
  std::vector<double> work(static_cast<std::size_t>(lwork));
  dgeev_(&job, &job, &n, a.data(), &n, wr.data(), wi.data(), vl.data(), &ldv, vr.data(), &ldv, work.data(), &lwork,
         &info, 1, 1);
  if (info > 0) throw RunError("the dense eigen-solve did not converge (LAPACK dgeev: QR failed, info " +
                               std::to_string(info) + ")");
  if (info < 0) throw RunError("LAPACK dgeev: bad argument " + std::to_string(-info));
  out.values.resize(n);
  for (int j = 0; j < n; ++j) out.values[j] = {wr[j], wi[j]};
  if (!vectors) return out;
  // dgeev stores a complex pair (wi[j] > 0, then its conjugate) as two real columns:
  // v_j = vr_j + i vr_{j+1}, v_{j+1} = conj(v_j); the same for the left vectors u, which
  // satisfy u^H A = lambda u^H, so that w = conj(u) has w^T A = lambda w^T.
  out.right.resize(n, n);
  out.left.resize(n, n);
  for (int j = 0; j < n; ++j) {
    if (wi[j] == 0) {
      out.right.col(j) = vr.col(j).cast<std::complex<double>>();
      out.left.col(j) = vl.col(j).cast<std::complex<double>>();
    } else if (wi[j] > 0 && j + 1 < n) {
      const std::complex<double> i1(0, 1);
      out.right.col(j) = vr.col(j).cast<std::complex<double>>() + i1 * vr.col(j + 1).cast<std::complex<double>>();
      out.right.col(j + 1) = out.right.col(j).conjugate();
      out.left.col(j) = vl.col(j).cast<std::complex<double>>() - i1 * vl.col(j + 1).cast<std::complex<double>>();
      out.left.col(j + 1) = out.left.col(j).conjugate();
      ++j;
    }
  }
  for (int j = 0; j < n; ++j) {
    out.right.col(j).normalize();  // dgeev's are unit already; exact to rounding
    const std::complex<double> c = out.left.col(j).transpose() * out.right.col(j);
    out.left.col(j) /= c;  // w^T v = 1 (c ~ 0 only for a defective eigenvalue)
  }
  return out;
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
  for (int l = 0; l < sys.stack().num_layers(); ++l)
    sp.block_eigenvalues.push_back(sorted(dense_eigen(sys.dynamics_block(lin, l), false).values, which));
}

void full_solve(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                Spectrum& sp) {
  const MatrixXd J = sys.dynamics_jacobian(lin);
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(J.rows()));
  const DenseEigen es = dense_eigen(J, nv > 0);
  const auto idx = eigen_order(es.values, o.which);
  sp.eigenvalues.resize(es.values.size());
  for (std::size_t i = 0; i < idx.size(); ++i) sp.eigenvalues[static_cast<Eigen::Index>(i)] = es.values[idx[i]];
  if (nv > 0) {
    sp.right.resize(J.rows(), nv);
    sp.left.resize(J.rows(), nv);
    for (int i = 0; i < nv; ++i) {
      sp.right.col(i) = es.right.col(idx[static_cast<std::size_t>(i)]);
      sp.left.col(i) = es.left.col(idx[static_cast<std::size_t>(i)]);
    }
  }
}

// J_dyn X (or J_dyn^T X) for a complex vector, through two real products.
VectorXcd complex_product(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin,
                          const VectorXcd& x, bool transpose) {
  MatrixXd X(x.size(), 2), Y(x.size(), 2);
  X.col(0) = x.real();
  X.col(1) = x.imag();
  if (transpose)
    sys.dynamics_vjp(lin, X, Y);
  else
    sys.dynamics_jvp(lin, X, Y);
  return Y.col(0).cast<std::complex<double>>() + std::complex<double>(0, 1) * Y.col(1).cast<std::complex<double>>();
}

// Solves M x = b for the shifted block M = lambda I - A (or its transpose). When lambda is
// within `tol` (relative) of one of A's eigenvalues `mu`, M is singular: the minimum-norm
// least-squares solution, and `singular` is set.
VectorXcd shifted_solve(const MatrixXd& A, const VectorXcd& mu, std::complex<double> lambda, bool transpose,
                        const VectorXcd& b, double tol, bool& singular) {
  MatrixXcd M = -A.cast<std::complex<double>>();
  M.diagonal().array() += lambda;
  if (transpose) M.transposeInPlace();
  const double gap = mu.size() ? (mu.array() - lambda).abs().minCoeff() : 1e300;
  if (gap > tol * std::max(1.0, std::abs(lambda))) {
    const int n = static_cast<int>(M.rows()), one = 1;
    MatrixXcd LU = M;
    VectorXcd x = b;
    std::vector<int> ipiv(static_cast<std::size_t>(n));
    int info = 0;
    zgesv_(&n, &one, LU.data(), &n, ipiv.data(), x.data(), &n, &info);
    if (info < 0) throw RunError("LAPACK zgesv: bad argument " + std::to_string(-info));
    if (info == 0) return x;  // info > 0: exactly singular after all, least squares below
  }
  singular = true;
  Eigen::CompleteOrthogonalDecomposition<MatrixXcd> cod(M);
  cod.setThreshold(std::max(tol, 1e3 * std::numeric_limits<double>::epsilon()));
  return cod.solve(b);
}

// The block method (DESIGN.md 3): every eigenvalue from the diagonal blocks; the top
// n_vectors modes' vectors by substitution through the layers (see eigen_analysis.hpp).
void block_solve(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                 Spectrum& sp) {
  const auto& slices = sys.stack().slices();
  const int L = static_cast<int>(sp.block_eigenvalues.size());
  Eigen::Index n = 0;
  for (const auto& b : sp.block_eigenvalues) n += b.size();
  VectorXcd all(n);
  std::vector<int> layer_of(static_cast<std::size_t>(n));
  n = 0;
  for (int l = 0; l < L; ++l) {
    const auto& b = sp.block_eigenvalues[static_cast<std::size_t>(l)];
    all.segment(n, b.size()) = b;
    std::fill_n(layer_of.begin() + n, b.size(), l);
    n += b.size();
  }
  const auto idx = eigen_order(all, o.which);
  sp.eigenvalues.resize(n);
  for (std::size_t i = 0; i < idx.size(); ++i) sp.eigenvalues[static_cast<Eigen::Index>(i)] = all[idx[i]];
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(n));
  if (nv <= 0) return;

  const int N = sys.dim();
  sp.right = MatrixXcd::Zero(N, nv);
  sp.left = MatrixXcd::Zero(N, nv);
  sp.repeated.assign(static_cast<std::size_t>(nv), false);
  std::vector<MatrixXd> A(static_cast<std::size_t>(L));  // diagonal blocks, made when first needed
  auto block = [&](int l) -> const MatrixXd& {
    auto& a = A[static_cast<std::size_t>(l)];
    if (a.size() == 0) a = sys.dynamics_block(lin, l);
    return a;
  };
  std::vector<DenseEigen> dec(static_cast<std::size_t>(L));  // with vectors, hosting layers only
  std::vector<std::vector<bool>> used(static_cast<std::size_t>(L));
  for (int i = 0; i < nv; ++i) {
    const int l = layer_of[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])];
    const std::complex<double> lambda = sp.eigenvalues[i];
    // J is real: the partner of a complex pair has the conjugate vectors (same normalisation)
    if (i > 0 && lambda.imag() != 0 && sp.eigenvalues[i - 1] == std::conj(lambda) &&
        layer_of[static_cast<std::size_t>(idx[static_cast<std::size_t>(i - 1)])] == l) {
      sp.right.col(i) = sp.right.col(i - 1).conjugate();
      sp.left.col(i) = sp.left.col(i - 1).conjugate();
      sp.repeated[static_cast<std::size_t>(i)] = sp.repeated[static_cast<std::size_t>(i - 1)];
      continue;
    }
    auto& d = dec[static_cast<std::size_t>(l)];
    auto& u = used[static_cast<std::size_t>(l)];
    if (d.values.size() == 0) {
      d = dense_eigen(block(l), true);
      u.assign(static_cast<std::size_t>(d.values.size()), false);
    }
    // the block's own vectors of this eigenvalue (nearest not yet taken: repeated ones differ)
    Eigen::Index j = -1;
    for (Eigen::Index k = 0; k < d.values.size(); ++k)
      if (!u[static_cast<std::size_t>(k)] && (j < 0 || std::abs(d.values[k] - lambda) < std::abs(d.values[j] - lambda)))
        j = k;
    u[static_cast<std::size_t>(j)] = true;
    const StateSlice& sl = slices[static_cast<std::size_t>(l)];
    VectorXcd x = VectorXcd::Zero(N), y = VectorXcd::Zero(N);
    x.segment(sl.offset, sl.size) = d.right.col(j);
    y.segment(sl.offset, sl.size) = d.left.col(j);
    bool singular = false;
    // right: layers above by forward substitution, (lambda I - A_mm) x_m = [J x_{<m}]_m
    for (int m = l + 1; m < L; ++m) {
      const StateSlice& sm = slices[static_cast<std::size_t>(m)];
      const VectorXcd rhs = complex_product(sys, lin, x, false).segment(sm.offset, sm.size);
      x.segment(sm.offset, sm.size) = shifted_solve(block(m), sp.block_eigenvalues[static_cast<std::size_t>(m)],
                                                    lambda, false, rhs, o.repeated_tol, singular);
    }
    // left: layers below by back substitution, (lambda I - A_mm)^T y_m = [J^T y_{>m}]_m
    for (int m = l - 1; m >= 0; --m) {
      const StateSlice& sm = slices[static_cast<std::size_t>(m)];
      const VectorXcd rhs = complex_product(sys, lin, y, true).segment(sm.offset, sm.size);
      y.segment(sm.offset, sm.size) = shifted_solve(block(m), sp.block_eigenvalues[static_cast<std::size_t>(m)],
                                                    lambda, true, rhs, o.repeated_tol, singular);
    }
    x /= x.norm();
    const std::complex<double> c = y.transpose() * x;  // = y_l^T x_l: the supports meet in layer l only
    sp.right.col(i) = x;
    sp.left.col(i) = y / c;
    sp.repeated[static_cast<std::size_t>(i)] = singular;
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
    case EigenMethod::Block: block_solve(sys, lin, o, sp); break;
    case EigenMethod::Spectra: spectra_solve(sys, lin, o, sp); break;
    case EigenMethod::Auto: break;
  }
  finish(sp, sys.view());
  return sp;
}

}  // namespace stackdyn
