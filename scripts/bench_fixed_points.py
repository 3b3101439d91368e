#!/usr/bin/python3
"""The flip-flop benchmark: FixedPointFinder's default optimisation
(scripts/fixed_point_finder_reference.py: joint Adam over all starts, float32, adaptive
learning rate and gradient-norm clipping, tol_q 1e-12, max_iters 5000) against stackdyn's
finder on the same 1024 starts, sampled from trajectories of the trained GRU with noise 0.5.

    /usr/bin/python3 scripts/bench_fixed_points.py --build BUILD_DIR [--rounds 5] [--threads 2]
        [--model tests/data/flipflop/gru16.model.h5] [--all-methods]

BUILD_DIR must hold the programs stackdyn and tests/benchmarks/bench_fixed_points (configure
with -DSTACKDYN_BUILD_BENCHMARKS=ON). Both sides use the same number of threads. The
machine's speed drifts by +-20% over minutes, so the two are measured alternately, --rounds
times (the reference on --threads and on one thread, stackdyn's finder, the whole
`stackdyn fixed-points` command, then again), each in a fresh process, and the median of the
per-round ratios is reported, against the reference on the same threads and against the
faster of its two runs (torch on 2 threads of a busy 2-core machine can be slower than on
one):

- optimisation time: the reference's loop (no torch import, model loading or
  post-processing) against stackdyn's run_starts (lm, both threads; no file reading);
- the whole `stackdyn fixed-points` command's wall time (process start, reading, search,
  deduplication, eigen-analysis of every point, writing FP.h5) against the same reference
  optimisation time.

Then, once: the reference's full report (unique points, their stability, q in float32 and
float64) and stackdyn's per-method table (--all-methods adds hybrid and adam; adam takes
minutes). Figures depend on the machine and its load: read them as indicative.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import model_to_torch  # noqa: E402
from train_flipflop import flipflop_batch  # noqa: E402


def sample_starts(module, n=1024, noise=0.5, seed=0):
    """States from trajectories of the network driven by the task, plus N(0, noise^2) (as
    FixedPointFinder's sample_states: uniform over trials and time steps, then noise)."""
    gen = torch.Generator().manual_seed(seed)
    x, _ = flipflop_batch(gen, 64, 128)
    with torch.no_grad():
        h, _ = module(x.double())
    states = h.reshape(-1, h.shape[-1])
    idx = torch.randperm(states.shape[0], generator=gen)[:n]
    return (states[idx] + noise * torch.randn(n, states.shape[1], generator=gen, dtype=torch.float64)).numpy()


def run(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def finder_row(table, method):
    """The row of `method` in bench_fixed_points finder's table, as a dict."""
    lines = [ln.split() for ln in table.splitlines() if ln.strip()]
    header = next(ln for ln in lines if ln[0] == "method")
    row = next(ln for ln in lines if ln[0] == method)
    return dict(zip(header, row))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "tests", "data", "flipflop", "gru16.model.h5"))
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--all-methods", action="store_true", help="also stackdyn's hybrid and adam in the table")
    args = ap.parse_args(argv)
    module = model_to_torch.build_module(model_to_torch.read_model(args.model)).double()
    reference = [sys.executable, os.path.join(HERE, "fixed_point_finder_reference.py")]
    bench = os.path.join(args.build, "tests", "benchmarks", "bench_fixed_points")
    stackdyn = os.path.join(args.build, "stackdyn")
    with tempfile.TemporaryDirectory() as work:
        starts = os.path.join(work, "starts.h5")
        with h5py.File(starts, "w") as f:
            f["states"] = sample_starts(module, args.n, 0.5, args.seed)
        threads = ["--threads", str(args.threads)]
        print(f"{args.n} starts from flip-flop trajectories of {os.path.relpath(args.model)} with noise 0.5 "
              f"(seed {args.seed}); input zero; {args.threads} threads on both sides; load average "
              f"{os.getloadavg()[0]:.2f} at the start\n")
        # torch with 2 threads on a busy 2-core machine can be several times slower than with
        # one: the reference also runs on one thread, and the faster of the two is compared too.
        ref_threads = [args.threads] + ([1] if args.threads != 1 else [])
        print(f"{'round':>5} " + " ".join(f"{f'ref {t}T s':>10}" for t in ref_threads) +
              f" {'iters':>6} {'q<1e-12':>8} {'lm s':>8} {'q<1e-12':>8} {'command s':>10} {'opt':>8} {'cmd':>8}"
              f" {'opt best':>9} {'cmd best':>9}")
        rows = []
        for k in range(args.rounds):
            r = {}
            for t in ref_threads:
                ref_s, ref_it, ref_ok, _ = run(reference + [args.model, starts, "--quiet", "--threads", str(t)]).split()
                r[f"ref{t}"], r["iters"], r["ref_ok"] = float(ref_s), int(ref_it), float(ref_ok)
            lm = finder_row(run([bench, "finder", args.model, starts, "--methods", "lm"] + threads), "lm")
            t0 = time.perf_counter()
            run([stackdyn, "fixed-points", args.model, "-o", os.path.join(work, "fp.h5"), "--initial-states", starts]
                + threads)
            r["cmd"] = time.perf_counter() - t0
            r["lm"], r["lm_ok"] = float(lm["seconds"]), float(lm["q<tol"].rstrip("%")) / 100
            ref, best = r[f"ref{args.threads}"], min(r[f"ref{t}"] for t in ref_threads)
            r["opt"], r["cmd_ratio"], r["opt_best"], r["cmd_best"] = ref / r["lm"], ref / r["cmd"], best / r["lm"], \
                best / r["cmd"]
            rows.append(r)
            print(f"{k + 1:>5} " + " ".join(f"{r[f'ref{t}']:>10.3f}" for t in ref_threads) +
                  f" {r['iters']:>6} {100 * r['ref_ok']:>7.1f}% {r['lm']:>8.4f} {100 * r['lm_ok']:>7.1f}% "
                  f"{r['cmd']:>10.3f} {r['opt']:>7.1f}x {r['cmd_ratio']:>7.1f}x {r['opt_best']:>8.1f}x "
                  f"{r['cmd_best']:>8.1f}x")
        med = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
        print(f"{'median':>5} " + " ".join(f"{med[f'ref{t}']:>10.3f}" for t in ref_threads) +
              f" {'':>6} {'':>8} {med['lm']:>8.4f} {'':>8} {med['cmd']:>10.3f} {med['opt']:>7.1f}x "
              f"{med['cmd_ratio']:>7.1f}x {med['opt_best']:>8.1f}x {med['cmd_best']:>8.1f}x")
        print(f"\nmedian of the per-round speed-ups of stackdyn ({args.threads} threads) over the reference: "
              f"{med['opt']:.1f}x in optimisation time and {med['cmd_ratio']:.1f}x for the whole `stackdyn "
              f"fixed-points` command against the reference on {args.threads} threads; {med['opt_best']:.1f}x and "
              f"{med['cmd_best']:.1f}x against the faster of its runs on {' and '.join(map(str, ref_threads))} "
              f"threads. Load average {os.getloadavg()[0]:.2f} at the end.\n")
        print(run(reference + [args.model, starts] + threads))
        methods = "lm,hybrid,adam" if args.all_methods else "lm"
        print(run([bench, "finder", args.model, starts, "--methods", methods] + threads))
        out = os.path.join(work, "fp.h5")
        print("stackdyn fixed-points (lm, whole command):\n" +
              run([stackdyn, "fixed-points", args.model, "-o", out, "--initial-states", starts] + threads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
