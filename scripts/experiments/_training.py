"""Training comparisons shared by the experiment scripts: the same base configuration trained
under several variants (each a list of `--set KEY=VALUE`), over seeds, with the final losses,
each layer's gradient norms (history/grad_norm_layers) and a figure with the spread."""
import os

import numpy as np

import _common as C


def run_variants(R, base_toml, variants, seeds, jobs):
    """variants: list of (name, [sets]). Returns a list of dicts, one per (variant, seed)."""
    import h5py
    R.write("train.toml", base_toml)

    def one(job):
        name, sets, seed = job
        run = f"run_{name}_{seed}.h5"
        R.train("train.toml", run, seed, sets)
        with h5py.File(R.path(run), "r") as f:
            h = f["history"]
            loss = h["loss"][()]
            v = h["valid_loss"][()] if "valid_loss" in h else np.array([np.nan])
            v = v[np.isfinite(v)]
            g = h["grad_norm_layers"][()]  # (steps, L, 2): weight_ih, weight_hh
            half = g[len(g) // 2:]
        return {"variant": name, "seed": seed, "final_loss": float(loss[-1]),
                "final_valid_loss": float(v[-1]) if len(v) else None,
                "grad_ih": half[:, :, 0].mean(axis=0).tolist(), "grad_hh": half[:, :, 1].mean(axis=0).tolist()}

    return C.parallel(jobs, one, [(n, s, seed) for n, s in variants for seed in range(1, seeds + 1)])


def report(R, results, variants, title, png):
    names = [n for n, _ in variants]
    L = len(results[0]["grad_hh"])
    header = ["variant", "seeds", "final training loss", "final validation loss"] + \
             [f"mean |grad weight_hh| layer {l}" for l in range(L)]
    rows = []
    for n in names:
        rs = [r for r in results if r["variant"] == n]
        rows.append([n, len(rs), C.mean_sd([r["final_loss"] for r in rs]), C.mean_sd([r["final_valid_loss"] for r in rs])]
                    + [C.mean_sd([r["grad_hh"][l] for r in rs]) for l in range(L)])
    table = C.markdown_table(header, rows)
    R.write("table.md", table)
    C.write_csv(R.path("runs.csv"), ["variant", "seed", "final_loss", "final_valid_loss"] +
                [f"grad_hh_{l}" for l in range(L)] + [f"grad_ih_{l}" for l in range(L)],
                [[r["variant"], r["seed"], r["final_loss"], r["final_valid_loss"], *r["grad_hh"], *r["grad_ih"]]
                 for r in results])
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.3))
    for i, n in enumerate(names):
        rs = [r for r in results if r["variant"] == n]
        v = [r["final_valid_loss"] if r["final_valid_loss"] is not None else r["final_loss"] for r in rs]
        a1.plot([i] * len(v), v, "o", alpha=0.6)
        a1.plot([i - 0.2, i + 0.2], [np.median(v)] * 2, "k-")
        G = np.array([r["grad_hh"] for r in rs])
        a2.errorbar(np.arange(L) + 0.08 * (i - len(names) / 2), G.mean(axis=0), yerr=G.std(axis=0), fmt="o-",
                    capsize=2, label=n)
    a1.set_xticks(range(len(names)))
    a1.set_xticklabels(names, fontsize=8)
    a1.set_yscale("log")
    a1.set_ylabel("final validation loss (each seed; bar: median)")
    a1.set_title("Loss after training", fontsize=10)
    a1.grid(alpha=0.3)
    a2.set_yscale("log")
    a2.set_xticks(range(L))
    a2.set_xlabel("layer (0 = bottom)")
    a2.set_ylabel("|d loss / d weight_hh| (mean over the 2nd half of training)")
    a2.set_title("Gradient reaching each layer's recurrent weights", fontsize=10)
    a2.grid(alpha=0.3)
    a2.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(R.path(png), dpi=110)
    print(table)
    print(f"{R.out}: {png}, table.md, runs.csv")


LSTM3_MULTISCALE = """[model]
input_size = 1
seed = 1
readout = 2
[[model.layers]]
cell = "{cell}"
hidden_size = 16
[[model.layers]]
cell = "{cell}"
hidden_size = 16
[[model.layers]]
cell = "{cell}"
hidden_size = 16
[data]
task = "multiscale"
steps = 100
samples = 256
valid_samples = 32
seed = 1
[train]
optimizer = "adam"
lr = 0.01
clip_grad_norm = 1.0
batch_size = 32
steps = {steps}
lr_schedule = "cosine"
lr_min = 0.0005
seed = 1
checkpoint_every = {steps}
valid_every = 50
"""


def main(doc, name, variants, cell="lstm", steps=300, seeds=5, title=""):
    p = C.parser(doc, name)
    p.add_argument("--seeds", type=int, default=seeds)
    a = p.parse_args()
    n_seeds, n_steps = (2, 40) if a.quick else (a.seeds, steps)
    R = C.Runner(a.exe, a.out)
    res = run_variants(R, LSTM3_MULTISCALE.format(cell=cell, steps=n_steps), variants, n_seeds, a.jobs)
    report(R, res, variants, title, name + ".png")
