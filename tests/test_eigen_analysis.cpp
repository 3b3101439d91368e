// Eigen-analysis: residuals of right and left eigenvectors, the
// block-triangular shortcut against the full solve, Spectra's top-k against the full solve,
// and the discrete and continuous readings of one fixed point, (lambda - 1) / tau.
#include "random_model.hpp"

#include <catch2/catch.hpp>
#include <stackdyn/analysis/eigen_analysis.hpp>
#include <stackdyn/analysis/fixed_points.hpp>
#include <stackdyn/core/random.hpp>

using namespace stackdyn;
using Eigen::MatrixXcd;
using Eigen::VectorXcd;

namespace {

Model mixed_stack() {
  return test::random_model(3,
                            {{CellType::RnnTanh, 9},
                             {CellType::Gru, 7, false, true},
                             {CellType::Lstm, 5, true, false},
                             {CellType::DeepTransition, 6, false, false, {8}, true}},
                            17, 0.8);
}

VectorXd random_state(int n, std::uint64_t seed) {
  Rng rng(seed);
  VectorXd s(n);
  for (auto& v : s) v = rng.uniform(-0.7, 0.7);
  return s;
}

// Every eigenvalue of `a` has a partner in `b` (same multiset when the sizes agree).
void require_same_spectrum(const VectorXcd& a, const VectorXcd& b, double tol) {
  REQUIRE(a.size() == b.size());
  std::vector<bool> used(static_cast<std::size_t>(b.size()), false);
  for (const auto& l : a) {
    double best = 1e300;
    Eigen::Index at = -1;
    for (Eigen::Index j = 0; j < b.size(); ++j)
      if (!used[static_cast<std::size_t>(j)] && std::abs(b[j] - l) < best) {
        best = std::abs(b[j] - l);
        at = j;
      }
    INFO("eigenvalue " << l);
    CHECK(best < tol);
    if (at >= 0) used[static_cast<std::size_t>(at)] = true;
  }
}

}  // namespace

TEST_CASE("full solve: |J v - lambda v| and |w^T J - lambda w^T| are small, w^T v = 1", "[fixed-points][eigen]") {
  const Model m = mixed_stack();
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const FixedPointSystem sys(m, VectorXd::Constant(3, 0.2), view, {1.0, 2.0, 0.5, 4.0});
  const VectorXd s = random_state(sys.dim(), 1);
  EigenOptions o;
  o.method = EigenMethod::Full;
  o.n_vectors = 6;
  o.which = natural_order(view);
  const Spectrum sp = analyse_spectrum(sys, s, o);
  const MatrixXd J = sys.dynamics_jacobian(sys.linearize(s));
  REQUIRE(sp.eigenvalues.size() == sys.dim());
  for (int i = 0; i < 6; ++i) {
    const auto l = sp.eigenvalues[i];
    const VectorXcd v = sp.right.col(i), w = sp.left.col(i);
    CHECK((J.cast<std::complex<double>>() * v - l * v).norm() < 1e-10);
    CHECK((J.transpose().cast<std::complex<double>>() * w - l * w).norm() < 1e-8 * std::max(1.0, w.norm()));
    CHECK(std::abs(std::complex<double>(w.transpose() * v) - 1.0) < 1e-9);
    if (i > 0) {
      const double a = view == TimeView::Discrete ? std::abs(sp.eigenvalues[i - 1]) : sp.eigenvalues[i - 1].real();
      const double b = view == TimeView::Discrete ? std::abs(l) : l.real();
      CHECK(a >= b - 1e-12);
    }
  }
  CHECK(sp.n_unstable == count_unstable(sp.eigenvalues, view));
}

TEST_CASE("block-triangular shortcut: union of the diagonal blocks' spectra equals the full spectrum",
          "[fixed-points][eigen]") {
  const Model m = mixed_stack();
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const FixedPointSystem sys(m, VectorXd::Constant(3, -0.1), view, {1.0, 2.0, 0.5, 4.0});
  // any state: the structure holds everywhere, not only at fixed points
  const VectorXd s = random_state(sys.dim(), 2);
  EigenOptions full, block;
  full.method = EigenMethod::Full;
  full.n_vectors = 0;
  block.method = EigenMethod::Block;
  const Spectrum a = analyse_spectrum(sys, s, full), b = analyse_spectrum(sys, s, block);
  require_same_spectrum(a.eigenvalues, b.eigenvalues, 1e-8);
  CHECK(a.n_unstable == b.n_unstable);
  REQUIRE(b.block_eigenvalues.size() == 4);
  CHECK(b.block_eigenvalues[2].size() == 10);  // LSTM block: [h; c]
}

TEST_CASE("discrete and continuous readings of one fixed point: (lambda - 1) / tau_l per layer",
          "[fixed-points][eigen]") {
  const Model m = test::random_model(2, {{CellType::Gru, 6}, {CellType::RnnTanh, 5}, {CellType::Lstm, 4}}, 5, 0.7);
  const VectorXd x = VectorXd::Constant(2, 0.3);
  const std::vector<double> tau = {0.5, 2.0, 7.0};
  const FixedPointSystem disc(m, x, TimeView::Discrete), cont(m, x, TimeView::Continuous, tau);
  // a fixed point (small weights: the map contracts towards one)
  const StartResult r = run_start(disc, VectorXd::Zero(disc.dim()), FinderOptions{});
  REQUIRE(r.status == StartStatus::Converged);
  CHECK(cont.q(r.state) < 1e-10);  // same fixed points in both views
  EigenOptions o;
  o.method = EigenMethod::Full;
  o.n_vectors = 0;
  const Spectrum sd = analyse_spectrum(disc, r.state, o), sc = analyse_spectrum(cont, r.state, o);
  VectorXcd mapped(sd.eigenvalues.size());
  Eigen::Index k = 0;
  for (int l = 0; l < 3; ++l)
    for (const auto& mu : sd.block_eigenvalues[static_cast<std::size_t>(l)])
      mapped[k++] = continuous_from_discrete(mu, tau[static_cast<std::size_t>(l)]);
  require_same_spectrum(sc.eigenvalues, mapped, 1e-8);
  // stable in one view iff in the other
  CHECK((sd.n_unstable == 0) == (sc.n_unstable == 0));
}

TEST_CASE("Spectra's matrix-free top-k agrees with the full solve", "[fixed-points][eigen]") {
  const Model m = test::random_model(2, {{CellType::RnnTanh, 40}, {CellType::Gru, 30}}, 9, 0.5);
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const bool per_block = GENERATE(true, false);  // per diagonal block, or through the whole stack
  const FixedPointSystem sys(m, VectorXd::Constant(2, 0.1), view, {1.0, 3.0});
  const VectorXd s = random_state(sys.dim(), 3);
  EigenOptions full, top;
  full.method = EigenMethod::Full;
  full.which = top.which = natural_order(view);
  top.method = EigenMethod::Spectra;
  top.spectra_per_block = per_block;
  top.top_k = 8;
  top.n_vectors = 4;
  const Spectrum a = analyse_spectrum(sys, s, full), b = analyse_spectrum(sys, s, top);
  REQUIRE(b.converged == 8);
  CHECK_FALSE(b.complete);
  REQUIRE(b.eigenvalues.size() == 8);
  // the top 8 of the full solve, up to the order within a conjugate pair at the boundary
  require_same_spectrum(b.eigenvalues.head(7), a.eigenvalues.head(8).head(7), 1e-7);
  const MatrixXcd J = sys.dynamics_jacobian(sys.linearize(s)).cast<std::complex<double>>();
  for (int i = 0; i < 4; ++i) {
    const auto l = b.eigenvalues[i];
    const VectorXcd v = b.right.col(i), w = b.left.col(i);
    CHECK((J * v - l * v).norm() < 1e-7);
    CHECK((J.transpose() * w - l * w).norm() < 1e-6 * std::max(1.0, w.norm()));
    CHECK(std::abs(std::complex<double>(w.transpose() * v) - 1.0) < 1e-8);
  }
}

TEST_CASE("Spectra per diagonal block: the block method's top k, with exact vectors", "[fixed-points][eigen]") {
  // mixed layer sizes: the GRU block (12 < k + 3) goes to dgeev, the others to Arnoldi
  const Model m =
      test::random_model(2, {{CellType::RnnTanh, 30}, {CellType::Gru, 12}, {CellType::Lstm, 20, true, false}}, 23, 0.9);
  const auto view = GENERATE(TimeView::Discrete, TimeView::Continuous);
  const auto which = GENERATE(EigenOrder::LargestMagnitude, EigenOrder::LargestReal);
  const FixedPointSystem sys(m, VectorXd::Constant(2, 0.3), view, {1.0, 0.5, 3.0});
  const VectorXd s = random_state(sys.dim(), 4);
  EigenOptions block, top;
  block.method = EigenMethod::Block;
  top.method = EigenMethod::Spectra;
  block.which = top.which = which;
  block.n_vectors = 0;
  top.top_k = 10;
  top.n_vectors = 6;
  const Spectrum a = analyse_spectrum(sys, s, block), b = analyse_spectrum(sys, s, top);
  REQUIRE(b.method == EigenMethod::Spectra);
  REQUIRE(b.converged == 10);
  CHECK_FALSE(b.complete);
  REQUIRE(b.eigenvalues.size() == 10);
  // the block method's top 10 (up to the order within a conjugate pair at the boundary)
  require_same_spectrum(b.eigenvalues.head(9), a.eigenvalues.head(9), 1e-9);
  for (int i = 0; i < 9; ++i) CHECK(std::abs(b.eigenvalues[i] - a.eigenvalues[i]) < 1e-9);
  const MatrixXcd J = sys.dynamics_jacobian(sys.linearize(s)).cast<std::complex<double>>();
  REQUIRE(b.right.cols() == 6);
  for (int i = 0; i < 6; ++i) {
    const auto l = b.eigenvalues[i];
    const VectorXcd v = b.right.col(i), w = b.left.col(i);
    INFO("mode " << i << ", lambda " << l);
    CHECK(std::abs(v.norm() - 1) < 1e-12);
    CHECK((J * v - l * v).norm() < 1e-8);
    CHECK((J.transpose() * w - l * w).norm() < 1e-8 * std::max(1.0, w.norm()));
    CHECK(std::abs(std::complex<double>(w.transpose() * v) - 1.0) < 1e-9);
  }
}

TEST_CASE("timescales and periods follow docs/design.md 4", "[fixed-points][eigen]") {
  VectorXcd l(3);
  l << std::polar(0.5, 0.25), std::complex<double>(-0.9, 0), std::complex<double>(1.0, 0);
  Eigen::VectorXd tau, period;
  timescales(l, TimeView::Discrete, tau, period);
  CHECK(tau[0] == Approx(-1 / std::log(0.5)));
  CHECK(period[0] == Approx(2 * std::numbers::pi / 0.25));
  CHECK(period[1] == Approx(2.0));
  CHECK(std::isinf(tau[2]));
  VectorXcd c(1);
  c << std::complex<double>(-0.2, 0.5);
  timescales(c, TimeView::Continuous, tau, period);
  CHECK(tau[0] == Approx(5.0));
  CHECK(period[0] == Approx(2 * std::numbers::pi / 0.5));
  CHECK(count_unstable(l, TimeView::Discrete) == 0);
  CHECK(count_unstable(VectorXcd::Constant(1, {1.01, 0}), TimeView::Discrete) == 1);
}
