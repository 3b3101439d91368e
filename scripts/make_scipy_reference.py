#!/usr/bin/python3
"""Reference trajectories of the continuous-time view, computed by scipy's solve_ivp (DOP853,
rtol = atol = 1e-12), for tests/test_simulate_scipy.cpp.

Model: tests/data/torch/rnn_tanh_L3_uni_bias.model.h5 (three torch tanh layers of 5 units,
input 3). The system of docs/design.md 3, written here independently of stackdyn:
    tau_l dh_l/dt = tanh(W_ih^l u_l + b_ih^l + W_hh^l h_l + b_hh^l) - h_l,
    u_1 = x(t), u_l = h_{l-1} (current states),
with x(t) = c + sum of sinusoids + a zero-order hold of random samples (the input file).
solve_ivp integrates interval by interval, so that no step straddles a jump of the hold.

Writes tests/data/scipy/rnn3_reference.h5: 'inputs' (batch, T, 3) with attribute dt and
's0' (batch, 15) (a stackdyn input file), 'time', 'states' (batch, n_out, 15), and the
simulation configuration as the attribute 'config'. Run: /usr/bin/python3 scripts/make_scipy_reference.py
"""
import os
import sys

import h5py
import numpy as np
from scipy.integrate import solve_ivp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "tests/data/torch/rnn_tanh_L3_uni_bias.model.h5")
OUT = os.path.join(ROOT, "tests/data/scipy/rnn3_reference.h5")

TAU = [1.0, 0.5, 2.0]
CONSTANT = [0.1, 0.0, -0.2]
SINUSOIDS = [(0, 0.8, 0.3, 0.0), (2, 0.5, 0.7, 1.0)]  # channel, amplitude, frequency, phase
T_END, DT_OUT, HOLD_DT, BATCH = 10.0, 0.25, 1.0, 2

CONFIG = f"""mode = "continuous"
tau = {TAU}
t_end = {T_END}
dt_out = {DT_OUT}
[input]
constant = {CONSTANT}
""" + "".join(
    f"[[input.sinusoids]]\nchannel = {c}\namplitude = {a}\nfrequency = {f}\nphase = {p}\n" for c, a, f, p in SINUSOIDS)


def main():
    with h5py.File(MODEL, "r") as f:
        layers = [{k: f[f"layers/{l}/{k}"][...] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
                  for l in range(f.attrs["num_layers"])]
    sizes = [L["weight_hh"].shape[0] for L in layers]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rng = np.random.default_rng(20261122)
    steps = int(round(T_END / HOLD_DT))
    held = rng.uniform(-1, 1, size=(BATCH, steps, 3))
    s0 = rng.uniform(-0.5, 0.5, size=(BATCH, offsets[-1]))

    def rhs(t, s, b, k):
        # the interval's held sample is fixed: evaluate the hold at the interval's index k
        x = np.array(CONSTANT, dtype=float)
        for c, a, fr, ph in SINUSOIDS:
            x[c] += a * np.sin(2 * np.pi * fr * t + ph)
        u = x + held[b, k]
        out = np.empty_like(s)
        for l, L in enumerate(layers):
            h = s[offsets[l]:offsets[l + 1]]
            g = np.tanh(L["weight_ih"] @ u + L["bias_ih"] + L["weight_hh"] @ h + L["bias_hh"])
            out[offsets[l]:offsets[l + 1]] = (g - h) / TAU[l]
            u = h
        return out

    n_out = int(round(T_END / DT_OUT)) + 1
    times = np.arange(n_out) * DT_OUT
    states = np.empty((BATCH, n_out, offsets[-1]))
    for b in range(BATCH):
        s = s0[b].copy()
        states[b, 0] = s
        for k in range(steps):
            t0, t1 = k * HOLD_DT, (k + 1) * HOLD_DT
            idx = [i for i in range(1, n_out) if t0 < times[i] <= t1 + 1e-12]
            sol = solve_ivp(rhs, (t0, t1), s, method="DOP853", rtol=1e-12, atol=1e-12, args=(b, k),
                            t_eval=times[idx], dense_output=False)
            if not sol.success:
                sys.exit(f"solve_ivp failed: {sol.message}")
            states[b, idx] = sol.y.T
            if not idx or abs(sol.t[-1] - t1) > 1e-12:
                sys.exit("output times must include the ends of the hold's intervals")
            s = sol.y[:, -1]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with h5py.File(OUT, "w") as f:
        d = f.create_dataset("inputs", data=held)
        d.attrs["dt"] = HOLD_DT
        f.create_dataset("s0", data=s0)
        f.create_dataset("time", data=times)
        f.create_dataset("states", data=states)
        f.attrs["config"] = CONFIG
        f.attrs["model"] = "tests/data/torch/rnn_tanh_L3_uni_bias.model.h5"
        f.attrs["producer"] = "scripts/make_scipy_reference.py: scipy.integrate.solve_ivp DOP853 rtol=atol=1e-12"
    print(f"{OUT}: {BATCH} trajectories, {n_out} samples")


if __name__ == "__main__":
    main()
