#!/usr/bin/env bash
# The README's first command: install what is needed (Debian 12 packages), build, and run the
# main job, `stackdyn pipeline` with its embedded default configuration
# (data/pipeline_default.toml): train a 3-layer GRU stack on the multiscale task, analyse it
# and its initialisation, draw the figures and write the report. Result: results/pipeline/
# (report.html, summary.json, one HDF5 file per analysis; docs/pipeline.md).
# Run again, it skips what is complete; interrupted, it continues where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKDYN_BUILD_TESTS=OFF > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
mkdir -p results
./build/stackdyn pipeline -o results/pipeline "$@"
