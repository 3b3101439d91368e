#!/usr/bin/env python3
"""The figures of `stackdyn pipeline`: one PNG per analysis in DIR/figures/, the trained model
and its initialisation (the control, files ending in _init) side by side.

    python3 scripts/pipeline_figures.py DIR

Called by the pipeline's `figures` stage; it can be rerun by hand on a pipeline directory.
Exits 3 with one line when matplotlib or h5py is missing (the pipeline then reports that the
figures were skipped), 2 on a directory that is not a pipeline's.
"""
import os
import sys

PROG = "pipeline_figures.py"


def fail(msg, code=2):
    print(f"{PROG}: error: {msg}", file=sys.stderr)
    sys.exit(code)


try:
    import numpy as np
    import h5py
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError as e:  # the pipeline reads this line into its report
    fail(f"{e.name} is not installed (Debian: python3-{'matplotlib' if e.name == 'matplotlib' else e.name}); "
         "figures skipped", 3)

MODELS = [("", "trained"), ("_init", "initial (control)")]
LAYER_COLOURS = plt.get_cmap("tab10").colors


def open_h5(d, name):
    p = os.path.join(d, name)
    return h5py.File(p, "r") if os.path.exists(p) else None


def save(fig, d, name):
    out = os.path.join(d, "figures", name + ".png")
    tmp = out + ".partial.png"
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    os.replace(tmp, out)
    plt.close(fig)
    return out


def side_by_side(title, nrows=1, height=4.2):
    fig, axes = plt.subplots(nrows, 2, figsize=(12, height * nrows), squeeze=False)
    fig.suptitle(title, fontsize=13)
    return fig, axes


def missing(ax, what):
    ax.text(0.5, 0.5, f"{what}:\nnot computed", ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def finish(ax, xlabel, ylabel, title, which="major"):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, which=which)
    ax.legend(fontsize=8)


def panels(d, stem, title, what):
    """The figure with the trained and the initial model side by side: yields (ax, file, label)
    for each model whose file exists; the other panel says it was not computed."""
    fig, axes = side_by_side(title)
    for col, (suffix, label) in enumerate(MODELS):
        f = open_h5(d, f"{stem}{suffix}.h5")
        if f is None:
            missing(axes[0, col], f"{label} model's {what}")
            continue
        with f:
            yield axes[0, col], f, label
    panels.fig = fig


def training(d):
    f = open_h5(d, "run.h5") or open_h5(d, "run.h5.partial")
    if f is None:
        return None
    with f:
        h = f["history"]
        loss = h["loss"][()]
        fig, ax = plt.subplots(figsize=(8, 4.2))
        steps = np.arange(len(loss))
        ax.semilogy(steps, loss, lw=0.8, label="training loss (the step's batch)")
        if "valid_loss" in h:
            v = h["valid_loss"][()]
            ok = np.isfinite(v)
            ax.semilogy(steps[ok], v[ok], "o-", ms=3, label="validation loss")
        ax.set_xlabel("training step (parameter updates)")
        ax.set_ylabel("mean squared error")
        ax.set_title("Training of the stack (run.h5): loss against step")
        ax.grid(alpha=0.3)
        ax.legend()
        return save(fig, d, "training")


def probe_states(d, suffix):
    """The probe batch's state trajectories (B, T, N): of checkpoint 0 for the initial model,
    of the last checkpoint for the trained one."""
    f = open_h5(d, "run.h5")
    if f is None:
        return None
    with f:
        cps = sorted(int(k) for k in f["checkpoints"].keys())
        step = 0 if suffix == "_init" else cps[-1]
        g = f["checkpoints"][str(step)]
        return g["states"][()] if "states" in g else None


def fixed_points(d):
    fig, axes = side_by_side("Fixed points at zero input: eigenvalues (top) and the points among the network's "
                             "trajectories (bottom)", nrows=2)
    for col, (suffix, label) in enumerate(MODELS):
        f = open_h5(d, f"fixed_points{suffix}.h5")
        ax, ax2 = axes[0, col], axes[1, col]
        if f is None or "fixed_points/stable" not in f:
            missing(ax, f"{label} model's fixed points")
            missing(ax2, f"{label} model's fixed points")
            continue
        with f:
            fp = f["fixed_points"]
            stable = fp["stable"][()]
            ev = fp["eigenvalues"][()]
            pts = fp["states"][()]
            t = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(t), np.sin(t), "k-", lw=0.6)
            for k in range(len(stable)):
                c = "tab:blue" if stable[k] == 1 else "tab:red"
                ax.plot(ev[k].real, ev[k].imag, ".", color=c, ms=4, alpha=0.7)
            ax.plot([], [], "o", color="tab:blue", label=f"stable points ({int((stable == 1).sum())})")
            ax.plot([], [], "o", color="tab:red", label=f"points with unstable directions ({int((stable != 1).sum())})")
            ax.set_aspect("equal")
            ax.set_xlabel("Re eigenvalue of dF/ds")
            ax.set_ylabel("Im eigenvalue")
            ax.set_title(f"{label} model: spectra at its {len(stable)} fixed points")
            ax.legend(fontsize=8, loc="upper left")
            ax.grid(alpha=0.3)
            S = probe_states(d, suffix)
            if S is None:
                missing(ax2, "probe trajectories")
                continue
            X = S.reshape(-1, S.shape[-1])
            mu = X.mean(axis=0)
            _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
            P = vt[:2].T
            for b in range(S.shape[0]):
                Y = (S[b] - mu) @ P
                ax2.plot(Y[:, 0], Y[:, 1], "-", color="grey", lw=0.6, alpha=0.7)
            Z = (pts - mu) @ P
            for k in range(len(stable)):
                if stable[k] == 1:
                    ax2.plot(Z[k, 0], Z[k, 1], "o", color="tab:blue", ms=8, mec="k")
                else:
                    ax2.plot(Z[k, 0], Z[k, 1], "x", color="tab:red", ms=8, mew=2)
                    if "right_eigenvectors" in fp:
                        v = np.real(fp["right_eigenvectors"][k, 0]) @ P
                        n = np.linalg.norm(v)
                        if n > 0:
                            v = 0.5 * v / n * np.ptp((S.reshape(-1, S.shape[-1]) - mu) @ P[:, 0])
                            ax2.plot([Z[k, 0] - v[0], Z[k, 0] + v[0]], [Z[k, 1] - v[1], Z[k, 1] + v[1]], "r-", lw=1)
            ax2.set_xlabel("PC 1 of the probe trajectories")
            ax2.set_ylabel("PC 2")
            ax2.set_title(f"{label}: trajectories (grey), stable (o), saddles (x)",
                          fontsize=9)
            ax2.grid(alpha=0.3)
    return save(fig, d, "fixed_points")


def timescales(d):
    for ax, f, label in panels(d, "timescales", "Frequency response of each layer at the stable point "
                               "(gain from the network input)", "timescales"):
        fr = f["frequencies"][()]
        g = f["gain"][()]
        ts = f["timescale"][()]
        pf = f["preferred_frequency"][()]
        for l in range(g.shape[0]):
            c = LAYER_COLOURS[l % 10]
            ax.loglog(fr, g[l], "-", color=c, label=f"layer {l}: timescale {ts[l]:.3g} steps")
            if "gain_linear" in f:
                ax.loglog(fr, f["gain_linear"][l], "--", color=c, lw=0.8)
            ax.axvline(pf[l], color=c, ls=":", lw=0.8)
        finish(ax, "drive frequency (cycles per step)", "gain |state| / |input| (measured; dashed: linear)",
               f"{label} model", which="both")
    return save(panels.fig, d, "timescales")


def lyapunov(d):
    for ax, f, label in panels(d, "lyapunov", "Lyapunov spectrum along trajectories driven by the task's input, "
                               "one colour per layer", "Lyapunov spectrum"):
        ex = f["exponents"][()]
        ky = float(f["kaplan_yorke_dimension"][()])
        if "layer_exponents" in f:
            le = f["layer_exponents"][()]
            for l in range(le.shape[0]):
                v = le[l][np.isfinite(le[l])]
                ax.plot(np.arange(len(v)), v, "o-", ms=3, lw=0.8, color=LAYER_COLOURS[l % 10],
                        label=f"layer {l}: largest {v.max():.3g}" if len(v) else f"layer {l}")
        else:
            ax.plot(np.arange(len(ex)), ex, "o-", ms=3, label="stack")
        ax.axhline(0, color="k", lw=0.6)
        finish(ax, "exponent index within the layer (descending)", "Lyapunov exponent (per step)",
               f"{label} model: largest {ex[0]:.3g}, Kaplan-Yorke dimension {ky:.3g}")
    return save(panels.fig, d, "lyapunov")


def gradient_flow(d):
    data = []
    for suffix, label in MODELS:
        f = open_h5(d, f"gradient_flow{suffix}.h5")
        if f is None:
            data.append(None)
            continue
        with f:
            data.append(np.log10(np.maximum(f["jacobian_norms"][()], 1e-300)))
    finite = [x[np.isfinite(x)] for x in data if x is not None]
    vmin = max(min(x.min() for x in finite), -16) if finite else None
    vmax = max(x.max() for x in finite) if finite else None
    fig, axes = side_by_side("Gradient flow: log10 |d h_T(top layer) / d s_t(layer l)| across time and depth")
    for col, (suffix, label) in enumerate(MODELS):
        ax = axes[0, col]
        if data[col] is None:
            missing(ax, f"{label} model's gradient flow")
            continue
        a = data[col]
        im = ax.imshow(a.T, aspect="auto", origin="lower", vmin=vmin, vmax=vmax, cmap="viridis",
                       extent=[-0.5, a.shape[0] - 0.5, -0.5, a.shape[1] - 0.5])
        ax.set_xlabel("time step t of the trajectory (T - 1 is the last)")
        ax.set_ylabel("layer l (0 = bottom)")
        ax.set_yticks(range(a.shape[1]))
        ax.set_title(f"{label} model", fontsize=11)
        fig.colorbar(im, ax=ax, label="log10 Frobenius norm")
    return save(fig, d, "gradient_flow")


def continuation(d):
    for ax, f, label in panels(d, "continuation", "Continuation of the stable point along the constant input x = p",
                               "continuation"):
        br = f["branches"]
        allS = np.concatenate([br[k]["states"][()] for k in br.keys() if len(br[k]["p"]) > 0])
        mu = allS.mean(axis=0)
        _, _, vt = np.linalg.svd(allS - mu, full_matrices=False)
        pc = vt[0]
        for k in br.keys():
            g = br[k]
            p = g["p"][()]
            if len(p) == 0:
                continue
            y = (g["states"][()] - mu) @ pc
            nu = g["n_unstable"][()]
            for stable, style in ((True, "-"), (False, "--")):
                yy = np.where((nu == 0) == stable, y, np.nan)
                ax.plot(p, yy, style, color="tab:blue" if stable else "tab:red", lw=1.2)
            kinds = str(g.attrs.get("event_kinds", "")).split(";") if g.attrs.get("event_kinds", "") else []
            for kind, ep in zip(kinds, g["event_p"][()]):
                ax.axvline(ep, color="k", ls=":", lw=0.8)
                ax.text(ep, ax.get_ylim()[1], kind, rotation=90, va="top", fontsize=7)
        ax.plot([], [], "-", color="tab:blue", label="stable")
        ax.plot([], [], "--", color="tab:red", label="unstable")
        finish(ax, "constant input p", "state along the branch (first principal coordinate)", f"{label} model")
    return save(panels.fig, d, "continuation")


def main(argv):
    if len(argv) != 1:
        fail("usage: pipeline_figures.py DIR")
    d = argv[0]
    if not os.path.isfile(os.path.join(d, "pipeline.toml")):
        fail(f"{d} is not a pipeline directory (no pipeline.toml)")
    os.makedirs(os.path.join(d, "figures"), exist_ok=True)
    made = []
    for draw in (training, fixed_points, timescales, lyapunov, gradient_flow, continuation):
        out = draw(d)
        if out:
            made.append(os.path.basename(out))
    print(f"{d}/figures: " + ", ".join(made))


if __name__ == "__main__":
    main(sys.argv[1:])
