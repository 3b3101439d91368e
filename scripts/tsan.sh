#!/usr/bin/env bash
# ThreadSanitizer: builds the test program with -fsanitize=thread and runs the tests that use
# threads (tagged [threads]: parallel fixed-point starts and analyses, sweeps in threads, a
# shared input signal, parallel_for). OpenBLAS is not instrumented and synchronises its own
# threads by spinning: it runs single-threaded here.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
echo "== build (ThreadSanitizer)"
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" -DSTACKDYN_TSAN=ON \
  -DSTACKDYN_WITH_MPI=OFF > build-tsan.log 2>&1 || { cat build-tsan.log; exit 1; }
cmake --build build-tsan -j"$jobs" --target stackdyn_tests >> build-tsan.log 2>&1 \
  || { grep -E "error" -A5 build-tsan.log | head -80; exit 1; }
echo "== tests tagged [threads] under ThreadSanitizer"
OPENBLAS_NUM_THREADS=1 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}" \
  build-tsan/tests/stackdyn_tests "[threads]"
