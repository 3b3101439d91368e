// core/gemm: every transposition, alpha and beta, on blocks with outer strides, against the
// product summed term by term. ctest runs this file twice: as it comes (small products with
// Eigen, large ones wherever the CPU's kernels send them) and, as gemm_through_blas, with
// STACKDYN_GEMM=blas (every product through dgemm), beside the training and sequence tests.
#include <catch2/catch.hpp>
#include <stackdyn/core/gemm.hpp>

#include <random>

using Eigen::MatrixXd;

TEST_CASE("gemm equals the product summed term by term", "[gemm]") {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(-1, 1);
  const auto random = [&](Eigen::Index r, Eigen::Index c) {
    MatrixXd m(r, c);
    for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
    return m;
  };
  INFO("large products: " << stackdyn::gemm_backend());
  for (const auto& [m, n, k] : {std::tuple{3, 2, 4}, std::tuple{70, 65, 80}, std::tuple{130, 33, 90}})
    for (bool ta : {false, true})
      for (bool tb : {false, true})
        for (const auto& [alpha, beta] : {std::pair{1.0, 0.0}, std::pair{1.0, 1.0}, std::pair{-0.5, 0.25}}) {
          INFO(m << " x " << n << " x " << k << " ta " << ta << " tb " << tb << " alpha " << alpha << " beta " << beta);
          // operands as blocks of larger matrices: outer strides differ from the rows
          const MatrixXd Abig = random((ta ? k : m) + 3, (ta ? m : k) + 2), Bbig = random((tb ? n : k) + 5, (tb ? k : n) + 1);
          const auto A = Abig.block(2, 1, ta ? k : m, ta ? m : k);
          const auto B = Bbig.block(1, 0, tb ? n : k, tb ? k : n);
          MatrixXd Cbig = random(m + 4, n + 2);
          const MatrixXd C0 = Cbig;
          stackdyn::gemm(A, ta, B, tb, Cbig.block(3, 1, m, n), alpha, beta);
          double worst = 0;
          for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
              long double sum = 0;
              for (int l = 0; l < k; ++l)
                sum += static_cast<long double>(ta ? A(l, i) : A(i, l)) * static_cast<long double>(tb ? B(j, l) : B(l, j));
              const long double want = alpha * sum + beta * static_cast<long double>(C0(3 + i, 1 + j));
              worst = std::max(worst, static_cast<double>(std::abs(static_cast<long double>(Cbig(3 + i, 1 + j)) - want)));
            }
          CHECK(worst < 1e-13 * k);
          // nothing outside the block is touched
          MatrixXd outside = Cbig - C0;
          outside.block(3, 1, m, n).setZero();
          CHECK(outside.cwiseAbs().maxCoeff() == 0.0);
        }
  MatrixXd C(2, 2);
  CHECK_THROWS(stackdyn::gemm(MatrixXd(2, 3), false, MatrixXd(2, 2), false, C));
}
