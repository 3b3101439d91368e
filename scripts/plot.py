#!/usr/bin/python3
"""The figure a researcher expects for any stackdyn result file.

    scripts/plot.py RESULT.h5 [-o FIG.png] [--kind KIND]

The kind of file is recognised from its attributes (the `kind` attribute of the probe
commands, otherwise the command line that made it), then from its datasets:

  trajectories   simulate, forward, sweep, demo: per-layer traces and a PCA projection
  fixed_points   fixed-points, spectrum: eigenvalue clouds against the unit circle (map) or the
                 imaginary axis (flow), points in PCA space coloured by stability
  continuation   bifurcation diagram: a coordinate of the branches against p, stable solid
  timescales     layer x frequency gain map, and each layer's gain with the linear prediction
  lyapunov       the spectrum (with the layers' own) and the running estimate's convergence
  gradient_flow  time x depth map of |d h_T / d s_t^(l)|_F (bidirectional: output x input time)
  training       loss and per-layer gradient norms over steps

Headless (matplotlib's Agg backend); needs Debian's python3-matplotlib and python3-h5py.
"""
import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

KINDS = ["trajectories", "fixed_points", "continuation", "timescales", "lyapunov", "gradient_flow", "training"]
COMMAND_KINDS = {
    "simulate": "trajectories", "forward": "trajectories", "sweep": "trajectories", "demo": "trajectories",
    "fixed-points": "fixed_points", "spectrum": "fixed_points", "continuation": "continuation",
    "timescales": "timescales", "lyapunov": "lyapunov", "gradient-flow": "gradient_flow",
}


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def detect(f):
    kind = text(f.attrs.get("kind", ""))
    if kind in KINDS:
        return kind
    if "history" in f and "loss" in f["history"]:
        return "training"
    words = text(f.attrs.get("command_line", "")).split()
    if len(words) > 1 and words[1] in COMMAND_KINDS:
        return COMMAND_KINDS[words[1]]
    if "branches" in f:
        return "continuation"
    if "eigenvalues" in f or "fixed_points" in f:
        return "fixed_points"
    if "states" in f or "discrete" in f or "continuous" in f:
        return "trajectories"
    raise SystemExit("plot.py: error: %s is not a stackdyn result file this script knows "
                     "(no 'kind' attribute, command line or known dataset)" % f.filename)


def slices(f):
    if "state_slices" in f:
        return [(int(o), int(n)) for o, n in f["state_slices"][()]]
    return None


def pca(X, k=2):
    X = X - X.mean(axis=0)
    if X.shape[0] < 2:
        return np.zeros((X.shape[0], k)), np.zeros(k)
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    k = min(k, vt.shape[0])
    P = X @ vt[:k].T
    if P.shape[1] < 2:
        P = np.hstack([P, np.zeros((P.shape[0], 2 - P.shape[1]))])
    var = s ** 2 / max(np.sum(s ** 2), 1e-300)
    return P, var[:2]


def plot_trajectories(f, fig):
    g = f
    for name in ("continuous", "discrete"):  # the demo's groups
        if "states" not in f and name in f:
            g = f[name]
            break
    if "states" in g:
        S = g["states"][()]
        t = g["time"][()] if "time" in g else np.arange(S.shape[-2])
    else:  # forward without states: the outputs
        S = g["outputs"][()]
        t = np.arange(S.shape[1])
    while S.ndim > 3:  # a sweep: (runs, batch, time, state) -> its first run
        S = S[0]
    sl = slices(g) or slices(f) or [(0, S.shape[-1])]
    L = len(sl)
    units = text(g.attrs.get("units", f.attrs.get("units", "steps")))
    axes = [fig.add_subplot(L, 2, 2 * l + 1) for l in range(L)]
    for l, (o, n) in enumerate(sl):
        ax = axes[l]
        for j in range(min(n, 8)):
            ax.plot(t, S[0, :, o + j], lw=0.8)
        ax.set_ylabel("layer %d" % l)
        if l == L - 1:
            ax.set_xlabel("time (%s)" % units)
    axes[0].set_title("units of each layer, sample 0")
    ax = fig.add_subplot(1, 2, 2)
    B, T, N = S.shape
    P, var = pca(S.reshape(B * T, N))
    P = P.reshape(B, T, 2)
    for b in range(B):
        ax.plot(P[b, :, 0], P[b, :, 1], lw=0.8)
        ax.plot(P[b, 0, 0], P[b, 0, 1], "o", ms=3, color="k")
    ax.set_xlabel("PC 1 (%.0f%%)" % (100 * var[0]))
    ax.set_ylabel("PC 2 (%.0f%%)" % (100 * var[1]) if len(var) > 1 else "PC 2")
    ax.set_title("state in PCA space (dots: starts)")


def plot_fixed_points(f, fig):
    g = f["fixed_points"] if "fixed_points" in f else f
    ev = g["eigenvalues"][()]
    states = g["states"][()]
    stable = g["n_unstable"][()] == 0 if "n_unstable" in g else np.ones(len(states), bool)
    discrete = text(f.attrs.get("mode", "discrete")) == "discrete"
    ax = fig.add_subplot(1, 2, 1)
    for k in range(ev.shape[0]):
        e = ev[k][np.isfinite(ev[k])]
        ax.plot(e.real, e.imag, ".", ms=4, color="tab:blue" if stable[k] else "tab:red", alpha=0.7)
    if discrete:
        th = np.linspace(0, 2 * np.pi, 400)
        ax.plot(np.cos(th), np.sin(th), "k-", lw=0.8)
        ax.set_aspect("equal", adjustable="datalim")
    else:
        ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("Re lambda")
    ax.set_ylabel("Im lambda")
    ax.set_title("eigenvalues (blue: stable points, red: unstable)")
    ax = fig.add_subplot(1, 2, 2)
    background = f["starts/final"][()] if "starts" in f and "final" in f["starts"] else np.empty((0, states.shape[1]))
    both = np.vstack([states, background])
    P, var = pca(both)
    if len(background):
        ax.plot(P[len(states):, 0], P[len(states):, 1], ".", ms=2, color="0.7", label="ends of starts")
    ax.scatter(P[:len(states), 0], P[:len(states), 1], c=np.where(stable, "tab:blue", "tab:red"), s=30, zorder=3)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("%d points (blue: stable)" % len(states))


def plot_continuation(f, fig):
    br = f["branches"]
    names = sorted(br.keys(), key=lambda s: int(s.split("_")[-1]))
    allstates = np.vstack([br[n]["states"][()] for n in names if len(br[n]["p"])])
    mean = allstates.mean(axis=0)
    _, _, vt = np.linalg.svd(allstates - mean, full_matrices=False)
    ax = fig.add_subplot(1, 1, 1)
    for n in names:
        b = br[n]
        p = b["p"][()]
        if len(p) == 0:
            continue
        y = (b["states"][()] - mean) @ vt[0]
        stable = b["n_unstable"][()] == 0
        for mask, style in ((stable, "-"), (~stable, "--")):
            yy = np.where(mask, y, np.nan)
            ax.plot(p, yy, style, color="tab:blue" if style == "-" else "tab:red", lw=1.2)
        for pe in b["event_p"][()]:
            ax.axvline(pe, color="0.6", lw=0.6, ls=":")
    ax.set_xlabel("p (%s)" % text(f.attrs.get("parameter", "")))
    ax.set_ylabel("fixed point, first principal coordinate")
    ax.set_title("bifurcation diagram (solid stable, dashed unstable, dotted: events)")


def plot_timescales(f, fig):
    fr = f["frequencies"][()]
    gain, lin = f["gain"][()], f["gain_linear"][()]
    L = gain.shape[0]
    units = text(f.attrs.get("frequency_units", "cycles per step"))
    own = "own_gain_measured" in f  # older files hold the cumulative gain only
    panels = 3 if own else 2
    if own:
        fig.set_size_inches(17, 5)
    ax = fig.add_subplot(1, panels, 1)
    im = ax.pcolormesh(np.arange(len(fr) + 1), np.arange(L + 1), np.log10(np.maximum(gain, 1e-300)), shading="flat")
    ticks = np.linspace(0, len(fr) - 1, min(len(fr), 5)).astype(int)
    ax.set_xticks(ticks + 0.5)
    ax.set_xticklabels(["%.3g" % fr[i] for i in ticks])
    ax.set_yticks(np.arange(L) + 0.5)
    ax.set_yticklabels(["layer %d" % l for l in range(L)])
    ax.set_xlabel("frequency (%s)" % units)
    fig.colorbar(im, ax=ax, label="log10 gain")
    ax.set_title("gain from the input per layer")
    # The cumulative gain (from the network input) and, beside it, each layer's own gain
    # (from the stream it reads): the first multiplies the second over the layers below.
    curves = [("gain", "gain_linear", "cutoff_frequency", "from the input (cumulative)")]
    if own:
        curves.append(("own_gain_measured", "own_gain_predicted", "own_cutoff_frequency", "own (from the stream it reads)"))
    for k, (measured, predicted, cutoff, what) in enumerate(curves):
        ax = fig.add_subplot(1, panels, 2 + k)
        g, p = f[measured][()], f[predicted][()]
        for l in range(L):
            line, = ax.loglog(fr, g[l], "o-", ms=3, label="layer %d (tau %.3g)" % (l, f["timescale"][l]))
            ax.loglog(fr, p[l], "--", color=line.get_color(), lw=0.8)
            ax.axvline(f[cutoff][l], color=line.get_color(), lw=0.6, ls=":")
        if k == 0 and "readout_gain" in f:
            ax.loglog(fr, f["readout_gain"][()], "k.-", ms=3, label="readout")
            ax.loglog(fr, f["readout_gain_predicted"][()], "k--", lw=0.8)
        ax.set_xlabel("frequency (%s)" % units)
        ax.set_ylabel("gain |c| / a")
        ax.set_title("%s: measured (dots), linear (dashed), cutoff (dotted)" % what, fontsize=8)
        ax.legend(fontsize=7)


def plot_lyapunov(f, fig):
    ex = f["exponents"][()]
    units = text(f.attrs.get("exponent_units", "per step"))
    ax = fig.add_subplot(1, 2, 1)
    ax.plot(np.arange(1, len(ex) + 1), ex, "k.-", ms=4, label="stack")
    if "layer_exponents" in f:
        le = f["layer_exponents"][()]
        for l in range(le.shape[0]):
            e = le[l][np.isfinite(le[l])]
            idx = [int(np.argmin(np.abs(ex - v))) + 1 for v in e]
            ax.plot(idx, e, "o", mfc="none", ms=6, label="layer %d's block" % l)
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("index")
    ax.set_ylabel("exponent (%s)" % units)
    ky = float(f["kaplan_yorke_dimension"][()])
    ax.set_title("Lyapunov spectrum, Kaplan-Yorke dimension %s" % ("%.3g" % ky if np.isfinite(ky) else "n/a"))
    ax.legend(fontsize=7)
    ax = fig.add_subplot(1, 2, 2)
    run = f["running"][()]
    t = f["running_time"][()] if "running_time" in f else np.arange(1, run.shape[0] + 1)
    for i in range(min(run.shape[1], 8)):
        ax.plot(t, run[:, i], lw=0.9)
    ax.set_xlabel("measured %s" % text(f.attrs.get("units", "steps")))
    ax.set_ylabel("running estimate")
    ax.set_title("convergence (top %d)" % min(run.shape[1], 8))


def plot_dependency(f, fig):
    D = f["dependency"][()]
    T = D.shape[0]
    ax = fig.add_subplot(1, 2, 1)
    im = ax.pcolormesh(np.arange(T + 1), np.arange(T + 1), np.log10(np.maximum(D, 1e-300)), shading="flat")
    ax.plot([0, T], [0, T], "w:", lw=0.8)
    ax.set_xlabel("s (input step)")
    ax.set_ylabel("t (output step)")
    fig.colorbar(im, ax=ax, label="log10 |d y_t / d x_s|_F")
    ax.set_title("bidirectional stack: output on input")
    ax = fig.add_subplot(1, 2, 2)
    lag = np.arange(-(T - 1), T)
    mean = [np.mean(np.diagonal(D, offset=k)) for k in lag]  # s - t = k
    ax.semilogy(lag, np.maximum(mean, 1e-300))
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("s - t (input step after the output's: the future)")
    ax.set_ylabel("mean norm")
    if "depth_path_counts" in f:
        ax.set_title("paths in depth: %s" % ", ".join(str(int(c)) for c in f["depth_path_counts"][()]))


def plot_gradient_flow(f, fig):
    if "dependency" in f and "jacobian_norms" not in f:
        return plot_dependency(f, fig)
    J = f["jacobian_norms"][()]
    T, L = J.shape
    ax = fig.add_subplot(1, 2, 1)
    im = ax.pcolormesh(np.arange(T + 1), np.arange(L + 1), np.log10(np.maximum(J.T, 1e-300)), shading="flat")
    ax.set_xlabel("t (step linearised at)")
    ax.set_yticks(np.arange(L) + 0.5)
    ax.set_yticklabels(["layer %d" % l for l in range(L)])
    fig.colorbar(im, ax=ax, label="log10 |d h_T^(top) / d s_t^(l)|_F")
    ax.set_title("gradient flow, time x depth")
    ax = fig.add_subplot(1, 2, 2)
    for l in range(L):
        ax.semilogy(np.arange(T), np.maximum(J[:, l], 1e-300), label="layer %d" % l)
    ax.set_xlabel("t")
    ax.set_ylabel("norm")
    ax.legend(fontsize=7)
    if "depth_path_counts" in f:
        ax.set_title("paths in depth: %s" % ", ".join(str(int(c)) for c in f["depth_path_counts"][()]))


def plot_training(f, fig):
    h = f["history"]
    loss = h["loss"][()]
    steps = h["step"][()] if "step" in h else np.arange(len(loss))
    ax = fig.add_subplot(1, 2, 1)
    ax.semilogy(steps, loss, label="loss")
    # auxiliary objectives, when the run had them (docs/training.md)
    if "total_loss" in h:
        ax.semilogy(steps, h["total_loss"][()], "k:", label="total objective")
    for name, label in (("aux_loss", "auxiliary readout of layer %s"), ("prediction_error", "prediction error, layer %s")):
        if name in h:
            d = h[name][()]
            ids = list(range(d.shape[1]))
            if name == "aux_loss":  # columns in increasing layer order; the layers name the readouts
                g = "extra_parameters/aux_readouts"
                ids = sorted(int(k) for k in f[g]) if g in f else ["#%d" % k for k in ids]
            for k in range(d.shape[1]):
                ax.semilogy(steps[:d.shape[0]], np.maximum(d[:, k], 1e-300), "--", label=label % ids[k])
    if "gate_penalty" in h:
        ax.semilogy(steps, np.maximum(h["gate_penalty"][()], 1e-300), "-.", label="gate penalty (mean o i)")
    if len(ax.get_lines()) > 1:
        ax.legend(fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title("loss")
    ax = fig.add_subplot(1, 2, 2)
    if "grad_norm_layers" in h:
        G = h["grad_norm_layers"][()]
        labels = ["weight_ih", "weight_hh"]
        G = G.reshape(G.shape[0], G.shape[1], -1)
        for l in range(G.shape[1]):
            for k in range(G.shape[2]):
                ax.semilogy(steps[:G.shape[0]], np.maximum(G[:, l, k], 1e-300), ["-", "--"][k % 2],
                            color="C%d" % l, label="layer %d %s" % (l, labels[k] if k < 2 else k))
        ax.legend(fontsize=7)
    ax.set_xlabel("step")
    ax.set_ylabel("gradient norm")
    ax.set_title("per-layer gradient norms")


DRAW = {"trajectories": plot_trajectories, "fixed_points": plot_fixed_points, "continuation": plot_continuation,
        "timescales": plot_timescales, "lyapunov": plot_lyapunov, "gradient_flow": plot_gradient_flow,
        "training": plot_training}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result")
    ap.add_argument("-o", "--output", help="PNG to write (default RESULT with .png)")
    ap.add_argument("--kind", choices=KINDS, help="override the recognised kind")
    ap.add_argument("--title", help="figure title (default: the file name and kind)")
    a = ap.parse_args(argv)
    out = a.output or os.path.splitext(a.result)[0] + ".png"
    try:
        f = h5py.File(a.result, "r")
    except OSError as e:
        raise SystemExit("plot.py: error: cannot open %s as HDF5: %s" % (a.result, e))
    with f:
        kind = a.kind or detect(f)
        fig = plt.figure(figsize=(12, 5))
        DRAW[kind](f, fig)
        fig.suptitle(a.title or "%s (%s)" % (os.path.basename(a.result), kind.replace("_", " ")))
        fig.tight_layout()
        fig.savefig(out, dpi=110)
    print("%s: %s figure -> %s" % (a.result, kind, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
