#!/usr/bin/python3
"""The flip-flop benchmark of issue 4: FixedPointFinder's approach (Adam on q, its defaults,
scripts/fixed_point_finder_reference.py) against stackdyn on the same 1024 starts, sampled
from trajectories of the trained GRU with noise 0.5.

    /usr/bin/python3 scripts/bench_fixed_points.py --build BUILD_DIR [--model tests/data/flipflop/gru16.model.h5]

BUILD_DIR must hold the programs stackdyn and tests/benchmarks/bench_fixed_points (configure
with -DSTACKDYN_BUILD_BENCHMARKS=ON). Prints, per method: time, fraction of starts with
q < 1e-12, unique points (stable, index-1 saddles), and the wall time of the whole
`stackdyn fixed-points` command (process start, file I/O and eigen-analysis included).
Figures depend on the machine and its load: read them as indicative.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fixed_point_finder_reference as ref  # noqa: E402
import model_to_torch  # noqa: E402
from train_flipflop import flipflop_batch  # noqa: E402


def sample_starts(module, n=1024, noise=0.5, seed=0):
    """States from trajectories of the network driven by the task, plus N(0, noise^2)."""
    gen = torch.Generator().manual_seed(seed)
    x, _ = flipflop_batch(gen, 64, 128)
    with torch.no_grad():
        h, _ = module(x.double())
    states = h.reshape(-1, h.shape[-1])
    idx = torch.randperm(states.shape[0], generator=gen)[:n]
    return (states[idx] + noise * torch.randn(n, states.shape[1], generator=gen, dtype=torch.float64)).numpy()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "flipflop", "gru16.model.h5"))
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    module = model_to_torch.build_module(model_to_torch.read_model(args.model)).double()
    with tempfile.TemporaryDirectory() as work:
        starts_path = os.path.join(work, "starts.h5")
        with h5py.File(starts_path, "w") as f:
            f["states"] = sample_starts(module, args.n, 0.5, args.seed)
        print(f"{args.n} starts from flip-flop trajectories of {os.path.relpath(args.model)} with noise 0.5 "
              f"(seed {args.seed}); input zero; threads {args.threads}\n")
        ref.main([args.model, starts_path, "--threads", str(args.threads)])
        print()
        bench = os.path.join(args.build, "tests", "benchmarks", "bench_fixed_points")
        subprocess.run([bench, "finder", args.model, starts_path, "--threads", str(args.threads)], check=True)
        out = os.path.join(work, "fp.h5")
        t0 = time.perf_counter()
        r = subprocess.run([os.path.join(args.build, "stackdyn"), "fixed-points", args.model, "-o", out,
                            "--initial-states", starts_path, "--threads", str(args.threads)],
                           check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        print(f"\nstackdyn fixed-points (lm, whole command): {wall:.3f} s wall\n{r.stdout}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
