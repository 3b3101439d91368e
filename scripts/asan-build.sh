#!/usr/bin/env bash
# The one sanitizer build of CI: clang, Debug -O1 -g1, AddressSanitizer + UndefinedBehaviorSanitizer
# and -Werror, every object also instrumented for libFuzzer (-fsanitize=fuzzer-no-link), so
# that the same build gives the tests (scripts/test.sh runs them under the sanitizers) and the
# fuzz targets (scripts/fuzz.sh, linked with -fsanitize=fuzzer). Debug keeps Eigen's own
# bounds and size assertions on; -O1 -g1 keeps the build and the tests fast enough for CI.
#   scripts/asan-build.sh [TARGET ...]    default: everything (the tests and the fuzz targets)
# Builds in ${STACKDYN_ASAN_BUILD_DIR:-build-asan}; its log is <dir>.log.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${STACKDYN_ASAN_BUILD_DIR:-build-asan}
targets=()
for t in "$@"; do targets+=(--target "$t"); done
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1" \
  -DSTACKDYN_WERROR=ON -DSTACKDYN_SANITIZE=ON -DSTACKDYN_FUZZ=ON -DSTACKDYN_REQUIRE_TORCH=ON > "$dir.log" 2>&1 \
  || { cat "$dir.log"; exit 1; }
cmake --build "$dir" -j"$(nproc)" "${targets[@]}" >> "$dir.log" 2>&1 \
  || { grep -E "error|Error" -A5 "$dir.log" | head -80; exit 1; }
