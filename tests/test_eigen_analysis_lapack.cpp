// The dense eigen-solves through LAPACK's dgeev (full and block methods) checked
// independently: eigenvalues against Eigen's EigenSolver, right and left vectors by their
// residuals; OpenBLAS's threads in parallel_for.
#include <catch2/catch.hpp>
#include <stackdyn/blas_threads.hpp>
#include <stackdyn/eigen_analysis.hpp>
#include <stackdyn/fixed_points.hpp>
#include <stackdyn/parallel.hpp>

#include <atomic>
#include <random>

using namespace stackdyn;
using Eigen::MatrixXcd;
using Eigen::VectorXcd;
using cd = std::complex<double>;

namespace {

// The largest distance when each eigenvalue of `a` is matched to the nearest unused one of `b`.
double max_mismatch(const VectorXcd& a, const VectorXcd& b) {
  std::vector<bool> used(static_cast<std::size_t>(b.size()), false);
  double worst = 0;
  for (const auto& l : a) {
    Eigen::Index at = -1;
    for (Eigen::Index j = 0; j < b.size(); ++j)
      if (!used[static_cast<std::size_t>(j)] && (at < 0 || std::abs(b[j] - l) < std::abs(b[at] - l))) at = j;
    if (at < 0) return 1e300;
    used[static_cast<std::size_t>(at)] = true;
    worst = std::max(worst, std::abs(b[at] - l));
  }
  return worst;
}

}  // namespace

TEST_CASE("LAPACK dgeev: eigenvalues as Eigen's EigenSolver, right and left vectors by residual (200 x 200)",
          "[fixed-points][eigen][lapack]") {
  std::mt19937_64 g(11);
  std::normal_distribution<double> N01;
  const int n = 200;
  MatrixXd A(n, n);
  for (auto& v : A.reshaped()) v = N01(g) / std::sqrt(double(n));
  const DenseEigen de = dense_eigen(A, true);
  const Eigen::EigenSolver<MatrixXd> es(A, false);
  REQUIRE(es.info() == Eigen::Success);
  REQUIRE(de.values.size() == n);
  CHECK(max_mismatch(de.values, es.eigenvalues()) < 1e-11);  // the same multiset
  const MatrixXcd Ac = A.cast<cd>();
  int pairs = 0;
  for (int j = 0; j < n; ++j) {
    const cd l = de.values[j];
    const VectorXcd v = de.right.col(j), w = de.left.col(j);
    INFO("eigenvalue " << j << ": " << l);
    CHECK(std::abs(v.norm() - 1) < 1e-13);
    CHECK((Ac * v - l * v).norm() < 1e-12);
    CHECK((Ac.transpose() * w - l * w).norm() < 1e-12 * w.norm());  // w^T A = lambda w^T, no conjugation
    CHECK(std::abs(cd(w.transpose() * v) - 1.0) < 1e-12);
    if (l.imag() > 0) {
      ++pairs;
      REQUIRE(j + 1 < n);
      CHECK(de.values[j + 1] == std::conj(l));
      CHECK((de.right.col(j + 1) - v.conjugate()).norm() == 0.0);
    }
  }
  CHECK(pairs > 10);  // a random matrix: plenty of complex pairs were exercised
  // eigenvalues only: the same values (LAPACK may order them differently)
  const DenseEigen vals = dense_eigen(A, false);
  CHECK(vals.right.size() == 0);
  CHECK(max_mismatch(vals.values, de.values) < 1e-11);
}

TEST_CASE("parallel_for runs OpenBLAS single-threaded and restores its thread count", "[eigen][lapack]") {
  const int before = blas_threads();
  if (before == 0) {
    WARN("the LAPACK in use is not OpenBLAS: nothing to check");
    return;
  }
  std::atomic<int> worst{0};
  parallel_for(4, 2, [&](std::size_t) {
    const int t = blas_threads();
    int w = worst.load();
    while (t > w && !worst.compare_exchange_weak(w, t)) {
    }
  });
  CHECK(worst.load() == 1);
  CHECK(blas_threads() == before);
}
