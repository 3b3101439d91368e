// OpenBLAS thread control (see blas_threads.hpp).
#include <stackdyn/core/blas_threads.hpp>

#include <dlfcn.h>

#include <mutex>

namespace stackdyn {
namespace {

// OpenBLAS's controls, looked up at run time (null when the LAPACK in use is another one,
// e.g. Debian's reference liblapack3 selected by update-alternatives).
struct OpenBlas {
  void (*set)(int) = nullptr;
  int (*get)() = nullptr;
  OpenBlas() {
    set = reinterpret_cast<void (*)(int)>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
    get = reinterpret_cast<int (*)()>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
    if (!set || !get) set = nullptr, get = nullptr;
  }
};

const OpenBlas& openblas() {
  static const OpenBlas o;
  return o;
}

std::mutex scope_mutex;
int active_scopes = 0;
int saved_threads = 0;

}  // namespace

int blas_threads() { return openblas().get ? openblas().get() : 0; }

SerialBlasScope::SerialBlasScope() {
  const OpenBlas& ob = openblas();
  if (!ob.set) return;
  std::lock_guard<std::mutex> lock(scope_mutex);
  if (active_scopes++ == 0) {
    saved_threads = ob.get();
    ob.set(1);
  }
}

SerialBlasScope::~SerialBlasScope() {
  const OpenBlas& ob = openblas();
  if (!ob.set) return;
  std::lock_guard<std::mutex> lock(scope_mutex);
  if (--active_scopes == 0 && saved_threads > 0) ob.set(saved_threads);
}

}  // namespace stackdyn
