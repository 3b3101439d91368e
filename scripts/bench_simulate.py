#!/usr/bin/python3
"""The simulation benchmark: stackdyn (tests/benchmarks/bench_simulate) against scipy's
solve_ivp on identical systems, measured alternately in one run, reporting median ratios.

  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKDYN_BUILD_BENCHMARKS=ON
  cmake --build build -j2 --target bench_simulate
  /usr/bin/python3 scripts/bench_simulate.py build/tests/benchmarks/bench_simulate [--sizes 32 128] [--rounds 5]

Systems: 3-layer vanilla tanh stacks of 32 and 128 units per layer, two sinusoids as input,
t in [0, 200]. Non-stiff (tau = 1): stackdyn dopri5 against scipy RK45. Stiff (layer 2's tau
= 0.01): stackdyn rosenbrock4 against scipy BDF, both given the analytic Jacobian. Each case
also runs the cascade (`--methods mono cascade auto`, the default): `cascade` (dopri5 in every
layer; in the stiff case `cascade:dopri5,rosenbrock4,dopri5` instead) and `auto` (the
cascade with each layer's method chosen from its diagonal block).

Both sides run one thread (OPENBLAS_NUM_THREADS=1 for numpy/scipy, stackdyn is serial for one
trajectory), float64. Each round times scipy, then stackdyn at the same rtol/atol, then
stackdyn at equal accuracy; the ratios are per round and their median is reported, because
the machine's clock drifts within minutes.

Accuracy: max |final state - reference|, the reference being stackdyn's dopri5 at rtol 1e-12
(non-stiff) / 1e-11 (stiff), itself checked against scipy's DOP853 on the non-stiff system.
"Equal accuracy": the loosest stackdyn tolerance on the ladder below whose error is no larger
than scipy's error at rtol 1e-6 / atol 1e-9 (stackdyn's controllers are stricter than
scipy's at the same numbers: odeint's dopri5 uses the max norm and a dx/dt term, so at equal
tolerances it takes more steps and is several times more accurate).

Also reported: one right-hand side against its six matrix-vector products alone (median of
alternate measurements), stackdyn's achieved GFLOP/s in those products, and the machine's
dgemm rate (numpy/OpenBLAS and Eigen, one thread).
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
from scipy.integrate import solve_ivp  # noqa: E402

SIN = [(0, 1.0, 0.05, 0.0), (1, 0.5, 0.13, 1.0)]
RTOL, ATOL = 1e-6, 1e-9
LADDER = [1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3]


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

    def f(t, s):
        u, out = x_of(t), []
        for l, L in enumerate(layers):
            h = s[l * n:(l + 1) * n]
            out.append(np.tanh(L["weight_ih"] @ u + L["bias_ih"] + L["weight_hh"] @ h + L["bias_hh"]))
            u = h
        return inv_tau * (np.concatenate(out) - s)

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


def scipy_run(f, n, method, rtol, atol, jac=None):
    kw = {"jac": jac} if jac is not None else {}
    t0 = time.perf_counter()
    sol = solve_ivp(f, (0, 200), np.zeros(n), method=method, rtol=rtol, atol=atol, **kw)
    sec = time.perf_counter() - t0
    assert sol.success, sol.message
    return sec, sol.y[:, -1], {"steps": len(sol.t) - 1, "rhs": sol.nfev, "jacobians": sol.njev, "lu": sol.nlu}


def ours(exe, n, stiff, method, rtol, atol):
    out = subprocess.run([exe, "run", str(n), str(int(stiff)), method, repr(rtol), repr(atol)], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    sec, steps, rejected, rhs, jac, *chosen = out[0].split()
    return float(sec), np.array([float(v) for v in out[1].split()]), {
        "steps": int(steps), "rejected": int(rejected), "rhs": int(rhs), "jacobians": int(jac),
        "chosen": chosen[0] if chosen else ""}


def case(exe, n, stiff, rounds, methods):
    layers = load_model(exe, n)
    f, jac, N = system(layers, [1.0, 0.01, 1.0] if stiff else [1.0])
    mono, smethod = ("rosenbrock4", "BDF") if stiff else ("dopri5", "RK45")
    methods = [mono if m == "mono" else m for m in methods]
    sjac = jac if stiff else None
    _, ref, _ = ours(exe, n, stiff, "dopri5", 1e-11 if stiff else 1e-12, 1e-13 if stiff else 1e-14)
    if not stiff:  # the reference itself against an independent one
        _, ref_scipy, _ = scipy_run(f, N, "DOP853", 1e-12, 1e-14)
        print(f"  reference: stackdyn dopri5 1e-12 vs scipy DOP853 1e-12 differ by {np.abs(ref - ref_scipy).max():.1e}")
    t_s, y_s, st_s = scipy_run(f, N, smethod, RTOL, ATOL, sjac)
    err_s = np.abs(y_s - ref).max()
    info = {}
    for method in methods:
        _, y_o, st_o = ours(exe, n, stiff, method, RTOL, ATOL)
        eq = RTOL
        for r in LADDER:
            _, y, _ = ours(exe, n, stiff, method, r, r * 1e-3)
            if np.abs(y - ref).max() <= err_s:
                eq = r
            else:
                break
        _, y_eq, st_eq = ours(exe, n, stiff, method, eq, eq * 1e-3)
        info[method] = (eq, np.abs(y_o - ref).max(), st_o, np.abs(y_eq - ref).max(), st_eq)
    # One round: scipy, then every stackdyn method at the same and at equal accuracy.
    ts, to, teq = [], {m: [] for m in methods}, {m: [] for m in methods}
    for _ in range(rounds):
        ts.append(scipy_run(f, N, smethod, RTOL, ATOL, sjac)[0])
        for m in methods:
            eq = info[m][0]
            to[m].append(ours(exe, n, stiff, m, RTOL, ATOL)[0])
            teq[m].append(ours(exe, n, stiff, m, eq, eq * 1e-3)[0])
    label = "stiff (tau2 = 0.01)" if stiff else "non-stiff"
    print(f"  {label}: scipy {smethod} {statistics.median(ts)*1e3:.1f} ms ({st_s['steps']} steps, {st_s['rhs']} rhs"
          + (f", {st_s['lu']} LU" if stiff else "") + f"), error {err_s:.1e}")
    result = {}
    for m in methods:
        eq, err_o, st_o, err_eq, st_eq = info[m]
        same = statistics.median(a / b for a, b in zip(ts, to[m]))
        equal = statistics.median(a / b for a, b in zip(ts, teq[m]))
        result[m] = equal
        print(f"    stackdyn {m} at the same rtol/atol: {statistics.median(to[m])*1e3:.2f} ms ({st_o['steps']} steps, "
              f"{st_o['rhs']} rhs{', ' + st_o['chosen'] if st_o['chosen'] else ''}), error {err_o:.1e}: "
              f"median ratio {same:.1f}x")
        print(f"    stackdyn {m} at equal accuracy (rtol {eq:g}, atol {eq*1e-3:g}): {statistics.median(teq[m])*1e3:.2f} ms "
              f"({st_eq['steps']} steps), error {err_eq:.1e}: median ratio {equal:.1f}x")
    best = max(result, key=result.get)
    print(f"    fastest at equal accuracy: {best}")
    return result


_models = {}


def load_model(exe, n):
    if n not in _models:
        d = tempfile.mkdtemp(prefix="bench_simulate_")
        subprocess.run([exe, "model", d, str(n)], check=True)
        _models[n] = load(os.path.join(d, f"model_{n}.h5"))
    return _models[n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("exe")
    ap.add_argument("--sizes", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--methods", nargs="+", default=["mono", "cascade", "auto"],
                    help="stackdyn methods to compare; mono = dopri5 (non-stiff) or rosenbrock4 (stiff)")
    ap.add_argument("--stiff-only", action="store_true")
    ap.add_argument("--no-stiff", action="store_true")
    a = ap.parse_args()
    a_ = np.random.default_rng(0).random((1000, 1000))
    best = min(timeit_gemm(a_) for _ in range(5))
    eig = float(subprocess.run([a.exe, "dgemm", "1000"], check=True, capture_output=True, text=True).stdout)
    print(f"machine: dgemm 1000^3, one thread: numpy/OpenBLAS ({bench_env.CORETYPE}) {2e9 / best / 1e9:.1f} GFLOP/s, Eigen {eig:.1f} GFLOP/s; "
          f"load average {os.getloadavg()[0]:.2f}")
    for n in a.sizes:
        print(f"n = {n} units per layer (state {3 * n})")
        rhs, mv = (float(v) for v in subprocess.run([a.exe, "rhs", str(n)], check=True, capture_output=True,
                                                    text=True).stdout.split())
        flops = 2 * (n * 2 + n * n) + 2 * 2 * (n * n + n * n)
        print(f"  one rhs {rhs*1e6:.2f} us, its six matrix-vector products alone {mv*1e6:.2f} us: ratio {rhs/mv:.2f}; "
              f"products at {flops / mv / 1e9:.1f} GFLOP/s, the whole rhs at {flops / rhs / 1e9:.1f}")
        if not a.stiff_only:
            case(a.exe, n, False, a.rounds, a.methods)
        if not a.no_stiff:
            case(a.exe, n, True, a.rounds, [m for m in a.methods if m != "cascade"] + ["cascade:dopri5,rosenbrock4,dopri5"]
                 if "cascade" in a.methods else a.methods)


def timeit_gemm(a):
    t0 = time.perf_counter()
    a @ a
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
