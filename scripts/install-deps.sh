#!/usr/bin/env bash
# Installs stackdyn's build and test dependencies from Debian 12's packages (nothing else).
#   scripts/install-deps.sh          build dependencies and the main job's figures (Python, h5py, matplotlib)
#   scripts/install-deps.sh --test   also python3-torch/h5py/scipy for the end-to-end tests, OpenMPI, clang's libFuzzer
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      libboost-dev libeigen3-dev libspectra-dev libhdf5-dev
      catch2 libcli11-dev libtomlplusplus-dev
      liblapack-dev libopenblas-dev libopenblas0-pthread   # dense eigen-solves: dgeev through OpenBLAS
      python3 python3-numpy python3-h5py python3-matplotlib)  # the main job's figures (scripts/pipeline_figures.py)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(python3 python3-numpy python3-h5py python3-torch python3-scipy python3-matplotlib
        libopenmpi-dev openmpi-bin   # MPI is optional for the build; CI tests `mpirun -n 2 stackdyn sweep`
        clang libclang-rt-14-dev)    # scripts/fuzz.sh: libFuzzer with ASan + UBSan
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Skip the (slow) network round trip when everything is already there.
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
