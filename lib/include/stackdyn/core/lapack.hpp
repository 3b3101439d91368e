// The LAPACK and BLAS routines stackdyn calls (Debian's liblapack3 interface, OpenBLAS's
// implementation), each wrapped once with its errors checked: the dense nonsymmetric
// eigenproblem, complex LU and least-squares solves, and a matrix-vector product.
#pragma once
#include <Eigen/Core>

#include <complex>
#include <vector>

namespace stackdyn {

/// Eigenvalues of a dense real square matrix (LAPACK dgeev) and, with `vectors`, unit
/// `right` (A v = lambda v, |v|_2 = 1) and `left` (w^T A = lambda w^T, w^T v = 1; dgeev's
/// left vectors u satisfy u^H A = lambda u^H, so w = conj(u) / (u^H v)). RunError when the
/// QR algorithm fails.
///
/// A mode whose unit right and left vectors are (numerically) orthogonal, |u^H v| <
/// `defective_tol`, is marked `defective`: its eigenvalue is (numerically) defective, as in a
/// Jordan block, w^T v = 1 cannot be met, and both its vectors are NaN (the right vector of
/// such an eigenvalue is determined only to about the square root of the rounding error).
struct DenseEigen {
  Eigen::VectorXcd values;
  Eigen::MatrixXcd right, left;
  std::vector<bool> defective;  ///< per mode, with vectors only
};
/// The default threshold on |u^H v| (the reciprocal of the eigenvalue's condition number).
inline constexpr double default_defective_tol = 1e-6;
DenseEigen dense_eigen(const Eigen::Ref<const Eigen::MatrixXd>& A, bool vectors,
                       double defective_tol = default_defective_tol);

/// The eigenvalue of largest modulus of a dense square matrix (0 for an empty one).
double spectral_radius(const Eigen::Ref<const Eigen::MatrixXd>& A);

namespace lapack {

/// Solves A x = b in place (LAPACK zgesv: LU with partial pivoting, blocked and threaded).
/// A is overwritten by its factors and b by x. Returns false when A is exactly singular.
bool lu_solve(Eigen::MatrixXcd& A, Eigen::VectorXcd& b);

/// The minimum-norm least-squares solution of A x = b (LAPACK zgelss, by SVD), singular
/// values below rcond times the largest counted as zero.
Eigen::VectorXcd least_squares(Eigen::MatrixXcd A, const Eigen::VectorXcd& b, double rcond);

/// y = A x or A^T x for a square column-major A (BLAS dgemv: OpenBLAS's runs on every core).
void gemv(const Eigen::MatrixXd& A, bool transpose, const double* x, double* y);

}  // namespace lapack
}  // namespace stackdyn
