#!/usr/bin/python3
"""Runs tests/benchmarks/bench_simulate and scipy's solve_ivp on the same systems (3-layer
vanilla tanh stacks, sinusoidal input, t in [0, 200]) and prints times, ratios and errors.

  cmake -S . -B build -DSTACKDYN_BUILD_BENCHMARKS=ON && cmake --build build -j
  /usr/bin/python3 scripts/bench_simulate.py build/tests/benchmarks/bench_simulate [N ...]

Non-stiff: stackdyn dopri5 vs scipy RK45, rtol 1e-6, atol 1e-9. Stiff (layer 2's tau = 0.01):
stackdyn rosenbrock4 vs scipy BDF, both with the analytic Jacobian. Errors are the max
difference of the final state from a tight reference (scipy DOP853 at 1e-12).
"""
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np
from scipy.integrate import solve_ivp

SIN = [(0, 1.0, 0.05, 0.0), (1, 0.5, 0.13, 1.0)]


def load(path):
    with h5py.File(path) as f:
        return [{k: f[f"layers/{l}/{k}"][...] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
                for l in range(3)]


def system(layers, tau):
    n = layers[0]["weight_hh"].shape[0]
    inv_tau = np.repeat(1.0 / np.broadcast_to(np.asarray(tau, dtype=float), (3,)), n)

    def x_of(t):
        x = np.zeros(2)
        for c, a, fr, ph in SIN:
            x[c] += a * np.sin(2 * np.pi * fr * t + ph)
        return x

    def g(t, s):
        u, out = x_of(t), []
        for l, L in enumerate(layers):
            h = s[l * n:(l + 1) * n]
            out.append(np.tanh(L["weight_ih"] @ u + L["bias_ih"] + L["weight_hh"] @ h + L["bias_hh"]))
            u = h
        return np.concatenate(out)

    def f(t, s):
        return inv_tau * (g(t, s) - s)

    def jac(t, s):
        u, N = x_of(t), 3 * n
        J = -np.eye(N)
        for l, L in enumerate(layers):
            h = s[l * n:(l + 1) * n]
            d = 1 - np.tanh(L["weight_ih"] @ u + L["bias_ih"] + L["weight_hh"] @ h + L["bias_hh"]) ** 2
            J[l * n:(l + 1) * n, l * n:(l + 1) * n] += d[:, None] * L["weight_hh"]
            if l > 0:
                J[l * n:(l + 1) * n, (l - 1) * n:l * n] += d[:, None] * L["weight_ih"]
            u = h
        return inv_tau[:, None] * J

    return f, jac, 3 * n


def timed(f, n, method, rtol, atol, jac=None):
    t0 = time.perf_counter()
    kw = {"jac": jac} if jac is not None else {}
    sol = solve_ivp(f, (0, 200), np.zeros(n), method=method, rtol=rtol, atol=atol, **kw)
    return time.perf_counter() - t0, sol.y[:, -1], sol.nfev


def main():
    exe = sys.argv[1]
    sizes = sys.argv[2:] or ["32", "128"]
    work = tempfile.mkdtemp(prefix="bench_simulate_")
    subprocess.run([exe, work] + sizes, check=True)
    for n in sizes:
        layers = load(os.path.join(work, f"model_{n}.h5"))
        with h5py.File(os.path.join(work, f"bench_{n}.h5")) as b:
            ours = {k: b.attrs[k] for k in b.attrs}
            dop, ros = b["dopri5_final"][...], b["rosenbrock4_final"][...]
        f, jac, N = system(layers, [1.0])
        t_rk45, y_rk45, nfev = timed(f, N, "RK45", 1e-6, 1e-9)
        _, ref, _ = timed(f, N, "DOP853", 1e-12, 1e-12)
        fs, jacs, _ = system(layers, [1.0, 0.01, 1.0])
        t_bdf, y_bdf, _ = timed(fs, N, "BDF", 1e-6, 1e-9, jacs)
        _, ref_s, _ = timed(fs, N, "DOP853", 1e-11, 1e-12)
        print(f"n = {n} per layer (state {N})")
        print(f"  non-stiff: stackdyn dopri5 {ours['dopri5_seconds']*1e3:.1f} ms, scipy RK45 {t_rk45*1e3:.0f} ms "
              f"({nfev} rhs): ratio {t_rk45/ours['dopri5_seconds']:.0f}x; errors {np.abs(dop-ref).max():.1e} vs "
              f"{np.abs(y_rk45-ref).max():.1e}")
        print(f"  one rhs {ours['rhs_seconds']*1e6:.2f} us, its matrix-vector products alone "
              f"{ours['matvec_seconds']*1e6:.2f} us: ratio {ours['rhs_seconds']/ours['matvec_seconds']:.2f}")
        print(f"  stiff: stackdyn rosenbrock4 {ours['rosenbrock4_seconds']*1e3:.0f} ms, scipy BDF {t_bdf*1e3:.0f} ms: "
              f"ratio {t_bdf/ours['rosenbrock4_seconds']:.2f}x; errors {np.abs(ros-ref_s).max():.1e} vs "
              f"{np.abs(y_bdf-ref_s).max():.1e}")


if __name__ == "__main__":
    main()
