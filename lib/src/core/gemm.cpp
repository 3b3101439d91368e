// Large products through OpenBLAS's dgemm when its kernels fit the CPU (see gemm.hpp).
#include <stackdyn/core/error.hpp>
#include <stackdyn/core/gemm.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <limits>
#include <stdexcept>

// BLAS dgemm (Fortran convention: by pointer, the hidden lengths of the two characters last).
extern "C" void dgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                       const double* alpha, const double* a, const int* lda, const double* b, const int* ldb,
                       const double* beta, double* c, const int* ldc, std::size_t transa_len, std::size_t transb_len);

namespace stackdyn {
namespace {

struct Backend {
  bool blas = false;
  double min_work = gemm_blas_min_work;
  std::string why;
  Backend() {
    const char* force = std::getenv("STACKDYN_GEMM");
    const std::string f = force ? force : "";
    // OpenBLAS names the kernels it picked; another BLAS (reference) has no such function.
    using CoreName = char* (*)();
    const auto corename = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
    std::string core = corename ? corename() : "";
    if (f == "eigen") {
      why = "eigen (STACKDYN_GEMM=eigen)";
      return;
    }
    if (f == "blas") {  // every product, however small: the tests cover dgemm's side this way
      blas = true;
      min_work = 0.0;
      why = "blas for every product (STACKDYN_GEMM=blas" + (core.empty() ? std::string(")") : ", OpenBLAS " + core + " kernels)");
      return;
    }
    if (core.empty()) {
      why = "eigen (the BLAS is not OpenBLAS)";
      return;
    }
    std::string lower = core;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    // Kernels with AVX2/FMA or AVX-512: as fast as Eigen's or faster at these sizes.
    for (const char* good : {"haswell", "skylakex", "cooperlake", "sapphirerapids", "zen"})
      if (lower.rfind(good, 0) == 0) {
        blas = true;
        why = "blas (OpenBLAS " + core + " kernels)";
        return;
      }
    why = "eigen (OpenBLAS runs its " + core + " kernels on this CPU; set OPENBLAS_CORETYPE to better ones)";
  }
};

const Backend& backend() {
  static const Backend b;
  return b;
}

}  // namespace

std::string gemm_backend() { return backend().why; }

void gemm(const Eigen::Ref<const Eigen::MatrixXd>& A, bool ta, const Eigen::Ref<const Eigen::MatrixXd>& B, bool tb,
          Eigen::Ref<Eigen::MatrixXd> C, double alpha, double beta) {
  const Eigen::Index m = ta ? A.cols() : A.rows(), k = ta ? A.rows() : A.cols();
  const Eigen::Index kb = tb ? B.cols() : B.rows(), n = tb ? B.rows() : B.cols();
  if (k != kb || C.rows() != m || C.cols() != n)
    throw std::logic_error("gemm: operands of shapes that do not multiply");
  constexpr Eigen::Index int_max = std::numeric_limits<int>::max();
  const double work = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  if (backend().blas && work >= backend().min_work && work > 0 && std::max({A.outerStride(), B.outerStride(), C.outerStride(), m, n, k}) < int_max) {
    const int mi = static_cast<int>(m), ni = static_cast<int>(n), ki = static_cast<int>(k);
    const int lda = static_cast<int>(std::max<Eigen::Index>(A.outerStride(), 1));
    const int ldb = static_cast<int>(std::max<Eigen::Index>(B.outerStride(), 1));
    const int ldc = static_cast<int>(std::max<Eigen::Index>(C.outerStride(), 1));
    dgemm_(ta ? "T" : "N", tb ? "T" : "N", &mi, &ni, &ki, &alpha, A.data(), &lda, B.data(), &ldb, &beta, C.data(), &ldc, 1, 1);
    return;
  }
  // Eigen, as the products were written before: C = A B, C += A B, or the general form.
  const auto product = [&](auto&& a, auto&& b) {
    if (beta == 0.0 && alpha == 1.0)
      C.noalias() = a * b;
    else if (beta == 1.0 && alpha == 1.0)
      C.noalias() += a * b;
    else {
      if (beta == 0.0)
        C.setZero();
      else if (beta != 1.0)
        C *= beta;
      C.noalias() += alpha * (a * b);
    }
  };
  if (!ta && !tb) product(A, B);
  else if (ta && !tb) product(A.transpose(), B);
  else if (!ta && tb) product(A, B.transpose());
  else product(A.transpose(), B.transpose());
}

}  // namespace stackdyn
