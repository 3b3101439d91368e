#!/usr/bin/python3
"""scripts/plot.py draws every kind of result file: each is made by the stackdyn binary (the
training run file, which the training module writes, by h5py in its documented layout),
plotted with the kind recognised from the file, and the PNG must not be blank.

    plot_e2e.py STACKDYN WORK_DIR SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402

exe, work, src = (os.path.abspath(a) for a in sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)


def run(*args):
    subprocess.run([exe, *args], check=True, cwd=work, stdout=subprocess.DEVNULL)


with open(os.path.join(work, "m.toml"), "w") as f:
    f.write('input_size = 1\nseed = 2\n'
            '[[layers]]\ncell = "rnn_tanh"\nhidden_size = 8\ninit = "orthogonal"\nspectral_radius = 0.5\n'
            '[[layers]]\ncell = "gru"\nhidden_size = 6\n'
            '[[layers]]\ncell = "lstm"\nhidden_size = 4\n')
run("init", "m.toml", "-o", "m.h5")
with open(os.path.join(work, "bidi.toml"), "w") as f:
    f.write('input_size = 1\nseed = 3\nbidirectional = true\n'
            '[[layers]]\ncell = "gru"\nhidden_size = 5\n[[layers]]\ncell = "rnn_tanh"\nhidden_size = 4\n')
run("init", "bidi.toml", "-o", "bidi.h5")
with h5py.File(os.path.join(work, "in.h5"), "w") as f:
    f["inputs"] = np.sin(np.arange(2 * 30)).reshape(2, 30, 1) * 0.5
sine = "input.sinusoids=[{channel=0, frequency=0.05, amplitude=0.5}]"
made = {
    "simulate": (["simulate", "m.h5", "-o", "simulate.h5", "--t-end", "20", "--batch", "3", "--set", "s0_scale=0.5"],
                 "trajectories"),
    "forward": (["forward", "m.h5", "in.h5", "-o", "forward.h5"], "trajectories"),
    "fixed-points": (["fixed-points", "m.h5", "-o", "fixed-points.h5", "--n-init", "16"], "fixed_points"),
    "spectrum": (["spectrum", "m.h5", "fixed-points.h5", "-o", "spectrum.h5"], "fixed_points"),
    "continuation": (["continuation", "m.h5", "-o", "continuation.h5", "--direction", "1"], "continuation"),
    "timescales": (["timescales", "m.h5", "-o", "timescales.h5", "--n-freq", "6", "--periods", "4"], "timescales"),
    "lyapunov": (["lyapunov", "m.h5", "-o", "lyapunov.h5", "--steps", "300", "--batch", "2", "--set", sine],
                 "lyapunov"),
    "gradient-flow": (["gradient-flow", "m.h5", "-o", "gradient-flow.h5", "--steps", "40", "--set", sine],
                      "gradient_flow"),
    "dependency": (["gradient-flow", "bidi.h5", "-o", "dependency.h5", "--steps", "30", "--set", sine],
                   "gradient_flow"),
}
for name, (args, _) in made.items():
    run(*args)
with h5py.File(os.path.join(work, "training.h5"), "w") as f:
    f.attrs["command_line"] = "stackdyn train m.h5 -o training.h5"
    steps = 50
    f["history/loss"] = np.exp(-np.arange(steps) / 10.0) + 0.01
    f["history/grad_norm_layers"] = np.random.default_rng(0).uniform(0.1, 1, (steps, 3, 2))
made["training"] = (None, "training")

failed = []
for name, (_, kind) in made.items():
    h5 = os.path.join(work, name + ".h5")
    png = os.path.join(work, name + ".png")
    r = subprocess.run([sys.executable, os.path.join(src, "scripts", "plot.py"), h5, "-o", png],
                       capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        failed.append("%s: plot.py failed: %s" % (name, r.stderr.strip()[-500:]))
        continue
    if ("%s figure" % kind) not in r.stdout:
        failed.append("%s: recognised as %r, expected %s" % (name, r.stdout.strip(), kind))
    img = mpimg.imread(png)[..., :3]
    inked = np.mean(np.any(img < 0.9, axis=-1))
    if img.std() < 0.02 or inked < 0.02:
        failed.append("%s: the PNG is blank (std %.3g, %.1f%% of pixels drawn)" % (name, img.std(), 100 * inked))
    print("%-14s %-13s %.1f%% of pixels drawn" % (name, kind, 100 * inked))
if failed:
    print("\n".join(failed))
    sys.exit(1)
print("all %d kinds drawn" % len(made))
