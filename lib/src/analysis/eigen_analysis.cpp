// Eigen-analysis of the Jacobian of the dynamics (see eigen_analysis.hpp).
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/lapack.hpp>

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
  // |a + bi| and |a - bi| are computed from the same magnitudes, so a conjugate pair has
  // exactly equal keys and the comparison can be exact: a lexicographic order (key, then
  // imaginary part, then real part, all descending) is a strict weak ordering, as sort
  // requires; a tolerance on the key would not be transitive.
  auto key = [&](int i) { return which == EigenOrder::LargestMagnitude ? std::abs(lambda[i]) : lambda[i].real(); };
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) {
    const double ka = key(a), kb = key(b);
    if (ka != kb) return ka > kb;
    if (lambda[a].imag() != lambda[b].imag()) return lambda[a].imag() > lambda[b].imag();
    return lambda[a].real() > lambda[b].real();
  });
  return idx;
}

int count_unstable(const VectorXcd& lambda, TimeView view) {
  int n = 0;
  for (const auto& l : lambda)
    n += view == TimeView::Discrete ? std::abs(l) > 1 + 1e-12 : l.real() > 1e-12;
  return n;
}

Stability stability(const Spectrum& sp, TimeView view) {
  if (sp.n_unstable > 0) return Stability::Unstable;
  if (sp.complete) return Stability::Stable;
  if (sp.which == natural_order(view) && sp.converged >= 1 && sp.eigenvalues.size() >= 1) return Stability::Stable;
  return Stability::Undecided;
}

bool n_unstable_exact(const Spectrum& sp, TimeView view) {
  if (sp.complete) return true;
  return sp.which == natural_order(view) && sp.n_unstable < std::min<Eigen::Index>(sp.converged, sp.eigenvalues.size());
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

void block_eigenvalues(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, EigenOrder which,
                   Spectrum& sp) {
  sp.block_eigenvalues.clear();
  for (int l = 0; l < sys.stack().num_layers(); ++l)
    sp.block_eigenvalues.push_back(sorted(dense_eigen(sys.dynamics_block(lin, l), false).values, which));
}

void solve_dense(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                Spectrum& sp) {
  const MatrixXd J = sys.dynamics_jacobian(lin);
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(J.rows()));
  const DenseEigen es = dense_eigen(J, nv > 0, o.defective_tol);
  const auto idx = eigen_order(es.values, o.which);
  sp.eigenvalues.resize(es.values.size());
  for (std::size_t i = 0; i < idx.size(); ++i) sp.eigenvalues[static_cast<Eigen::Index>(i)] = es.values[idx[i]];
  if (nv > 0) {
    sp.right.resize(J.rows(), nv);
    sp.left.resize(J.rows(), nv);
    sp.defective.resize(static_cast<std::size_t>(nv));
    for (int i = 0; i < nv; ++i) {
      const auto j = idx[static_cast<std::size_t>(i)];
      sp.right.col(i) = es.right.col(j);
      sp.left.col(i) = es.left.col(j);
      sp.defective[static_cast<std::size_t>(i)] = es.defective[static_cast<std::size_t>(j)];
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
    MatrixXcd LU = M;
    VectorXcd x = b;
    if (lapack::lu_solve(LU, x)) return x;  // false: exactly singular after all, least squares below
  }
  singular = true;
  return lapack::least_squares(std::move(M), b, std::max(tol, 1e3 * std::numeric_limits<double>::epsilon()));
}

// Each layer's diagonal block of J_dyn, formed when first needed.
class Blocks {
 public:
  Blocks(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin)
      : sys_(&sys), lin_(&lin), A_(static_cast<std::size_t>(sys.stack().num_layers())) {}
  const MatrixXd& operator()(int l) {
    auto& a = A_[static_cast<std::size_t>(l)];
    if (a.size() == 0) a = sys_->dynamics_block(*lin_, l);
    return a;
  }

 private:
  const FixedPointSystem* sys_;
  const FixedPointSystem::Linearization* lin_;
  std::vector<MatrixXd> A_;
};

// Some eigenvalues of one diagonal block with their right and left vectors (the block's own
// conventions: A v = lambda v, w^T A = lambda w^T, w^T v = 1); `used`: already taken.
struct BlockModes {
  VectorXcd values;
  MatrixXcd right, left;
  std::vector<bool> used;
};

// The union of the blocks' eigenvalue lists, sorted by `which`: sp.eigenvalues (the first
// `keep`, all when keep < 0) and the layer that holds each.
std::vector<int> merge_blocks(const std::vector<VectorXcd>& per_block, EigenOrder which, Eigen::Index keep,
                              Spectrum& sp) {
  Eigen::Index n = 0;
  for (const auto& b : per_block) n += b.size();
  VectorXcd all(n);
  std::vector<int> layer(static_cast<std::size_t>(n));
  n = 0;
  for (std::size_t l = 0; l < per_block.size(); ++l) {
    all.segment(n, per_block[l].size()) = per_block[l];
    std::fill_n(layer.begin() + n, per_block[l].size(), static_cast<int>(l));
    n += per_block[l].size();
  }
  const auto idx = eigen_order(all, which);
  const Eigen::Index m = keep < 0 ? n : std::min(keep, n);
  sp.eigenvalues.resize(m);
  std::vector<int> layer_of(static_cast<std::size_t>(m));
  for (Eigen::Index i = 0; i < m; ++i) {
    sp.eigenvalues[i] = all[idx[static_cast<std::size_t>(i)]];
    layer_of[static_cast<std::size_t>(i)] = layer[static_cast<std::size_t>(idx[static_cast<std::size_t>(i)])];
  }
  return layer_of;
}

// Mode i is numerically defective: no left vector with w^T v = 1 exists (Spectrum::defective).
void mark_defective(Spectrum& sp, int i) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  sp.defective[static_cast<std::size_t>(i)] = true;
  sp.right.col(i).setConstant({nan, nan});
  sp.left.col(i).setConstant({nan, nan});
}

// Right and left eigenvectors of J for the first n_vectors of sp.eigenvalues, layer_of[i]
// holding mode i, by substitution through the layers (docs/design.md 3, eigen_analysis.hpp).
// `modes(l)`: eigenvalues of block l with their vectors (at least the top modes it holds);
// `mu[m]`: block m's eigenvalues, at least those that can come near a top mode (the gap
// test of the shifted solves).
template <class Modes>
void substitute_vectors(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin,
                        const EigenOptions& o, const std::vector<int>& layer_of, const std::vector<VectorXcd>& mu,
                        Blocks& block, Modes&& modes, Spectrum& sp) {
  const auto& slices = sys.stack().slices();
  const int L = sys.stack().num_layers();
  const int nv = std::min<int>(o.n_vectors, static_cast<int>(sp.eigenvalues.size()));
  if (nv <= 0) return;
  const int N = sys.dim();
  sp.right = MatrixXcd::Zero(N, nv);
  sp.left = MatrixXcd::Zero(N, nv);
  sp.repeated.assign(static_cast<std::size_t>(nv), false);
  sp.defective.assign(static_cast<std::size_t>(nv), false);
  for (int i = 0; i < nv; ++i) {
    const int l = layer_of[static_cast<std::size_t>(i)];
    const std::complex<double> lambda = sp.eigenvalues[i];
    // J is real: the partner of a complex pair has the conjugate vectors (same normalisation)
    if (i > 0 && lambda.imag() != 0 && sp.eigenvalues[i - 1] == std::conj(lambda) &&
        layer_of[static_cast<std::size_t>(i - 1)] == l) {
      sp.right.col(i) = sp.right.col(i - 1).conjugate();
      sp.left.col(i) = sp.left.col(i - 1).conjugate();
      sp.repeated[static_cast<std::size_t>(i)] = sp.repeated[static_cast<std::size_t>(i - 1)];
      sp.defective[static_cast<std::size_t>(i)] = sp.defective[static_cast<std::size_t>(i - 1)];
      continue;
    }
    BlockModes& d = modes(l);
    auto& u = d.used;
    // the block's own vectors of this eigenvalue (nearest not yet taken: repeated ones differ)
    Eigen::Index j = -1;
    for (Eigen::Index k = 0; k < d.values.size(); ++k)
      if (!u[static_cast<std::size_t>(k)] && (j < 0 || std::abs(d.values[k] - lambda) < std::abs(d.values[j] - lambda)))
        j = k;
    if (j < 0) throw RunError("eigen-analysis: no block vector left for eigenvalue of layer " + std::to_string(l));
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
      x.segment(sm.offset, sm.size) =
          shifted_solve(block(m), mu[static_cast<std::size_t>(m)], lambda, false, rhs, o.repeated_tol, singular);
    }
    // left: layers below by back substitution, (lambda I - A_mm)^T y_m = [J^T y_{>m}]_m
    for (int m = l - 1; m >= 0; --m) {
      const StateSlice& sm = slices[static_cast<std::size_t>(m)];
      const VectorXcd rhs = complex_product(sys, lin, y, true).segment(sm.offset, sm.size);
      y.segment(sm.offset, sm.size) =
          shifted_solve(block(m), mu[static_cast<std::size_t>(m)], lambda, true, rhs, o.repeated_tol, singular);
    }
    x /= x.norm();
    const std::complex<double> c = y.transpose() * x;  // = y_l^T x_l: the supports meet in layer l only
    sp.repeated[static_cast<std::size_t>(i)] = singular;
    // y = 0: no left vector was computed for the block (Arnoldi on its transpose failed)
    const double ny = y.norm();
    if (ny != 0 && !(std::abs(c) >= o.defective_tol * ny)) {
      mark_defective(sp, i);
      continue;
    }
    sp.right.col(i) = x;
    sp.left.col(i) = ny != 0 ? VectorXcd(y / c) : y;
  }
}

// The block method (docs/design.md 3): every eigenvalue from the diagonal blocks; the top
// n_vectors modes' vectors by substitution through the layers (see eigen_analysis.hpp).
void solve_by_blocks(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
                 Spectrum& sp) {
  const auto layer_of = merge_blocks(sp.block_eigenvalues, o.which, -1, sp);
  Blocks block(sys, lin);
  std::vector<BlockModes> dec(sp.block_eigenvalues.size());  // with vectors, hosting layers only
  auto modes = [&](int l) -> BlockModes& {
    auto& d = dec[static_cast<std::size_t>(l)];
    if (d.values.size() == 0) {
      DenseEigen e = dense_eigen(block(l), true, o.defective_tol);
      d.values = std::move(e.values);
      d.right = std::move(e.right);
      d.left = std::move(e.left);
      d.used.assign(static_cast<std::size_t>(d.values.size()), false);
    }
    return d;
  };
  substitute_vectors(sys, lin, o, layer_of, sp.block_eigenvalues, block, modes, sp);
}

template <class Op>
bool spectra_top(Op& op, int k, EigenOrder which, const EigenOptions& o, VectorXcd& vals, MatrixXcd& vecs,
                 int& converged, bool vectors = true) {
  const int N = static_cast<int>(op.rows());
  const int ncv = std::min(N, o.spectra_ncv > 0 ? std::max(o.spectra_ncv, k + 2) : std::max(5 * k, k + 40));
  Spectra::GenEigsSolver<Op> eigs(op, k, ncv);
  eigs.init();
  const auto rule = which == EigenOrder::LargestMagnitude ? Spectra::SortRule::LargestMagn : Spectra::SortRule::LargestReal;
  converged = static_cast<int>(eigs.compute(rule, o.spectra_max_iters, o.spectra_tol, rule));
  if (converged == 0) return false;
  vals = eigs.eigenvalues();
  if (vectors) vecs = eigs.eigenvectors();
  return true;
}

// Spectra's matrix operation for a square dense matrix or its transpose (without copying
// it), through BLAS's dgemv.
class DenseProduct {
 public:
  using Scalar = double;
  DenseProduct(const MatrixXd& A, bool transpose) : A_(&A), transpose_(transpose) {}
  Eigen::Index rows() const { return A_->rows(); }
  Eigen::Index cols() const { return A_->cols(); }
  void perform_op(const double* x_in, double* y_out) const {
    lapack::gemv(*A_, transpose_, x_in, y_out);
  }

 private:
  const MatrixXd* A_;
  bool transpose_;
};

// Spectra per diagonal block (the default): the top k of a block lower-triangular J are the
// top k of the union of each block's top k. Arnoldi on each dense block A_ll (n_l x n_l:
// one matrix a product, where the whole stack's Jacobian-vector product streams every layer's
// weights; at 3 x 2000 forming a vanilla block takes a few ms and its dgemv beats a
// matrix-free product through the cell, which also multiplies the zero input tangent by
// W_ih), dgeev for a block too small for Arnoldi; the vectors of the top modes by the
// block method's substitution, with the hosting block's own right vectors from its Arnoldi
// run and its left ones from an Arnoldi run on A_ll^T.
void solve_top_k_per_block(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin,
                         const EigenOptions& o, Spectrum& sp) {
  const int L = sys.stack().num_layers();
  const int k = std::max(o.top_k, 1);
  const bool want_vectors = o.n_vectors > 0;
  Blocks block(sys, lin);
  std::vector<VectorXcd> top(static_cast<std::size_t>(L));
  std::vector<BlockModes> modes(static_cast<std::size_t>(L));
  std::vector<bool> dense(static_cast<std::size_t>(L), false);
  // the order key below which a block's list may miss eigenvalues (it did not converge fully)
  double uncertain_below = -std::numeric_limits<double>::infinity();
  auto key = [&](std::complex<double> l) { return o.which == EigenOrder::LargestMagnitude ? std::abs(l) : l.real(); };
  for (int l = 0; l < L; ++l) {
    const MatrixXd& A = block(l);
    const int n = static_cast<int>(A.rows());
    auto& t = top[static_cast<std::size_t>(l)];
    BlockModes& d = modes[static_cast<std::size_t>(l)];
    if (n < k + 3) {  // too small for Arnoldi: every eigenvalue, and the vectors with them
      dense[static_cast<std::size_t>(l)] = true;
      DenseEigen e = dense_eigen(A, want_vectors);
      const auto idx = eigen_order(e.values, o.which);
      const Eigen::Index m = std::min<Eigen::Index>(k, e.values.size());
      t.resize(m);
      for (Eigen::Index i = 0; i < m; ++i) t[i] = e.values[idx[static_cast<std::size_t>(i)]];
      if (want_vectors) {
        d.values = std::move(e.values);
        d.right = std::move(e.right);
        d.left = std::move(e.left);
        d.used.assign(static_cast<std::size_t>(d.values.size()), false);
      }
      continue;
    }
    DenseProduct op(A, false);
    int conv = 0;
    VectorXcd vals;
    if (!spectra_top(op, k, o.which, o, vals, d.right, conv, want_vectors)) vals.resize(0);
    if (conv < k) {
      double last = std::numeric_limits<double>::infinity();
      for (const auto& v : vals) last = std::min(last, key(v));
      uncertain_below = std::max(uncertain_below, vals.size() ? last : std::numeric_limits<double>::infinity());
    }
    d.values = vals;
    t = sorted(vals, o.which);
  }
  const auto layer_of = merge_blocks(top, o.which, k, sp);
  sp.complete = false;
  sp.converged = 0;
  while (sp.converged < sp.eigenvalues.size() && key(sp.eigenvalues[sp.converged]) >= uncertain_below) ++sp.converged;
  if (!want_vectors) return;
  // left vectors of a hosting block from Arnoldi on its transpose, made when first needed
  auto host = [&](int l) -> BlockModes& {
    BlockModes& d = modes[static_cast<std::size_t>(l)];
    if (dense[static_cast<std::size_t>(l)] || d.used.size() == static_cast<std::size_t>(d.values.size())) return d;
    DenseProduct opT(block(l), true);
    VectorXcd lvals;
    MatrixXcd lvecs;
    int lconv = 0;
    const bool have_left = spectra_top(opT, k, o.which, o, lvals, lvecs, lconv);
    d.left = MatrixXcd::Zero(d.right.rows(), d.right.cols());
    for (Eigen::Index j = 0; j < d.values.size(); ++j) {
      d.right.col(j).normalize();
      if (!have_left) continue;
      // the left eigenvector of the same eigenvalue: the nearest among A_ll^T's
      Eigen::Index best = 0;
      (lvals.array() - d.values[j]).abs().minCoeff(&best);
      const VectorXcd w = lvecs.col(best).normalized();
      const std::complex<double> c = w.transpose() * d.right.col(j);
      const double nan = std::numeric_limits<double>::quiet_NaN();
      if (std::abs(c) >= o.defective_tol) d.left.col(j) = w / c;
      else d.left.col(j).setConstant({nan, nan});  // defective: flagged by the substitution
    }
    d.used.assign(static_cast<std::size_t>(d.values.size()), false);
    return d;
  };
  substitute_vectors(sys, lin, o, layer_of, top, block, host, sp);
}

// Spectra through the whole stack's Jacobian-vector product (EigenOptions::spectra_per_block
// false): the earlier path, kept for comparison.
void solve_top_k_matrix_free(const FixedPointSystem& sys, const FixedPointSystem::Linearization& lin, const EigenOptions& o,
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
  sp.defective.assign(static_cast<std::size_t>(nv), false);
  for (int i = 0; i < nv; ++i) {
    const VectorXcd v = vecs.col(idx[static_cast<std::size_t>(i)]).normalized();
    sp.right.col(i) = v;
    if (!have_left) continue;
    // the left eigenvector of the same eigenvalue: the nearest among J^T's
    Eigen::Index best = 0;
    (lvals.array() - sp.eigenvalues[i]).abs().minCoeff(&best);
    VectorXcd w = lvecs.col(best).normalized();
    const std::complex<double> c = w.transpose() * v;
    if (std::abs(c) >= o.defective_tol) sp.left.col(i) = w / c;
    else mark_defective(sp, i);
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
  sp.which = o.which;
  if (m == EigenMethod::Full || m == EigenMethod::Block || (o.block_spectra && sys.dim() <= o.full_limit))
    block_eigenvalues(sys, lin, o.which, sp);
  switch (m) {
    case EigenMethod::Full: solve_dense(sys, lin, o, sp); break;
    case EigenMethod::Block: solve_by_blocks(sys, lin, o, sp); break;
    case EigenMethod::Spectra:
      if (o.spectra_per_block)
        solve_top_k_per_block(sys, lin, o, sp);
      else
        solve_top_k_matrix_free(sys, lin, o, sp);
      break;
    case EigenMethod::Auto: break;
  }
  finish(sp, sys.view());
  return sp;
}

}  // namespace stackdyn
