#!/usr/bin/env bash
# The README's first command: install what is needed (Debian 12 packages), build, and run
# the main job on the embedded default model. Result: results/demo.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKDYN_BUILD_TESTS=OFF > build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >> build.log 2>&1 || { tail -50 build.log; exit 1; }
mkdir -p results
./build/stackdyn demo -o results/demo.h5
