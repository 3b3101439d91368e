// The large matrix-matrix products of the hot paths (input projections over all steps, the
// recurrent products of batched steps, weight gradients), routed to OpenBLAS's dgemm when
// that is faster: Eigen's kernels are AVX2 (the library is built with EIGEN_MAX_ALIGN_BYTES=32)
// and reach about 28 GFLOP/s on an AVX-512 core whose OpenBLAS dgemm reaches 67.
//
// C = alpha op(A) op(B) + beta C with op(X) = X or X^T; every operand column-major with unit
// inner stride (blocks of column-major matrices), C already of the product's size. The BLAS
// takes a product when m n k >= gemm_blas_min_work and OpenBLAS runs kernels built for this
// CPU (Haswell or later). Debian's OpenBLAS 0.3.21 does not recognise some newer CPUs and
// falls back to its Prescott kernels (13 GFLOP/s on the same core): then Eigen keeps every
// product, unless OPENBLAS_CORETYPE names the right kernels (SkylakeX, Haswell, Zen, ...).
// Small products stay with Eigen, with the same expressions as before, so their results are
// unchanged. In the environment, STACKDYN_GEMM=eigen keeps every product with Eigen and
// STACKDYN_GEMM=blas sends every product, however small, to dgemm (the tests run the
// training and sequence tests so, to cover that side).
#pragma once
#include <Eigen/Core>

#include <string>

namespace stackdyn {

inline constexpr double gemm_blas_min_work = 262144.0;  // m n k: a 64^3 product

void gemm(const Eigen::Ref<const Eigen::MatrixXd>& A, bool transpose_a, const Eigen::Ref<const Eigen::MatrixXd>& B,
          bool transpose_b, Eigen::Ref<Eigen::MatrixXd> C, double alpha = 1.0, double beta = 0.0);

/// Where large products go ("blas" or "eigen") and why, e.g. "blas (OpenBLAS SkylakeX kernels)".
std::string gemm_backend();

}  // namespace stackdyn
