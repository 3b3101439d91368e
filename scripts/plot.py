#!/usr/bin/python3
"""The figure a researcher expects for any stackdyn result file.

    scripts/plot.py RESULT.h5[:/group] [-o FIG.png] [--kind KIND]

RESULT.h5:/group draws a group as if it were a file, as the commands read FILE.h5:/group: a
training checkpoint's probe trajectories (RUN.h5:/checkpoints/<step>) or its fixed points
(RUN.h5:/checkpoints/<step>/fixed_point_search, or the checkpoint with --kind fixed_points).

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
The output must not be the input (by any spelling or link); it is written under a temporary
name and renamed when complete. Bad input (a truncated file, a --kind the file does not hold)
is one line `plot.py: error: ...` with exit code 2.

As a module (scripts/ on sys.path): `draw(group, kind, axes)` draws one kind on given
matplotlib axes (`n_axes(group, kind)` of them, `make_axes(fig, group, kind)` lays them out as
the script does), `detect(group)` recognises the kind, `plot_file(spec, output)` is the script.
"""
import argparse
import contextlib
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stackdyn_io as sio  # noqa: E402

PROG = "plot.py"

KINDS = ["trajectories", "fixed_points", "continuation", "timescales", "lyapunov", "gradient_flow", "training"]
COMMAND_KINDS = {
    "simulate": "trajectories", "forward": "trajectories", "sweep": "trajectories", "demo": "trajectories",
    "fixed-points": "fixed_points", "spectrum": "fixed_points", "continuation": "continuation",
    "timescales": "timescales", "lyapunov": "lyapunov", "gradient-flow": "gradient_flow",
}


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def _where(f):
    return f.file.filename if f.name == "/" else f"{f.file.filename}:{f.name}"


def detect(f):
    """The kind of result `f` (an h5py file or group) holds; ScriptError when none is known."""
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
    raise sio.ScriptError("%s is not a stackdyn result this script knows (no 'kind' attribute, command line or "
                          "known dataset); expected one of the kinds %s, or --kind" % (_where(f), ", ".join(KINDS)))


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


def _trajectory_data(f):
    """(group, time, states (B, T, N), slices) of a trajectories result."""
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
    return g, t, S, sl


def draw_trajectories(f, axes):
    """axes: one per layer (its units over time), then one (the PCA projection)."""
    g, t, S, sl = _trajectory_data(f)
    L = len(sl)
    units = text(g.attrs.get("units", f.attrs.get("units", "steps")))
    for l, (o, n) in enumerate(sl):
        ax = axes[l]
        for j in range(min(n, 8)):
            ax.plot(t, S[0, :, o + j], lw=0.8)
        ax.set_ylabel("layer %d" % l)
        if l == L - 1:
            ax.set_xlabel("time (%s)" % units)
    axes[0].set_title("units of each layer, sample 0")
    ax = axes[L]
    B, T, N = S.shape
    P, var = pca(S.reshape(B * T, N))
    P = P.reshape(B, T, 2)
    for b in range(B):
        ax.plot(P[b, :, 0], P[b, :, 1], lw=0.8)
        ax.plot(P[b, 0, 0], P[b, 0, 1], "o", ms=3, color="k")
    ax.set_xlabel("PC 1 (%.0f%%)" % (100 * var[0]))
    ax.set_ylabel("PC 2 (%.0f%%)" % (100 * var[1]) if len(var) > 1 else "PC 2")
    ax.set_title("state in PCA space (dots: starts)")


def draw_fixed_points(f, axes):
    """axes: eigenvalues, points in PCA space. A training checkpoint: its fixed_point_search."""
    if "fixed_points" not in f and "eigenvalues" not in f and "fixed_point_search" in f:
        f = f["fixed_point_search"]
    g = f["fixed_points"] if "fixed_points" in f else f
    ev = g["eigenvalues"][()]
    states = g["states"][()]
    stable = g["n_unstable"][()] == 0 if "n_unstable" in g else np.ones(len(states), bool)
    discrete = text(f.attrs.get("mode", "discrete")) == "discrete"
    ax = axes[0]
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
    ax = axes[1]
    background = f["starts/final"][()] if "starts" in f and "final" in f["starts"] else np.empty((0, states.shape[1]))
    both = np.vstack([states, background])
    P, var = pca(both)
    if len(background):
        ax.plot(P[len(states):, 0], P[len(states):, 1], ".", ms=2, color="0.7", label="ends of starts")
    ax.scatter(P[:len(states), 0], P[:len(states), 1], c=np.where(stable, "tab:blue", "tab:red"), s=30, zorder=3)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title("%d points (blue: stable)" % len(states))


def draw_continuation(f, axes):
    """axes: one, the bifurcation diagram."""
    br = f["branches"]
    names = sorted(br.keys(), key=lambda s: int(s.split("_")[-1]))
    allstates = np.vstack([br[n]["states"][()] for n in names if len(br[n]["p"])])
    mean = allstates.mean(axis=0)
    _, _, vt = np.linalg.svd(allstates - mean, full_matrices=False)
    ax = axes[0]
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


def draw_timescales(f, axes):
    """axes: the layer x frequency gain map, each layer's gain."""
    fr = f["frequencies"][()]
    gain, lin = f["gain"][()], f["gain_linear"][()]
    L = gain.shape[0]
    units = text(f.attrs.get("frequency_units", "cycles per step"))
    own = "own_gain_measured" in f  # older files hold the cumulative gain only
    ax = axes[0]
    im = ax.pcolormesh(np.arange(len(fr) + 1), np.arange(L + 1), np.log10(np.maximum(gain, 1e-300)), shading="flat")
    ticks = np.linspace(0, len(fr) - 1, min(len(fr), 5)).astype(int)
    ax.set_xticks(ticks + 0.5)
    ax.set_xticklabels(["%.3g" % fr[i] for i in ticks])
    ax.set_yticks(np.arange(L) + 0.5)
    ax.set_yticklabels(["layer %d" % l for l in range(L)])
    ax.set_xlabel("frequency (%s)" % units)
    ax.figure.colorbar(im, ax=ax, label="log10 gain")
    ax.set_title("gain from the input per layer")
    # The cumulative gain (from the network input) and, beside it, each layer's own gain
    # (from the stream it reads): the first multiplies the second over the layers below.
    curves = [("gain", "gain_linear", "cutoff_frequency", "from the input (cumulative)")]
    if own:
        curves.append(("own_gain_measured", "own_gain_predicted", "own_cutoff_frequency", "own (from the stream it reads)"))
    for k, (measured, predicted, cutoff, what) in enumerate(curves):
        ax = axes[1 + k]
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


def draw_lyapunov(f, axes):
    """axes: the spectrum, the running estimate."""
    ex = f["exponents"][()]
    units = text(f.attrs.get("exponent_units", "per step"))
    ax = axes[0]
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
    ax = axes[1]
    run = f["running"][()]
    t = f["running_time"][()] if "running_time" in f else np.arange(1, run.shape[0] + 1)
    for i in range(min(run.shape[1], 8)):
        ax.plot(t, run[:, i], lw=0.9)
    ax.set_xlabel("measured %s" % text(f.attrs.get("units", "steps")))
    ax.set_ylabel("running estimate")
    ax.set_title("convergence (top %d)" % min(run.shape[1], 8))


def draw_dependency(f, axes):
    D = f["dependency"][()]
    T = D.shape[0]
    ax = axes[0]
    im = ax.pcolormesh(np.arange(T + 1), np.arange(T + 1), np.log10(np.maximum(D, 1e-300)), shading="flat")
    ax.plot([0, T], [0, T], "w:", lw=0.8)
    ax.set_xlabel("s (input step)")
    ax.set_ylabel("t (output step)")
    ax.figure.colorbar(im, ax=ax, label="log10 |d y_t / d x_s|_F")
    ax.set_title("bidirectional stack: output on input")
    ax = axes[1]
    lag = np.arange(-(T - 1), T)
    mean = [np.mean(np.diagonal(D, offset=k)) for k in lag]  # s - t = k
    ax.semilogy(lag, np.maximum(mean, 1e-300))
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("s - t (input step after the output's: the future)")
    ax.set_ylabel("mean norm")
    if "depth_path_counts" in f:
        ax.set_title("paths in depth: %s" % ", ".join(str(int(c)) for c in f["depth_path_counts"][()]))


def draw_gradient_flow(f, axes):
    """axes: the time x depth map (bidirectional: output x input time), its cuts."""
    if "dependency" in f and "jacobian_norms" not in f:
        return draw_dependency(f, axes)
    J = f["jacobian_norms"][()]
    T, L = J.shape
    ax = axes[0]
    im = ax.pcolormesh(np.arange(T + 1), np.arange(L + 1), np.log10(np.maximum(J.T, 1e-300)), shading="flat")
    ax.set_xlabel("t (step linearised at)")
    ax.set_yticks(np.arange(L) + 0.5)
    ax.set_yticklabels(["layer %d" % l for l in range(L)])
    ax.figure.colorbar(im, ax=ax, label="log10 |d h_T^(top) / d s_t^(l)|_F")
    ax.set_title("gradient flow, time x depth")
    ax = axes[1]
    for l in range(L):
        ax.semilogy(np.arange(T), np.maximum(J[:, l], 1e-300), label="layer %d" % l)
    ax.set_xlabel("t")
    ax.set_ylabel("norm")
    ax.legend(fontsize=7)
    if "depth_path_counts" in f:
        ax.set_title("paths in depth: %s" % ", ".join(str(int(c)) for c in f["depth_path_counts"][()]))


def draw_training(f, axes):
    """axes: the losses, the per-layer gradient norms."""
    h = f["history"]
    loss = h["loss"][()]
    steps = h["step"][()] if "step" in h else np.arange(len(loss))
    ax = axes[0]
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
    ax = axes[1]
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


DRAW = {"trajectories": draw_trajectories, "fixed_points": draw_fixed_points, "continuation": draw_continuation,
        "timescales": draw_timescales, "lyapunov": draw_lyapunov, "gradient_flow": draw_gradient_flow,
        "training": draw_training}


def n_axes(f, kind):
    """How many axes draw(f, kind, axes) needs."""
    if kind == "trajectories":
        return len(_trajectory_data(f)[3]) + 1
    if kind == "timescales" and "own_gain_measured" in f:
        return 3  # the map, the cumulative gain and each layer's own gain
    return 1 if kind == "continuation" else 2


def make_axes(fig, f, kind):
    """The script's layout: trajectories one row per layer on the left and the PCA on the right,
    continuation one panel, the others two side by side."""
    n = n_axes(f, kind)
    if kind == "trajectories":
        return [fig.add_subplot(n - 1, 2, 2 * l + 1) for l in range(n - 1)] + [fig.add_subplot(1, 2, 2)]
    return [fig.add_subplot(1, n, k + 1) for k in range(n)]


def _missing_name(e):
    m = re.search(r"object '([^']+)' doesn't exist", str(e))
    return m.group(1) if m else sio.one_line(e)


def draw(f, kind, axes):
    """Draws the result `f` (h5py file or group) as `kind` on `axes`; a file that does not hold
    that kind is a ScriptError (one line) naming what is missing."""
    if kind not in DRAW:
        raise sio.ScriptError(f"unknown kind '{kind}'; expected one of {', '.join(KINDS)}")
    with _input_errors(f, kind):
        DRAW[kind](f, axes)


@contextlib.contextmanager
def _input_errors(f, kind):
    """Missing datasets, wrong shapes and unreadable data of `f` as one-line ScriptErrors."""
    try:
        yield
    except KeyError as e:
        raise sio.ScriptError(f"{_where(f)} has no '{_missing_name(e)}', which a {kind} figure needs; expected a "
                              f"{kind} result{_detected_hint(f, kind)}") from None
    except (ValueError, IndexError) as e:
        raise sio.ScriptError(f"{_where(f)} cannot be drawn as a {kind} figure ({sio.one_line(e)[:200]}); expected a "
                              f"{kind} result{_detected_hint(f, kind)}") from None
    except OSError as e:
        raise sio.ScriptError(f"{_where(f)}: reading it failed ({sio.one_line(e)[:200]}); expected a complete "
                              "HDF5 file (a truncated copy?)") from None


def _detected_hint(f, kind):
    try:
        found = detect(f)
    except (sio.ScriptError, KeyError, OSError):
        return ""
    return f" (it holds {found}: drop --kind or give --kind {found})" if found != kind else ""


def default_output(spec):
    """RESULT.png for RESULT.h5, RUN_checkpoints_100.png for RUN.h5:/checkpoints/100."""
    path, group = sio.split_spec(spec)
    stem = os.path.splitext(path)[0]
    return stem + ("_" + group.strip("/").replace("/", "_") if group.strip("/") else "") + ".png"


def plot_file(spec, output=None, kind=None, title=None):
    """The script: draws RESULT.h5[:/group] into `output` (written atomically). Returns (kind, output)."""
    path, group = sio.split_spec(spec)
    out = output or default_output(spec)
    sio.refuse_output_among_inputs(out, [spec])
    fmt = os.path.splitext(out)[1][1:].lower() or "png"
    fig = plt.figure(figsize=(12, 5))
    try:
        with sio.open_h5(path, "a stackdyn result file (HDF5)") as f:
            if fmt not in fig.canvas.get_supported_filetypes():
                raise sio.ScriptError(f"output '{out}': matplotlib cannot write '.{fmt}' files; expected one of "
                                      f"{', '.join('.' + k for k in sorted(fig.canvas.get_supported_filetypes()))}")
            if group and group not in f:
                raise sio.ScriptError(f"{spec}: {path} has no group '{group}'; expected a group holding a result")
            g = f[group] if group else f
            kind = kind or detect(g)
            with _input_errors(g, kind):
                axes = make_axes(fig, g, kind)
            if len(axes) == 3 and kind == "timescales":
                fig.set_size_inches(17, 5)
            draw(g, kind, axes)
            fig.suptitle(title or "%s (%s)" % (os.path.basename(path) + (":" + group if group else ""),
                                               kind.replace("_", " ")))
            fig.tight_layout()
            try:
                with sio.atomic_output(out) as partial:
                    fig.savefig(partial, dpi=110, format=fmt)
            except OSError as e:
                raise sio.ScriptError(f"writing {out} failed: {sio.one_line(e)}", exit_code=1) from None
    finally:
        plt.close(fig)
    return kind, out


def body(argv):
    ap = sio.Parser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("result", metavar="RESULT.h5[:/group]")
    ap.add_argument("-o", "--output", help="PNG to write (default RESULT with .png)")
    ap.add_argument("--kind", choices=KINDS, help="override the recognised kind")
    ap.add_argument("--title", help="figure title (default: the file name and kind)")
    a = ap.parse_args(argv)
    kind, out = plot_file(a.result, a.output, a.kind, a.title)
    print("%s: %s figure -> %s" % (a.result, kind, out))
    return 0


def main(argv=None):
    return sio.run_main(PROG, body, argv)


if __name__ == "__main__":
    sys.exit(main())
