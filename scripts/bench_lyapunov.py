#!/usr/bin/python3
"""The Lyapunov benchmark: `stackdyn lyapunov` against the numpy/scipy QR loop a user would
otherwise write, measured alternately in one run, reporting median ratios.

  /usr/bin/python3 scripts/bench_lyapunov.py build/stackdyn [--steps 500] [--rounds 3]

Systems: 3-layer vanilla tanh stacks (spectral radii 1.5, 1.2, 0.9, torch's uniform
initialisation, no input), discrete map, one trajectory, QR after every step.
- 3 x 64 (192 states), all exponents: the numpy loop (per step the dense block
  lower-triangular Jacobian from the layers' derivatives, Q = J @ Q, numpy.linalg.qr, sum of
  log|diag R|) against `stackdyn lyapunov` (whole command: start-up, file output), on its
  default route for all exponents (`layers`: each layer's own block, the spectrum their
  union) and on `--route full` (the same algorithm as the numpy loop).
- 3 x 256 (768 states): stackdyn all exponents (both routes) against stackdyn top 10.
Both sides one thread (OPENBLAS_NUM_THREADS=1; stackdyn --threads 1), float64. Each round
times every contender once; the ratio of each round is kept and the median reported, because
the machine's clock drifts. The exponents of the two routes are compared (the same initial
state; different random tangent bases, so they agree to the estimator's O(1/steps)).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402  (one thread, OpenBLAS's best kernels: before numpy)

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def make_model(exe, work, units):
    toml = os.path.join(work, "m%d.toml" % units)
    with open(toml, "w") as f:
        f.write("input_size = 1\nseed = 1\n")
        for rho in (1.5, 1.2, 0.9):
            f.write('[[layers]]\ncell = "rnn_tanh"\nhidden_size = %d\nspectral_radius = %g\n' % (units, rho))
    path = os.path.join(work, "m%d.h5" % units)
    subprocess.run([exe, "init", toml, "-o", path], check=True, stdout=subprocess.DEVNULL)
    return path


def numpy_lyapunov(path, s0, steps):
    with h5py.File(path) as f:
        layers = [{k: f["layers/%d/%s" % (l, k)][...] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
                  for l in range(3)]
    n = layers[0]["weight_hh"].shape[0]
    N = 3 * n
    h = [s0[l * n:(l + 1) * n].copy() for l in range(3)]
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((N, N)))[0]
    J = np.zeros((N, N))
    sums = np.zeros(N)
    x = np.zeros(1)
    for _ in range(steps):
        u = x
        for l, p in enumerate(layers):
            h[l] = np.tanh(p["weight_ih"] @ u + p["bias_ih"] + p["weight_hh"] @ h[l] + p["bias_hh"])
            d = 1 - h[l] ** 2
            r = slice(l * n, (l + 1) * n)
            J[r, r] = d[:, None] * p["weight_hh"]
            if l > 0:  # through the new state below: D_l U_l J[l-1, :l]
                J[r, :l * n] = d[:, None] * (p["weight_ih"] @ J[(l - 1) * n:l * n, :l * n])
            u = h[l]
        Q, R = np.linalg.qr(J @ Q)
        sums += np.log(np.abs(np.diag(R)))
    return np.sort(sums / steps)[::-1]


def timed(f):
    t = time.perf_counter()
    out = f()
    return time.perf_counter() - t, out


def run_stackdyn(exe, model, states, out, steps, k=None, route=None):
    cmd = [exe, "lyapunov", model, "-o", out, "--steps", str(steps), "--threads", "1", "--initial-states", states]
    if k:
        cmd += ["--k", str(k)]
    if route:
        cmd += ["--route", route]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with h5py.File(out) as f:
        return f["exponents"][...]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stackdyn")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--steps-large", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    exe = os.path.abspath(a.stackdyn)
    with tempfile.TemporaryDirectory() as work:
        small = make_model(exe, work, 64)
        large = make_model(exe, work, 256)
        rng = np.random.default_rng(1)
        states = {}
        for units, path in ((64, small), (256, large)):
            s0 = 0.5 * rng.standard_normal(3 * units)
            states[units] = (s0, os.path.join(work, "s%d.h5" % units))
            with h5py.File(states[units][1], "w") as f:
                f["states"] = s0[None, :]
        out = os.path.join(work, "ly.h5")
        # the machine's dgemm rate, one thread, for the GFLOP/s figures below
        A = np.random.default_rng(2).standard_normal((1000, 1000))
        dgemm = max(2e9 / timed(lambda: A @ A)[0] for _ in range(5)) / 1e9
        print("numpy/OpenBLAS (%s) dgemm 1000^3, one thread: %.1f GFLOP/s" % (bench_env.CORETYPE, dgemm))
        # stackdyn's work per step on the layers route: per layer the block times the basis
        # (2 n^3), the Gram matrix (n^3, symmetric) and the triangular solve (n^3)
        flop_layers = 3 * 4.0 * 64 ** 3
        ratios, ratios_full, ratios_k, ratios_kl, rates = [], [], [], [], []
        for r in range(a.rounds):
            t_np, ex_np = timed(lambda: numpy_lyapunov(small, states[64][0], a.steps))
            t_sd, ex_sd = timed(lambda: run_stackdyn(exe, small, states[64][1], out, a.steps))
            t_full, ex_full = timed(lambda: run_stackdyn(exe, small, states[64][1], out, a.steps, route="full"))
            t_all, _ = timed(lambda: run_stackdyn(exe, large, states[256][1], out, a.steps_large))
            t_allf, _ = timed(lambda: run_stackdyn(exe, large, states[256][1], out, a.steps_large, route="full"))
            t_k, _ = timed(lambda: run_stackdyn(exe, large, states[256][1], out, a.steps_large, k=10))
            ratios.append(t_np / t_sd)
            ratios_full.append(t_np / t_full)
            ratios_k.append(t_allf / t_k)
            ratios_kl.append(t_all / t_k)
            rates.append(flop_layers * a.steps / t_sd / 1e9)
            print("round %d: 3x64 all, %d steps: numpy %.3f s; stackdyn layers route %.3f s (%.1fx), full route %.3f s "
                  "(%.1fx); 3x256, %d steps: all (full) %.3f s, all (layers) %.3f s, top 10 %.3f s (%.1fx the full, "
                  "%.1fx the layers route); largest exponent numpy %.5f, layers %.5f, full %.5f; max gap to numpy "
                  "layers %.2e, full %.2e"
                  % (r, a.steps, t_np, t_sd, t_np / t_sd, t_full, t_np / t_full, a.steps_large, t_allf, t_all, t_k,
                     t_allf / t_k, t_all / t_k, ex_np[0], ex_sd[0], ex_full[0], np.max(np.abs(ex_np - ex_sd)),
                     np.max(np.abs(ex_np - ex_full))), flush=True)
        print("median: stackdyn %.1fx the numpy loop at 3 x 64, all exponents, layers route (the default; full route "
              "%.1fx; target 20x), whole command at %.1f GFLOP/s of the layers route's products (dgemm %.1f); top 10 "
              "%.1fx faster than all exponents by the full route at 3 x 256 (%.1fx than the layers route; target 5x)"
              % (statistics.median(ratios), statistics.median(ratios_full), statistics.median(rates), dgemm,
                 statistics.median(ratios_k), statistics.median(ratios_kl)))
        with open("/proc/loadavg") as f:
            print("load average:", f.read().split()[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
