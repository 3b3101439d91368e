// OpenBLAS's own threads versus stackdyn's. The dense eigen-solves go through LAPACK, which
// with OpenBLAS (Debian's libopenblas0-pthread) runs its kernels on every core. stackdyn also
// analyses many points at once in its own threads (parallel_for): with both, 2 workers x 2
// OpenBLAS threads on a 2-core machine would fight for the cores. The rule: while any
// parallel_for with more than one worker runs, OpenBLAS is set to one thread (the workers
// already use the cores); outside, one analysis at a time keeps OpenBLAS's own setting
// (OPENBLAS_NUM_THREADS, default every core). With another BLAS (reference LAPACK) the
// scope does nothing: openblas_set_num_threads is looked up at run time (dlsym).
#pragma once

namespace stackdyn {

/// OpenBLAS's current thread count, or 0 when the BLAS linked in is not OpenBLAS.
int blas_threads();

/// While at least one such scope is alive (in any thread), OpenBLAS runs single-threaded;
/// the last one to end restores the count found by the first.
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;
};

}  // namespace stackdyn
