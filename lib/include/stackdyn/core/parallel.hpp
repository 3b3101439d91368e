// Independent tasks on a few threads: parallel_for(n, threads, f) calls f(i) for i in [0, n)
// with dynamic scheduling. The first exception thrown by a task stops the hand-out of new
// tasks and is rethrown in the caller once the running ones finish. With more than one
// worker, OpenBLAS runs single-threaded meanwhile (blas_threads.hpp): no oversubscription.
#pragma once
#include <stackdyn/core/blas_threads.hpp>

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace stackdyn {

/// Threads to use when the user says 0 ("all"): the hardware's count, at least 1.
inline int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

/// `Thread` is std::thread; a test substitutes one whose creation fails. When creating a
/// worker throws (std::system_error: no resources for a thread), the workers already started
/// stop after their current task, are joined, and the creation error is rethrown.
template <class Thread = std::thread, class F>
void parallel_for(std::size_t n, int threads, F&& f) {
  if (threads <= 0) threads = default_threads();
  const std::size_t workers = std::min<std::size_t>(static_cast<std::size_t>(threads), n);
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  const SerialBlasScope serial_blas;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (std::size_t i; !failed && (i = next.fetch_add(1)) < n;) {
      try {
        f(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<Thread> pool;
  pool.reserve(workers - 1);
  try {
    for (std::size_t w = 1; w < workers; ++w) pool.emplace_back(work);
  } catch (...) {
    // A joinable thread destroyed during unwinding would call std::terminate.
    failed = true;
    for (auto& t : pool) t.join();
    throw;
  }
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace stackdyn
