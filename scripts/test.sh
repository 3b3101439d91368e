#!/usr/bin/env bash
# The README's second command (and what .ci/run runs): install what is needed, build with
# warnings as errors, run the tests; then build again under AddressSanitizer and
# UndefinedBehaviorSanitizer (clang; the same build gives the fuzz targets) and run the tests
# again; then the threaded tests under ThreadSanitizer (scripts/tsan.sh) and a short run of
# each fuzz target (scripts/fuzz.sh, two at a time on two cores).
# Each stage prints its wall time.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS
stage() { echo "== [$((SECONDS - start)) s] $*"; }
bash scripts/install-deps.sh --test
jobs=$(nproc)

stage "build (Release, -Werror)"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Release -DSTACKDYN_WERROR=ON -DSTACKDYN_REQUIRE_TORCH=ON > build-test.log 2>&1 \
  || { cat build-test.log; exit 1; }
cmake --build build-test -j"$jobs" >> build-test.log 2>&1 || { grep -E "error|Error" -A5 build-test.log | head -80; exit 1; }
stage "tests"
(cd build-test && ctest --output-on-failure -j"$jobs")

if [[ "${STACKDYN_SKIP_SANITIZERS:-0}" != 1 ]]; then
  # One clang build for ASan + UBSan and the fuzz targets (scripts/asan-build.sh).
  stage "build (clang: AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz targets, -Werror)"
  bash scripts/asan-build.sh
  stage "tests under sanitizers"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
     ctest --output-on-failure -j"$jobs")
fi
if [[ "${STACKDYN_SKIP_TSAN:-0}" != 1 ]]; then
  stage "ThreadSanitizer"
  bash scripts/tsan.sh
fi
if [[ "${STACKDYN_SKIP_FUZZ:-0}" != 1 ]]; then
  stage "fuzzing (${STACKDYN_FUZZ_SECONDS:-60} s per target)"
  bash scripts/fuzz.sh "${STACKDYN_FUZZ_SECONDS:-60}"
fi
stage "done"
