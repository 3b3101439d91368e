// Checked wrappers of the LAPACK and BLAS routines stackdyn calls (see lapack.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/lapack.hpp>

#include <algorithm>
#include <limits>
#include <string>
#include <vector>

// LAPACK (Debian's liblapack3 interface, OpenBLAS's implementation): the general real
// eigenproblem. Fortran calling convention: everything by pointer, column-major, the two
// hidden lengths of the character arguments last (gfortran passes them as size_t).
extern "C" void dgeev_(const char* jobvl, const char* jobvr, const int* n, double* a, const int* lda, double* wr,
                       double* wi, double* vl, const int* ldvl, double* vr, const int* ldvr, double* work,
                       const int* lwork, int* info, std::size_t jobvl_len, std::size_t jobvr_len);
// LU solve of a complex system (OpenBLAS's is blocked and threaded: several times Eigen's).
extern "C" void zgesv_(const int* n, const int* nrhs, std::complex<double>* a, const int* lda, int* ipiv,
                       std::complex<double>* b, const int* ldb, int* info);
// Matrix-vector product (OpenBLAS's runs on every core: 1.5 to 2x Eigen's at 2000 x 2000).
extern "C" void dgemv_(const char* trans, const int* m, const int* n, const double* alpha, const double* a,
                       const int* lda, const double* x, const int* incx, const double* beta, double* y,
                       const int* incy, std::size_t trans_len);

// Minimum-norm least squares by SVD.
extern "C" void zgelss_(const int* m, const int* n, const int* nrhs, std::complex<double>* a, const int* lda,
                        std::complex<double>* b, const int* ldb, double* s, const double* rcond, int* rank,
                        std::complex<double>* work, const int* lwork, double* rwork, int* info);

namespace stackdyn {

using Eigen::MatrixXd;
using Eigen::VectorXd;

DenseEigen dense_eigen(const Eigen::Ref<const MatrixXd>& A, bool vectors, double defective_tol) {
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
  out.defective.assign(static_cast<std::size_t>(n), false);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (int j = 0; j < n; ++j) {
    out.right.col(j).normalize();  // dgeev's are unit already; exact to rounding
    out.left.col(j).normalize();
    // With unit vectors |w^T v| is the reciprocal condition number of the eigenvalue; near
    // zero, dividing by it would write vectors of size 1/eps as if they were fine.
    const std::complex<double> c = out.left.col(j).transpose() * out.right.col(j);
    if (!(std::abs(c) >= defective_tol)) {
      out.defective[static_cast<std::size_t>(j)] = true;
      out.right.col(j).setConstant({nan, nan});
      out.left.col(j).setConstant({nan, nan});
      continue;
    }
    out.left.col(j) /= c;  // w^T v = 1
  }
  return out;
}

double spectral_radius(const Eigen::Ref<const MatrixXd>& A) {
  const DenseEigen e = dense_eigen(A, false);
  return e.values.size() ? e.values.cwiseAbs().maxCoeff() : 0.0;
}

namespace lapack {

namespace {
int lapack_int(Eigen::Index n, const char* what) {
  if (n > std::numeric_limits<int>::max()) throw InputError(std::string(what) + ": the matrix is too large for LAPACK's 32-bit indices");
  return static_cast<int>(n);
}
}  // namespace

bool lu_solve(Eigen::MatrixXcd& A, Eigen::VectorXcd& b) {
  const int n = lapack_int(A.rows(), "zgesv"), one = 1;
  if (A.cols() != A.rows() || b.size() != A.rows()) throw InputError("lu_solve: the matrix must be square and match b");
  if (n == 0) return true;
  std::vector<int> ipiv(static_cast<std::size_t>(n));
  int info = 0;
  zgesv_(&n, &one, A.data(), &n, ipiv.data(), b.data(), &n, &info);
  if (info < 0) throw RunError("LAPACK zgesv: bad argument " + std::to_string(-info));
  return info == 0;
}

Eigen::VectorXcd least_squares(Eigen::MatrixXcd A, const Eigen::VectorXcd& b, double rcond) {
  const int m = lapack_int(A.rows(), "zgelss"), n = lapack_int(A.cols(), "zgelss"), one = 1;
  if (b.size() != A.rows()) throw InputError("least_squares: b must have as many rows as A");
  const int ldb = std::max({m, n, 1});
  Eigen::VectorXcd x = Eigen::VectorXcd::Zero(ldb);
  x.head(m) = b;
  if (m == 0 || n == 0) return x.head(n);
  VectorXd s(std::min(m, n)), rwork(5 * std::min(m, n));
  int rank = 0, info = 0, lwork = -1;
  std::complex<double> query;
  zgelss_(&m, &n, &one, A.data(), &m, x.data(), &ldb, s.data(), &rcond, &rank, &query, &lwork, rwork.data(), &info);
  if (info != 0) throw RunError("LAPACK zgelss: workspace query failed (info " + std::to_string(info) + ")");
  lwork = std::max(static_cast<int>(query.real()), 2 * std::min(m, n) + std::max(m, n));
  std::vector<std::complex<double>> work(static_cast<std::size_t>(lwork));
  zgelss_(&m, &n, &one, A.data(), &m, x.data(), &ldb, s.data(), &rcond, &rank, work.data(), &lwork, rwork.data(),
          &info);
  if (info > 0) throw RunError("LAPACK zgelss: the SVD did not converge (info " + std::to_string(info) + ")");
  if (info < 0) throw RunError("LAPACK zgelss: bad argument " + std::to_string(-info));
  return x.head(n);
}

void gemv(const MatrixXd& A, bool transpose, const double* x, double* y) {
  const int m = lapack_int(A.rows(), "dgemv"), n = lapack_int(A.cols(), "dgemv"), one = 1;
  const double alpha = 1, beta = 0;
  dgemv_(transpose ? "T" : "N", &m, &n, &alpha, A.data(), &m, x, &one, &beta, y, &one, 1);
}

}  // namespace lapack
}  // namespace stackdyn
