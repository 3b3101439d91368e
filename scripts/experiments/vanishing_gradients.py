#!/usr/bin/env python3
"""Vanishing gradients against depth and weight scale: vanilla (tanh) against GRU and LSTM,
plain against skip and residual connections, at initialisation.

For each cell, depth L in {1, 2, 4, 6}, recurrent spectral radius r in {0.5, 1.0, 1.5} (every
gate block of weight_hh; input weights torch's default) and connection (plain; skip: layer l
also reads h^(l-2); residual: the stream passed up is h + y below), 5 seeds: `stackdyn init`
(16 units per layer) and `stackdyn gradient-flow` along a 50-step trajectory driven by a
sinusoid. From `jacobian_norms[t, l] = |d h_T(top) / d s_t(l)|`:
  - through depth: log10 of the norm reaching the bottom layer at the last step, t = T-1;
  - through time and depth: log10 of the norm reaching the bottom layer at t = 0;
and `depth_path_counts` (the paths from the input to the top, Fibonacci when every layer skips).

    python3 scripts/experiments/vanishing_gradients.py [--out DIR] [--seeds 5] [--quick]

Writes DIR/vanishing_gradients.png, DIR/table.md, DIR/runs.csv. Resumable.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

CELLS = ["rnn_tanh", "gru", "lstm"]
CONNECTIONS = ["plain", "skip", "residual"]


def model_toml(cell, depth, radius, connection, seed):
    t = f"input_size = 1\nseed = {seed}\n"
    for l in range(depth):
        t += f'[[layers]]\ncell = "{cell}"\nhidden_size = 16\nspectral_radius = {radius}\n'
        if connection == "skip" and l >= 1:
            t += "skip = true\n"
        if connection == "residual" and l >= 1:
            t += "residual = true\n"
    return t


GF = """steps = 50
[[input.sinusoids]]
channel = 0
amplitude = 1.0
frequency = 0.05
"""


def main():
    p = C.parser(__doc__, "vanishing_gradients")
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    depths, radii, seeds = ([1, 3], [0.5, 1.5], 1) if a.quick else ([1, 2, 4, 6], [0.5, 1.0, 1.5], a.seeds)
    R = C.Runner(a.exe, a.out)
    R.write("gf.toml", GF)
    import h5py

    def one(job):
        cell, depth, radius, conn, seed = job
        name = f"{cell}_L{depth}_r{radius}_{conn}_s{seed}"
        R.write(name + ".toml", model_toml(cell, depth, radius, conn, seed))
        R.run("init", name + ".toml", "-o", name + ".h5", output=name + ".h5")
        R.run("gradient-flow", name + ".h5", "gf.toml", "-o", name + "_gf.h5", output=name + "_gf.h5")
        with h5py.File(R.path(name + "_gf.h5"), "r") as f:
            J = f["jacobian_norms"][()]
            paths = int(f["depth_path_counts"][-1])
        with np.errstate(divide="ignore"):
            return {"cell": cell, "depth": depth, "radius": radius, "connection": conn, "seed": seed,
                    "depth_log10": float(np.log10(J[-1, 0])), "time_log10": float(np.log10(J[0, 0])),
                    "paths": paths}

    jobs = [(c, L, r, k, s) for c in CELLS for L in depths for r in radii for k in CONNECTIONS
            for s in range(1, seeds + 1) if not (L == 1 and k != "plain")]
    res = C.parallel(a.jobs, one, jobs)
    C.write_csv(R.path("runs.csv"), list(res[0].keys()), [list(r.values()) for r in res])

    def sel(**kw):
        return [r for r in res if all(r[k] == v for k, v in kw.items())]

    # table: per cell, connection and radius, the norms at the deepest stack against L = 1
    Lmax = max(depths)
    header = ["cell", "connection", "radius", f"paths to the top (L={Lmax})",
              "log10 norm to bottom, last step, L=1", f"same, L={Lmax}",
              "log10 norm to bottom at t=0, L=1", f"same, L={Lmax}"]
    rows = []
    for c in CELLS:
        for k in CONNECTIONS:
            for r in radii:
                one1, deep = sel(cell=c, depth=1, radius=r), sel(cell=c, depth=Lmax, radius=r, connection=k)
                rows.append([c, k, r, deep[0]["paths"] if deep else "-",
                             C.mean_sd([x["depth_log10"] for x in one1]), C.mean_sd([x["depth_log10"] for x in deep]),
                             C.mean_sd([x["time_log10"] for x in one1]), C.mean_sd([x["time_log10"] for x in deep])])
    table = C.markdown_table(header, rows)
    R.write("table.md", table)
    print(table)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, len(CELLS), figsize=(4.3 * len(CELLS), 8), sharey="row")
    colours = {"plain": "tab:blue", "skip": "tab:orange", "residual": "tab:green"}
    styles = dict(zip(radii, ["-", "--", ":"]))
    for col, c in enumerate(CELLS):
        for row, key, what in ((0, "depth_log10", "at the last step (through depth)"),
                               (1, "time_log10", "at t = 0 of 50 (through time and depth)")):
            ax = axes[row, col]
            for k in CONNECTIONS:
                for r in radii:
                    m, s = [], []
                    for L in depths:
                        v = [x[key] for x in sel(cell=c, depth=L, radius=r, connection=k if L > 1 else "plain")]
                        v = [x for x in v if np.isfinite(x)]
                        m.append(np.mean(v) if v else np.nan)
                        s.append(np.std(v) if v else np.nan)
                    ax.errorbar(depths, m, yerr=s, fmt="o" + styles[r], color=colours[k], ms=3, lw=1, capsize=2,
                                label=f"{k}, radius {r}")
            ax.set_title(f"{c}: gradient to the bottom layer {what}", fontsize=9)
            ax.set_xlabel("depth L (layers)")
            ax.grid(alpha=0.3)
        axes[0, col].set_xticks(depths)
    axes[0, 0].set_ylabel("log10 |d h_T(top) / d s_T-1(bottom)|")
    axes[1, 0].set_ylabel("log10 |d h_T(top) / d s_0(bottom)|")
    axes[0, 0].legend(fontsize=6, ncol=1)
    fig.suptitle(f"Gradient norms at initialisation against depth, mean ± sd over {seeds} seeds "
                 "(16 units per layer, sinusoidal drive)")
    fig.tight_layout()
    fig.savefig(R.path("vanishing_gradients.png"), dpi=110)
    print(f"{a.out}: vanishing_gradients.png, table.md, runs.csv")


if __name__ == "__main__":
    main()
