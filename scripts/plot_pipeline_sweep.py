#!/usr/bin/env python3
"""Draws the table of a sweep of pipelines (`stackdyn sweep` with kind = "pipeline"): the
largest Lyapunov exponent, the final validation loss, and each layer's slowest timescale
against depth, one colour per cell type, the seeds' spread as points.

    python3 scripts/plot_pipeline_sweep.py SWEEP.h5 [-o FIG.png]

The depth and cell type of a run are read from its `model.layers` parameter (run_table).
"""
import argparse
import os
import re
import sys


def fail(msg):
    print(f"plot_pipeline_sweep.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("sweep")
    p.add_argument("-o", "--output")
    a = p.parse_args()
    out = a.output or os.path.splitext(a.sweep)[0] + ".png"
    if os.path.exists(out) and os.path.samefile(out, a.sweep):
        fail(f"the output {out} is the input")
    import h5py
    import numpy as np
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    try:
        f = h5py.File(a.sweep, "r")
    except OSError as e:
        fail(f"{a.sweep}: not a readable HDF5 file ({e})")
    with f:
        if f.attrs.get("kind") != "pipeline_sweep":
            fail(f"{a.sweep}: not a sweep of pipelines (attribute kind = 'pipeline_sweep' expected)")
        runs = [s.decode() if isinstance(s, bytes) else s for s in f["run_table"][()]]
        S = {k: f["summary"][k][()] for k in f["summary"]}
    depth, cell = [], []
    for r in runs:
        m = re.search(r"model\.layers = (\[.*?\])(, [a-z_]+\.|$)", r)
        cells = re.findall(r'cell = "([a-z_]+)"', m.group(1)) if m else []
        depth.append(len(cells) if cells else np.nan)
        cell.append("/".join(sorted(set(cells))) if cells else "?")
    depth = np.array(depth)
    kinds = sorted(set(cell))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for c, colour in zip(kinds, plt.get_cmap("tab10").colors):
        sel = np.array([x == c for x in cell])
        jitter = 0.06 * (kinds.index(c) - (len(kinds) - 1) / 2)
        axes[0].plot(depth[sel] + jitter, S["lyapunov_max"][sel], "o", color=colour, label=c)
        axes[1].plot(depth[sel] + jitter, S["final_valid_loss"][sel], "o", color=colour, label=c)
        T = S["layer_timescale"][sel]
        for row, d in zip(T, depth[sel]):
            ok = np.isfinite(row)
            axes[2].plot(np.arange(len(row))[ok] + jitter, row[ok], "o-", color=colour, alpha=0.5, lw=0.8,
                         ms=3 + d)
        axes[2].plot([], [], "o-", color=colour, label=f"{c} (marker size: depth)")
    axes[0].axhline(0, color="k", lw=0.6)
    axes[0].set(xlabel="depth (layers)", ylabel="largest Lyapunov exponent (per step)",
                title="Chaos under the task's drive")
    axes[1].set(xlabel="depth (layers)", ylabel="final validation loss", yscale="log", title="Loss after training")
    axes[2].set(xlabel="layer (0 = bottom)", ylabel="layer's slowest timescale (steps)", yscale="log",
                title="Timescale per layer at the stable point")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"Sweep of pipelines: {os.path.basename(a.sweep)}, {len(runs)} runs")
    fig.tight_layout()
    tmp = out + ".partial.png"
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
