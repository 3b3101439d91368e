#!/usr/bin/env python3
"""Timescale specialisation: do higher layers of a trained stack have slower timescales?

A 3-layer LSTM (16 units per layer, linear readout) is trained on the multiscale task (input
sin(2 pi t/50 + a) + sin(2 pi t/5 + b), the two components as targets) under three objectives:
plain, auxiliary readouts of layers 0 and 1, and the gate penalty (mu = 0.05); 10 seeds each.
For every trained model, its initialisation (checkpoint 0) and a hand-set control (the
initial model rescaled to recurrent radii 0.5, 0.9, 0.99 by `stackdyn rescale`),
`stackdyn timescales` gives each layer's own timescale (the slowest of its diagonal block
A_ll at the stable point: a property of the layer itself, not of the filtering below it)
and the preferred frequency of the gain from the input. The claim holds for a model when the
own timescales grow strictly from bottom to top.

    python3 scripts/experiments/timescale_hierarchy.py [--out DIR] [--seeds 10] [--quick]

Writes DIR/timescale_hierarchy.png, DIR/table.md and DIR/runs.csv. Resumable: a run whose
files exist is not redone.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402
import _training  # noqa: E402

OBJECTIVES = [("plain", []), ("aux", ["train.aux_layers=[0, 1]"]), ("gate_penalty", ["train.gate_penalty=0.05"])]



def read_ts(path):
    import h5py
    if not os.path.exists(path):
        return None
    with h5py.File(path, "r") as f:
        return {"timescale": f["timescale"][()].tolist(), "preferred": f["preferred_frequency"][()].tolist()}


def increasing(v):
    return v is not None and all(b > a for a, b in zip(v, v[1:]))


def main():
    p = C.parser(__doc__, "timescale_hierarchy")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--steps", type=int, default=300, help="training steps")
    a = p.parse_args()
    seeds, steps = (2, 40) if a.quick else (a.seeds, a.steps)
    R = C.Runner(a.exe, a.out)
    R.write("train.toml", _training.LSTM3_MULTISCALE.format(cell="lstm", steps=steps))
    ts_flags = ["--n-freq", "12"]

    def one(job):
        obj, sets, seed = job
        run = f"run_{obj}_{seed}.h5"
        R.train("train.toml", run, seed, sets)
        res = {"objective": obj, "seed": seed}
        import h5py
        with h5py.File(R.path(run), "r") as f:
            res["final_loss"] = float(f["history/loss"][-1])
        for tag, model in (("trained", run), ("init", run + ":/checkpoints/0")):
            out = f"ts_{obj}_{seed}_{tag}.h5"
            try:
                R.run("timescales", model, "-o", out, *ts_flags, output=out)
            except RuntimeError as e:  # no stable point: recorded, not fatal
                print(f"{obj} seed {seed} {tag}: {e}", file=sys.stderr)
            res[tag] = read_ts(R.path(out))
        if obj == "plain":
            hand = f"hand_{seed}.h5"
            R.run("rescale", run + ":/checkpoints/0", "-o", hand, "--radius", "0.5,0.9,0.99", output=hand)
            out = f"ts_hand_{seed}.h5"
            try:
                R.run("timescales", hand, "-o", out, *ts_flags, output=out)
            except RuntimeError as e:
                print(f"hand seed {seed}: {e}", file=sys.stderr)
            res["hand"] = read_ts(R.path(out))
        return res

    jobs = [(o, s, seed) for o, s in OBJECTIVES for seed in range(1, seeds + 1)]
    results = C.parallel(a.jobs, one, jobs)

    # ---- table ----
    header = ["model", "seeds", "own timescale grows with depth", "layer 0 (steps)", "layer 1", "layer 2",
              "top / bottom", "final loss"]
    rows, csv_rows = [], []
    for obj, _ in OBJECTIVES:
        rs = [r for r in results if r["objective"] == obj]
        for tag in ("trained", "init") + (("hand",) if obj == "plain" else ()):
            ts = [r[tag]["timescale"] if r.get(tag) else None for r in rs]
            ok = [t for t in ts if t is not None]
            held = sum(increasing(t) for t in ok)
            label = {"trained": f"{obj}: trained", "init": f"{obj}: initial",
                     "hand": "hand-set radii 0.5, 0.9, 0.99"}[tag]
            rows.append([label, len(ok), f"{held} / {len(ok)}"] +
                        [C.mean_sd([t[l] for t in ok]) for l in range(3)] +
                        [C.mean_sd([t[2] / t[0] for t in ok]),
                         C.mean_sd([r["final_loss"] for r in rs]) if tag == "trained" else "-"])
        for r in rs:
            for tag in ("trained", "init", "hand"):
                if r.get(tag):
                    csv_rows.append([obj, r["seed"], tag, *r[tag]["timescale"], *r[tag]["preferred"], r["final_loss"]])
    table = C.markdown_table(header, rows)
    R.write("table.md", table)
    C.write_csv(R.path("runs.csv"), ["objective", "seed", "model", "timescale_0", "timescale_1", "timescale_2",
                                     "preferred_0", "preferred_1", "preferred_2", "final_loss"], csv_rows)
    print(table)

    # ---- figure: each layer's own timescale, one line per seed ----
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(OBJECTIVES) + 1, figsize=(4.2 * (len(OBJECTIVES) + 1), 4.2), sharey=True)
    panels = [(obj, "trained") for obj, _ in OBJECTIVES] + [("plain", "hand")]
    for ax, (obj, tag) in zip(axes, panels):
        rs = [r for r in results if r["objective"] == obj]
        for r in rs:
            for t, style, c in ((r.get(tag), "-", "tab:blue" if tag == "trained" else "tab:green"),
                                (r.get("init") if tag == "trained" else None, ":", "grey")):
                if t:
                    ax.plot(range(3), t["timescale"], style, color=c, marker="o", ms=3, lw=1, alpha=0.7)
        held = sum(increasing(r[tag]["timescale"]) for r in rs if r.get(tag))
        n = sum(1 for r in rs if r.get(tag))
        ax.set_title(f"{obj if tag == 'trained' else 'hand-set radii 0.5/0.9/0.99'}: grows in {held}/{n}",
                     fontsize=10)
        ax.set_xticks(range(3))
        ax.set_xlabel("layer (0 = bottom)")
        ax.set_yscale("log")
        ax.grid(alpha=0.3, which="both")
    axes[0].set_ylabel("layer's own slowest timescale (steps)")
    axes[0].plot([], [], "-", color="tab:blue", label="trained")
    axes[0].plot([], [], ":", color="grey", label="initial")
    axes[0].legend(fontsize=8)
    fig.suptitle("Own timescale per layer of a 3-layer LSTM on the multiscale task, one line per seed")
    fig.tight_layout()
    fig.savefig(R.path("timescale_hierarchy.png"), dpi=110)
    print(f"{a.out}: timescale_hierarchy.png, table.md, runs.csv")


if __name__ == "__main__":
    main()
