#!/usr/bin/env bash
# Runs each libFuzzer target of tests/fuzz for a while (default 60 s, or the first argument,
# or STACKDYN_FUZZ_SECONDS), as many at a time as there are cores, starting from the
# committed corpus tests/fuzz/corpus/<target>. The targets come from CI's one sanitizer build
# (scripts/asan-build.sh: clang, ASan + UBSan, the library instrumented for libFuzzer), which
# this builds (only the fuzz targets) if scripts/test.sh has not. New interesting inputs go to
# build-asan/corpus/<target> (not committed); failing inputs are saved under
# build-asan/crashes/<target>/ and triaged (inside libhdf5: listed; elsewhere: the script
# fails). Fix it, then commit the input to tests/fuzz/corpus/<target>/ so that the normal
# tests replay it.
#   scripts/fuzz.sh [SECONDS] [TARGET ...]    targets: model_file input_file config sweep_file
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-${STACKDYN_FUZZ_SECONDS:-60}}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(model_file input_file config sweep_file)
jobs=$(nproc)
dir=${STACKDYN_ASAN_BUILD_DIR:-build-asan}

echo "== build (clang, ASan + UBSan, libFuzzer targets)"
bash scripts/asan-build.sh fuzz_targets

# OpenBLAS single-threaded (nothing here needs its threads).
export OPENBLAS_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:suppressions=$PWD/tests/fuzz/asan_suppressions.txt}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan_suppressions.txt}
failed=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Inputs past 64 KiB add nothing a smaller one cannot reach; 2 GiB of memory and 10 s per
# input bound what an input may ask for. Fork mode (one worker) goes on after a failing
# input, so that each is triaged below: HDF5 1.10 itself loops on or misreads some damaged
# files (known CVEs), which no caller can prevent; an input whose failure happens inside
# libhdf5 is listed as HDF5's, any other fails the script.
run_target() {
  local t=$1
  rm -rf "$dir/crashes/$t"
  mkdir -p "$dir/corpus/$t" "$dir/crashes/$t"
  "$dir/tests/fuzz/fuzz_$t" -fork=1 -ignore_timeouts=1 -ignore_crashes=1 -ignore_ooms=1 \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
    -artifact_prefix="$dir/crashes/$t/" "$dir/corpus/$t" "tests/fuzz/corpus/$t" > "$dir/fuzz_$t.log" 2>&1 || true
}
# One fuzzing process per core (each target's fork-mode parent mostly waits on its worker).
running=0
for t in "${targets[@]}"; do
  if ((running >= jobs)); then wait -n || true; running=$((running - 1)); fi
  echo "== fuzz_$t for ${seconds} s"
  run_target "$t" &
  running=$((running + 1))
done
wait
for t in "${targets[@]}"; do
  echo "== fuzz_$t"
  grep -E "^#[0-9]+: cov: .* exec/s" "$dir/fuzz_$t.log" | tail -1 || true
  for f in "$dir/crashes/$t"/*; do
    [[ -e "$f" ]] || continue
    report=$("$dir/tests/fuzz/fuzz_$t" -timeout=10 -rss_limit_mb=2048 "$f" 2>&1 || true)
    # the first frame that is neither the sanitizer's, libFuzzer's nor libc's
    frame=$(grep -E "^ +#[0-9]+ " <<< "$report" \
            | grep -vE "__interceptor_|__sanitizer|__asan|__ubsan|fuzzer::|libc\.so|libc_start|AlarmCallback|sysdeps/|__mem(cpy|move|set)| in (malloc|calloc|realloc) " | head -1 || true)
    if ! grep -qE "ERROR|runtime error" <<< "$report"; then
      # e.g. an out-of-memory by RSS seen under fork mode's load: the input alone runs clean
      echo "fuzz_$t: $f does not fail when run again on its own"
    elif grep -q "libhdf5" <<< "$frame"; then
      echo "fuzz_$t: $f fails inside HDF5: $frame"
    else
      grep -E "ERROR|runtime error|SUMMARY" <<< "$report" | head -5
      echo "fuzz_$t: $f fails in stackdyn: $frame"
      failed=1
    fi
  done
done
if ((failed)); then echo "== fuzzing found failing inputs in stackdyn (above)"; exit 1; fi
echo "== fuzzing found nothing in stackdyn"
