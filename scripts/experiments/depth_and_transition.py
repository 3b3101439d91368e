#!/usr/bin/env python3
"""Deep-transition against stacked at equal parameter counts, and the best depth, on permuted
sequential digits.

The task: 8 x 8 handwritten digits read one pixel per step in one fixed permuted order (64
steps), the class at the last step (cross-entropy), 1000 training and 200 validation images.
A: stacked GRUs of 32 units, depth 1 to 4. B: a stacked 2-layer GRU (24 units per layer)
against one deep-transition layer of 24 units whose MLP transition has one hidden layer sized
so that both have the same number of parameters (counted here from the model files). 300 Adam
steps, 5 seeds each. Reported: the final validation loss, the accuracy of the last 20 training
batches, and the parameter counts.

    python3 scripts/experiments/depth_and_transition.py [--out DIR] [--seeds 5] [--quick]
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402

BASE = """[model]
input_size = 1
seed = 1
readout = 10
{layers}
[data]
task = "permuted_digits"
samples = 1000
valid_samples = 200
seed = 1
permutation_seed = 0
[train]
optimizer = "adam"
lr = 0.005
clip_grad_norm = 1.0
batch_size = 64
steps = {steps}
seed = 1
checkpoint_every = {steps}
valid_every = 50
"""


def gru_layers(depth, n):
    return "".join(f'[[model.layers]]\ncell = "gru"\nhidden_size = {n}\n' for _ in range(depth))


def gru_params(d, n):
    return 3 * (n * d + n * n + 2 * n)


def transition_hidden(d, n, target):
    # deep_transition: an MLP on [h; u] -> hidden -> n, biases included: (n + d) h + h + h n + n
    return max(1, round((target - n) / (n + d + 1 + n)))


def main():
    p = C.parser(__doc__, "depth_and_transition")
    p.add_argument("--seeds", type=int, default=5)
    a = p.parse_args()
    seeds, steps, depths = (1, 20, [1, 2]) if a.quick else (a.seeds, 300, [1, 2, 3, 4])
    R = C.Runner(a.exe, a.out)
    import h5py

    stacked_params = gru_params(1, 24) + gru_params(24, 24)
    hidden = transition_hidden(1, 24, stacked_params)
    variants = [(f"gru_depth_{L}", gru_layers(L, 32)) for L in depths]
    variants += [("stacked_gru_2x24", gru_layers(2, 24)),
                 (f"deep_transition_24_mlp_{hidden}",
                  f'[[model.layers]]\ncell = "deep_transition"\nhidden_size = 24\ntransition_hidden = [{hidden}]\n')]
    for name, layers in variants:
        R.write(f"{name}.toml", BASE.format(layers=layers, steps=steps))

    def one(job):
        name, seed = job
        run = f"run_{name}_{seed}.h5"
        R.train(f"{name}.toml", run, seed)
        with h5py.File(R.path(run), "r") as f:
            v = f["history/valid_loss"][()]
            v = v[np.isfinite(v)]
            acc = f["history/accuracy"][()]
            g = f["final_model/layers"]
            n_params = sum(ds.size for l in g.values() for ds in l.values() if isinstance(ds, h5py.Dataset))
        return {"variant": name, "seed": seed, "final_valid_loss": float(v[-1]), "accuracy": float(acc[-20:].mean()),
                "layer_parameters": int(n_params)}

    res = C.parallel(a.jobs, one, [(n, s) for n, _ in variants for s in range(1, seeds + 1)])
    header = ["variant", "seeds", "parameters of the layers", "final validation loss", "training accuracy (last 20 batches)"]
    rows = []
    for name, _ in variants:
        rs = [r for r in res if r["variant"] == name]
        rows.append([name, len(rs), rs[0]["layer_parameters"], C.mean_sd([r["final_valid_loss"] for r in rs]),
                     C.mean_sd([r["accuracy"] for r in rs])])
    table = C.markdown_table(header, rows)
    R.write("table.md", table)
    C.write_csv(R.path("runs.csv"), list(res[0].keys()), [list(r.values()) for r in res])
    print(table)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.3))
    for i, L in enumerate(depths):
        v = [r["final_valid_loss"] for r in res if r["variant"] == f"gru_depth_{L}"]
        a1.plot([L] * len(v), v, "o", color="tab:blue", alpha=0.6)
        a1.plot([L - 0.2, L + 0.2], [np.median(v)] * 2, "k-")
    a1.set(xlabel="depth (GRU layers of 32 units)", ylabel="final validation loss (cross-entropy)",
           title="Best depth on permuted sequential digits", xticks=depths)
    a1.grid(alpha=0.3)
    for i, (name, _) in enumerate(variants[len(depths):]):
        v = [r["final_valid_loss"] for r in res if r["variant"] == name]
        a2.plot([i] * len(v), v, "o", alpha=0.6)
        a2.plot([i - 0.2, i + 0.2], [np.median(v)] * 2, "k-")
    a2.set_xticks(range(2))
    a2.set_xticklabels([n for n, _ in variants[len(depths):]], fontsize=8)
    a2.set(ylabel="final validation loss", title=f"Equal parameters ({stacked_params} in the layers, about)")
    a2.grid(alpha=0.3)
    fig.suptitle(f"Permuted sequential digits, {steps} Adam steps, {seeds} seeds (each point a seed; bar: median)")
    fig.tight_layout()
    fig.savefig(R.path("depth_and_transition.png"), dpi=110)
    print(f"{a.out}: depth_and_transition.png, table.md, runs.csv")


if __name__ == "__main__":
    main()
