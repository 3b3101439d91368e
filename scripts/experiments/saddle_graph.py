#!/usr/bin/env python3
"""A continuous-time 2-layer stack: its equilibria and their eigenvalues, and the unstable
equilibria whose two sides lead to different outcomes (the saddle graph).

The stack: layer 0 a tanh rate network of 4 units with orthogonal recurrent weights at
spectral radius 2 (multistable), no biases; layer 1 a tanh network of 4 units at radius 1.5,
reading layer 0; time constants 1 and 5 (`tau dh/dt = -h + tanh(W h + U u)`). For 10 seeds,
`stackdyn fixed-points --mode continuous --saddle-graph` finds the equilibria at zero input,
their eigenvalues, and follows both sides of every saddle's unstable directions to the stable
point where each ends. Reported per seed: equilibria, stable ones, saddles, and how many
saddle modes separate two different stable outcomes.

    python3 scripts/experiments/saddle_graph.py [--out DIR] [--seeds 10] [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

MODEL = """input_size = 1
seed = {seed}
[[layers]]
cell = "rnn_tanh"
hidden_size = 4
bias = false
init = "orthogonal"
spectral_radius = 2.0
[[layers]]
cell = "rnn_tanh"
hidden_size = 4
bias = false
init = "orthogonal"
spectral_radius = 1.5
"""

FP = """mode = "continuous"
tau = [1.0, 5.0]
n_init = 256
saddle_graph = true
n_vectors = 4
noise = 1.0
"""


def main():
    p = C.parser(__doc__, "saddle_graph")
    p.add_argument("--seeds", type=int, default=10)
    a = p.parse_args()
    seeds = 2 if a.quick else a.seeds
    R = C.Runner(a.exe, a.out)
    R.write("fp.toml", FP)
    import h5py

    def one(seed):
        R.write(f"m{seed}.toml", MODEL.format(seed=seed))
        R.run("init", f"m{seed}.toml", "-o", f"m{seed}.h5", output=f"m{seed}.h5")
        R.run("fixed-points", f"m{seed}.h5", "fp.toml", "-o", f"fp{seed}.h5", output=f"fp{seed}.h5")
        with h5py.File(R.path(f"fp{seed}.h5"), "r") as f:
            fp = f["fixed_points"]
            stable = fp["stable"][()]
            nu = fp["n_unstable"][()]
            ev = fp["eigenvalues"][()]
            pts = fp["states"][()]
            sg = f["saddle_graph"] if "saddle_graph" in f else None
            edges = []
            if sg is not None and "saddle" in sg:
                edges = list(zip(sg["saddle"][()], sg["mode"][()], sg["side"][()], sg["target"][()]))
        # a saddle mode separates outcomes when its two sides end at different stable points
        sides = {}
        for s, m, side, t in edges:
            sides.setdefault((int(s), int(m)), {})[int(side)] = int(t)
        separating = sum(1 for v in sides.values() if len(v) == 2 and v.get(0, -1) >= 0 and v.get(1, -1) >= 0
                         and len(set(v.values())) == 2)
        return {"seed": seed, "n_points": len(stable), "n_stable": int((stable == 1).sum()),
                "n_saddles": int((nu > 0).sum()), "index1": int((nu == 1).sum()), "modes_followed": len(sides),
                "separating": separating, "ev": ev, "stable": stable, "pts": pts, "edges": edges}

    res = C.parallel(a.jobs, one, list(range(1, seeds + 1)))
    header = ["seed", "equilibria", "stable", "with unstable directions", "index 1", "unstable modes followed",
              "modes whose two sides reach different stable points"]
    rows = [[r["seed"], r["n_points"], r["n_stable"], r["n_saddles"], r["index1"], r["modes_followed"], r["separating"]]
            for r in res]
    table = C.markdown_table(header, rows)
    R.write("table.md", table)
    C.write_csv(R.path("runs.csv"), header, rows)
    print(table)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 5))
    for r in res:
        for k in range(len(r["stable"])):
            c = "tab:blue" if r["stable"][k] == 1 else "tab:red"
            a1.plot(r["ev"][k].real, r["ev"][k].imag, ".", color=c, ms=3, alpha=0.5)
    a1.axvline(0, color="k", lw=0.6)
    a1.plot([], [], "o", color="tab:blue", label="at stable equilibria")
    a1.plot([], [], "o", color="tab:red", label="at unstable equilibria")
    a1.set_xlabel("Re eigenvalue of the flow's Jacobian (per unit time)")
    a1.set_ylabel("Im eigenvalue")
    a1.set_title(f"Eigenvalues at the equilibria, {len(res)} seeds", fontsize=10)
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    r = max(res, key=lambda x: x["separating"])
    X = r["pts"]
    mu = X.mean(axis=0)
    _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
    Z = (X - mu) @ vt[:2].T
    for s, m, side, t in r["edges"]:
        if t >= 0:
            a2.annotate("", xy=Z[t], xytext=Z[s], arrowprops=dict(arrowstyle="->", color="grey", lw=0.8))
    for k in range(len(X)):
        if r["stable"][k] == 1:
            a2.plot(*Z[k], "o", color="tab:blue", ms=9, mec="k")
        else:
            a2.plot(*Z[k], "x", color="tab:red", ms=9, mew=2)
    a2.set_xlabel("PC 1 of the equilibria")
    a2.set_ylabel("PC 2")
    a2.set_title(f"Saddle graph of seed {r['seed']}: saddles (x) to the stable points (o) each side reaches",
                 fontsize=10)
    a2.grid(alpha=0.3)
    fig.suptitle("Continuous-time 2-layer tanh stack (tau 1 and 5): equilibria and the saddle graph")
    fig.tight_layout()
    fig.savefig(R.path("saddle_graph.png"), dpi=110)
    print(f"{a.out}: saddle_graph.png, table.md, runs.csv")


if __name__ == "__main__":
    main()
