// Vectorised tanh (see activation.hpp).
#include <stackdyn/model/activation.hpp>

#include <algorithm>
#include <cmath>

#if defined(STACKDYN_HAVE_LIBMVEC) && defined(__AVX2__)
#include <immintrin.h>
// glibc's libmvec, x86_64 vector ABI, AVX2 variant ('d'), four lanes ('N4'), one vector argument.
extern "C" __m256d _ZGVdN4v_tanh(__m256d);
#define STACKDYN_VECTOR_TANH 1
#else
#define STACKDYN_VECTOR_TANH 0
#endif

namespace stackdyn {

void tanh_into(const ConstMatRef& in, MatRef out) {
  const Eigen::Index rows = in.rows();
  for (Eigen::Index c = 0; c < in.cols(); ++c) {
    const double* x = in.col(c).data();
    double* y = out.col(c).data();
#if STACKDYN_VECTOR_TANH
    Eigen::Index i = 0;
    for (; i + 4 <= rows; i += 4) _mm256_storeu_pd(y + i, _ZGVdN4v_tanh(_mm256_loadu_pd(x + i)));
    if (i < rows) {
      alignas(32) double buf[4] = {0, 0, 0, 0};
      std::copy(x + i, x + rows, buf);
      _mm256_store_pd(buf, _ZGVdN4v_tanh(_mm256_load_pd(buf)));
      std::copy(buf, buf + (rows - i), y + i);
    }
#else
    for (Eigen::Index i = 0; i < rows; ++i) y[i] = std::tanh(x[i]);
#endif
  }
}

}  // namespace stackdyn
