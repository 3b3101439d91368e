// The dense eigen-solves through LAPACK's dgeev (task: full and block methods) checked
// independently: eigenvalues against Eigen's EigenSolver, right and left vectors by their
// residuals; the block method's eigenvectors (substitution through the layers) against the
// full method's; an eigenvalue repeated across layers; OpenBLAS's threads in parallel_for.
#include "fixed_point_models.hpp"
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/core/blas_threads.hpp>
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/parallel.hpp>

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

TEST_CASE("block method: right and left eigenvectors of the top modes agree with the full method's",
          "[fixed-points][eigen][lapack]") {
  const Model m = test::random_model(3,
                                     {{CellType::RnnTanh, 9},
                                      {CellType::Gru, 7, false, true},
                                      {CellType::Lstm, 5, true, false},
                                      {CellType::DeepTransition, 6, false, false, {8}, true}},
                                     17, 1.1);
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const FixedPointSystem sys(m, VectorXd::Constant(3, 0.2), view, {1.0, 2.0, 0.5, 4.0});
  std::mt19937_64 g(5);
  std::uniform_real_distribution<double> U(-0.7, 0.7);
  VectorXd s(sys.dim());
  for (auto& v : s) v = U(g);
  EigenOptions o;
  o.n_vectors = 8;
  o.which = natural_order(view);
  o.method = EigenMethod::Full;
  const Spectrum full = analyse_spectrum(sys, s, o);
  o.method = EigenMethod::Block;
  const Spectrum block = analyse_spectrum(sys, s, o);
  REQUIRE(block.right.cols() == 8);
  REQUIRE(block.left.cols() == 8);
  const MatrixXcd J = sys.dynamics_jacobian(sys.linearize(s)).cast<cd>();
  for (int i = 0; i < 8; ++i) {
    const cd l = block.eigenvalues[i];
    INFO("mode " << i << ": " << l << " (full: " << full.eigenvalues[i] << ")");
    REQUIRE(std::abs(l - full.eigenvalues[i]) < 1e-9);
    const VectorXcd v = block.right.col(i), w = block.left.col(i);
    const VectorXcd vf = full.right.col(i), wf = full.left.col(i);
    CHECK_FALSE(block.repeated[static_cast<std::size_t>(i)]);
    CHECK(std::abs(v.norm() - 1) < 1e-12);
    CHECK((J * v - l * v).norm() < 1e-10);
    CHECK((J.transpose() * w - l * w).norm() < 1e-10 * std::max(1.0, w.norm()));
    CHECK(std::abs(cd(w.transpose() * v) - 1.0) < 1e-10);
    // the same vectors up to a phase e^{i theta}: |<v_full, v_block>| = 1, and then
    // w_block = e^{-i theta} w_full, so (w_block^T v_full)(w_full^T v_block) = 1
    CHECK(std::abs(std::abs(vf.dot(v)) - 1) < 1e-9);
    CHECK(std::abs(cd(w.transpose() * vf) * cd(wf.transpose() * v) - 1.0) < 1e-8);
  }
}

TEST_CASE("block method: an eigenvalue repeated across layers is flagged and solved in least squares",
          "[fixed-points][eigen][lapack]") {
  // two linear-at-the-origin layers (tanh'(0) = 1): A_11 = W1, A_22 = W2, J_21 = U W1;
  // lambda = 0.5 in both blocks.
  const MatrixXd W1 = Eigen::Vector2d(0.5, 0.2).asDiagonal(), W2 = Eigen::Vector2d(0.5, 0.3).asDiagonal();
  auto model = [&](const MatrixXd& U) {
    Model m;
    m.input_size = 1;
    m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, W1, MatrixXd::Zero(2, 1), VectorXd::Zero(2)));
    m.layers.push_back(test::vanilla_layer(CellType::RnnTanh, W2, U, VectorXd::Zero(2)));
    m.validate("repeated");
    return m;
  };
  EigenOptions o;
  o.method = EigenMethod::Block;
  o.n_vectors = 2;
  SECTION("consistent: the coupling misses the lower layer's mode, exact eigenvectors") {
    MatrixXd U(2, 2);
    U << 0, 1, 1, 0;
    const Model m = model(U);
    const FixedPointSystem sys(m, VectorXd::Zero(1), TimeView::Discrete);
    const Spectrum sp = analyse_spectrum(sys, VectorXd::Zero(4), o);
    const MatrixXcd J = sys.dynamics_jacobian(sys.linearize(VectorXd::Zero(4))).cast<cd>();
    for (int i = 0; i < 2; ++i) {
      CHECK(sp.eigenvalues[i] == cd(0.5));
      CHECK(sp.repeated[static_cast<std::size_t>(i)]);
      const VectorXcd v = sp.right.col(i), w = sp.left.col(i);
      CHECK((J * v - 0.5 * v).norm() < 1e-12);
      CHECK((J.transpose() * w - 0.5 * w).norm() < 1e-12 * w.norm());
      CHECK(std::abs(cd(w.transpose() * v) - 1.0) < 1e-12);
    }
    // mode 0 belongs to layer 1 (x_1 = e1), layer 2 solves (0.5 - 0.3) x_22 = 0.5
    CHECK(std::abs(sp.right(3, 0) / sp.right(0, 0) - 2.5) < 1e-12);
  }
  SECTION("inconsistent: lambda is defective in J, the returned vector misses by its residual") {
    const Model m = model(MatrixXd::Identity(2, 2));
    const FixedPointSystem sys(m, VectorXd::Zero(1), TimeView::Discrete);
    const Spectrum sp = analyse_spectrum(sys, VectorXd::Zero(4), o);
    const MatrixXcd J = sys.dynamics_jacobian(sys.linearize(VectorXd::Zero(4))).cast<cd>();
    CHECK(sp.repeated[0]);
    const VectorXcd v = sp.right.col(0);
    CHECK((J * v - 0.5 * v).norm() > 0.1);  // no eigenvector starts in layer 1
    CHECK(v.allFinite());
  }
}

TEST_CASE("parallel_for runs OpenBLAS single-threaded and restores its thread count", "[eigen][lapack][threads]") {
  // The build links OpenBLAS (scripts/install-deps.sh selects it as liblapack.so.3); with
  // another BLAS this test has nothing to check, so it fails instead of passing vacuously.
  const int before = blas_threads();
  INFO("blas_threads() = 0: the LAPACK in use is not OpenBLAS (update-alternatives --config liblapack.so.3)");
  REQUIRE(before > 0);
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
