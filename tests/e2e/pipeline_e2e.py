#!/usr/bin/python3
"""`stackdyn pipeline` end to end on a small configuration: every number of summary.json is
recomputed here with h5py from the stage's own HDF5 file (its definition in docs/pipeline.md);
a rerun skips every complete stage and changes nothing; `--only` reruns one stage; a run
stopped by SIGTERM during training continues and ends equal to an uninterrupted one; the
bad inputs of the issue (unknown key, unknown stage, a directory of another configuration, a
diverging training, a model without a stable point, no Python for the figures) are refused or
reported as the contract says.

    pipeline_e2e.py STACKDYN WORK_DIR SOURCE_DIR
"""
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

exe, work, src = (os.path.abspath(a) for a in sys.argv[1:4])
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
env = dict(os.environ, STACKDYN_SCRIPTS=os.path.join(src, "scripts"))

SMALL = """
[model]
input_size = 1
seed = 3
readout = 2
[[model.layers]]
cell = "gru"
hidden_size = 6
[[model.layers]]
cell = "gru"
hidden_size = 5
[[model.layers]]
cell = "lstm"
hidden_size = 4
[data]
task = "multiscale"
steps = 40
samples = 64
valid_samples = 16
period_slow = 20
period_fast = 4
[train]
steps = 40
batch_size = 16
checkpoint_every = 10
fixed_points_every = 20
fixed_points_starts = 16
valid_every = 10
[fixed_points]
n_init = 32
[timescales]
n_freq = 6
periods = 5
transient_periods = 5
[lyapunov]
steps = 150
transient = 20
batch = 2
[gradient_flow]
steps = 30
[continuation]
max_steps = 150
p_min = -2.0
p_max = 2.0
"""

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def write(name, text):
    p = os.path.join(work, name)
    with open(p, "w") as f:
        f.write(text)
    return p


def pipeline(*args, expect=0):
    r = subprocess.run([exe, "pipeline", *args], cwd=work, env=env, capture_output=True, text=True)
    if r.returncode != expect:
        print(r.stdout, r.stderr)
    check(r.returncode == expect, f"pipeline {' '.join(args)}: exit {r.returncode}, expected {expect}")
    return r


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b or abs(a - b) <= 1e-12 * max(1.0, abs(b))


def expected_summary(d, suffix=""):
    """The headline numbers recomputed from the files, as docs/pipeline.md defines them."""
    e = {}
    with h5py.File(os.path.join(d, "run.h5"), "r") as f:
        loss = f["history/loss"][()]
        e["final_loss"] = float(loss[-1])
        v = f["history/valid_loss"][()]
        v = v[np.isfinite(v)]
        e["final_valid_loss"] = float(v[-1]) if len(v) else None
    fp = os.path.join(d, f"fixed_points{suffix}.h5")
    with h5py.File(fp, "r") as f:
        stable = f["fixed_points/stable"][()]
        nu = f["fixed_points/n_unstable"][()]
        e["n_stable"] = int((stable == 1).sum())
        e["n_saddles"] = int((nu > 0).sum())
        ts = f["fixed_points/timescales"][()]
        st = ts[stable == 1]
        st = st[np.isfinite(st)]
        e["slowest_timescale"] = float(st.max()) if st.size else None
    p = os.path.join(d, f"timescales{suffix}.h5")
    if os.path.exists(p):
        with h5py.File(p, "r") as f:
            e["layer_timescale"] = [float(x) for x in f["timescale"][()]]
            e["layer_preferred_frequency"] = [float(x) for x in f["preferred_frequency"][()]]
    else:
        e["layer_timescale"] = e["layer_preferred_frequency"] = None
    with h5py.File(os.path.join(d, f"lyapunov{suffix}.h5"), "r") as f:
        e["lyapunov_max"] = float(f["exponents"][0])
        ky = float(f["kaplan_yorke_dimension"][()])
        e["kaplan_yorke_dimension"] = ky if math.isfinite(ky) else None
    with h5py.File(os.path.join(d, f"gradient_flow{suffix}.h5"), "r") as f:
        J = f["jacobian_norms"][()]
        T, L = J.shape
        h = []
        for l in range(L):
            k = 0
            while k < T and J[T - 1 - k, l] >= 1e-3 * J[T - 1, l]:
                k += 1
            h.append(float(k))
        e["gradient_horizon"] = h
    p = os.path.join(d, f"continuation{suffix}.h5")
    fold = None
    if os.path.exists(p):
        with h5py.File(p, "r") as f:
            p0 = float(f.attrs.get("p_start", 0.0))
            for b in f["branches"].values():
                kinds = [k for k in str(b.attrs.get("event_kinds", "")).split(";") if k]
                for kind, ep in zip(kinds, b["event_p"][()]):
                    if kind == "fold" and (fold is None or abs(ep - p0) < abs(fold - p0)):
                        fold = float(ep)
    e["fold_input"] = fold
    return e


KEYS = ["final_loss", "final_valid_loss", "n_stable", "n_saddles", "slowest_timescale", "layer_timescale",
        "layer_timescale_init", "layer_preferred_frequency", "layer_preferred_frequency_init", "lyapunov_max",
        "kaplan_yorke_dimension", "gradient_horizon", "fold_input", "wall_time_s"]

# ---- the small pipeline end to end --------------------------------------------------------
cfg = write("small.toml", SMALL)
r = pipeline("small.toml", "-o", "out")
d = os.path.join(work, "out")
stages = ["train", "fixed_points", "timescales", "lyapunov", "gradient_flow", "continuation", "figures", "report"]
for s in stages:
    check(f"[{s}] started" in r.stderr, f"stderr announces stage {s}")
for name in ["run.h5", "fixed_points.h5", "lyapunov.h5", "gradient_flow.h5", "fixed_points_init.h5",
             "lyapunov_init.h5", "gradient_flow_init.h5", "summary.json", "report.md", "report.html",
             "pipeline.toml"]:
    check(os.path.exists(os.path.join(d, name)), f"{name} written")
check(not any(n.endswith(".partial") for n in os.listdir(d)), "no .partial file left")
with open(os.path.join(d, "summary.json")) as f:
    summary = json.load(f)
for k in KEYS:
    check(k in summary, f"summary.json has key {k}")
exp, exp0 = expected_summary(d), expected_summary(d, "_init")
for k, v in exp.items():
    check(close(summary[k], v), f"summary {k} = {summary[k]} equals the file's {v}")
check(close(summary["layer_timescale_init"], exp0["layer_timescale"]), "layer_timescale_init equals timescales_init.h5")
check(close(summary["layer_preferred_frequency_init"], exp0["layer_preferred_frequency"]),
      "layer_preferred_frequency_init equals timescales_init.h5")
for k in ["n_stable", "n_saddles", "lyapunov_max", "gradient_horizon", "fold_input"]:
    check(close(summary["control"][k], exp0[k]), f"control {k} equals the _init file")
check(set(summary["wall_time_s"]) >= set(stages), "wall_time_s has every stage")
html = open(os.path.join(d, "report.html")).read()
figs = sorted(os.listdir(os.path.join(d, "figures")))
check(len(figs) >= 6, f"six figures drawn: {figs}")
check(html.count("data:image/png;base64,") == len(figs), "report.html holds every figure inline")
md = open(os.path.join(d, "report.md")).read()
check(f"{summary['n_stable']}" in md and "Headline numbers" in md, "report.md states the headline numbers")
mtimes = {n: os.path.getmtime(os.path.join(d, n)) for n in ["run.h5", "lyapunov.h5", "fixed_points.h5"]}

# ---- a rerun skips every complete stage; the numbers are the same -------------------------
r = pipeline("small.toml", "-o", "out")
check(r.stderr.count("complete, skipped") == 7, "a rerun skips the seven complete stages")
check(all(os.path.getmtime(os.path.join(d, n)) == t for n, t in mtimes.items()), "a rerun rewrites no result")
# --only reruns that stage from its inputs, and gives the same numbers (everything seeded)
r = pipeline("small.toml", "-o", "out", "--only", "lyapunov")
check("[lyapunov] started" in r.stderr and "[train] started" not in r.stderr, "--only lyapunov runs lyapunov alone")
check(os.path.getmtime(os.path.join(d, "run.h5")) == mtimes["run.h5"], "--only lyapunov keeps run.h5")
with open(os.path.join(d, "summary.json")) as f:
    s2 = json.load(f)
check(s2["lyapunov_max"] == summary["lyapunov_max"], "the same configuration gives the same exponent")

# ---- bad input ------------------------------------------------------------------------------
before = sorted(os.listdir(d))
r = pipeline(write("badkey.toml", SMALL.replace("[lyapunov]\n", "[lyapunov]\nstepz = 3\n")), "-o", "bad1", expect=2)
check("stepz" in r.stderr and not os.path.exists(os.path.join(work, "bad1")), "an unknown key is refused before anything")
r = pipeline(write("badsec.toml", SMALL + "[lyapunow]\nsteps = 3\n"), "-o", "bad1", expect=2)
check("lyapunow" in r.stderr, "an unknown section is refused")
r = pipeline("small.toml", "-o", "out", "--only", "lyapunov,fixpoints", expect=2)
check("fixpoints" in r.stderr, "an unknown stage in --only is refused")
other = write("other.toml", SMALL.replace("steps = 40\nbatch_size", "steps = 41\nbatch_size"))
r = pipeline("other.toml", "-o", "out", expect=2)
check("another configuration" in r.stderr and "train.steps" in r.stderr, "another configuration's directory is refused, naming the key")
check(sorted(os.listdir(d)) == before and os.path.getmtime(os.path.join(d, "run.h5")) == mtimes["run.h5"],
      "nothing of the other run is overwritten")
os.makedirs(os.path.join(work, "userdir"))
write("userdir/notes.txt", "mine")
pipeline("small.toml", "-o", "userdir", expect=2)
check(os.listdir(os.path.join(work, "userdir")) == ["notes.txt"], "a non-empty directory of other files is refused")

# A diverging training: the pipeline stops after train, says so, exits 1, keeps the files.
div = write("div.toml", SMALL.replace("[train]\n", "[train]\nlr = 1e300\noptimizer = \"sgd\"\n"))
r = pipeline("div.toml", "-o", "div", expect=1)
dd = os.path.join(work, "div")
with open(os.path.join(dd, "summary.json")) as f:
    sd = json.load(f)
check(sd["status"] == "diverged", "summary.json says the training diverged")
check("diverged" in open(os.path.join(dd, "report.md")).read(), "report.md says the training diverged")
check(os.path.exists(os.path.join(dd, "run.h5.partial")), "the diverged run's file is kept")
check(not os.path.exists(os.path.join(dd, "lyapunov.h5")), "no analysis after a diverged training")

# No stable point: an expanding vanilla layer and no training; the stages that need one are skipped.
unstable = SMALL.replace('cell = "gru"\nhidden_size = 6', 'cell = "rnn_tanh"\nhidden_size = 6\ninit = "orthogonal"\nspectral_radius = 3.0')
unstable = unstable.replace("[train]\nsteps = 40", "[train]\nsteps = 1\nlr = 1e-9")
unstable = unstable.replace("[pipeline]", "")
r = pipeline(write("unstable.toml", unstable), "-o", "unstable")
du = os.path.join(work, "unstable")
with open(os.path.join(du, "summary.json")) as f:
    su = json.load(f)
if su["n_stable"] == 0:
    check(su["layer_timescale"] is None and su["fold_input"] is None, "no stable point: timescales and continuation null")
    check(su["stages"]["timescales"]["status"] == "skipped" and "no stable fixed point" in su["stages"]["timescales"]["reason"],
          "no stable point: the timescales stage says why it was skipped")
    check("no stable fixed point" in open(os.path.join(du, "report.md")).read(), "the report says there is no stable point")
else:
    check(False, f"the expanding model was meant to have no stable point, found {su['n_stable']}")

# Another task: the default's multiscale keys do not leak into its [data].
import re as _re
flip = _re.sub(r"\[data\].*?\[train\]", '[data]\ntask = "flipflop"\nbits = 1\nsamples = 32\nsteps = 20\n[train]', SMALL,
               flags=_re.S).replace("readout = 2", "readout = 1")
r = pipeline(write("flip.toml", flip), "-o", "flip", "--only", "train,fixed_points")
check(r.returncode == 0, "a pipeline on another task runs")
check('task = "flipflop"' in open(os.path.join(work, "flip", "config", "train.toml")).read() and
      "period_slow" not in open(os.path.join(work, "flip", "config", "train.toml")).read(),
      "another task replaces the default's [data]")

# No Python for the figures: every HDF5 file and summary.json, the report says why.
nopy = write("nopy.toml", SMALL + '[pipeline]\npython = "/nonexistent/python3"\n')
r = pipeline("nopy.toml", "-o", "nopy")
dn = os.path.join(work, "nopy")
check(os.path.exists(os.path.join(dn, "summary.json")) and os.path.exists(os.path.join(dn, "lyapunov.h5")),
      "without Python every file is written")
check("Figures were skipped" in open(os.path.join(dn, "report.md")).read(), "the report says the figures were skipped")

# ---- interrupted during training (SIGTERM), then rerun: continues, ends as an uninterrupted run
long_cfg = write("long.toml", SMALL.replace("[train]\nsteps = 40", "[train]\nsteps = 400"))
p = subprocess.Popen([exe, "pipeline", "long.toml", "-o", "long"], cwd=work, env=env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
partial = os.path.join(work, "long", "run.h5.partial")
t0 = time.time()
while not os.path.exists(partial) and time.time() - t0 < 60 and p.poll() is None:
    time.sleep(0.02)
time.sleep(0.3)
p.send_signal(signal.SIGTERM)
code = p.wait()
check(code != 0 and os.path.exists(partial), f"SIGTERM stops the pipeline during training (exit {code})")
r = pipeline("long.toml", "-o", "long")
check("resuming" in r.stderr, "the rerun resumes the training")
r = pipeline("long.toml", "-o", "long_ref")
with open(os.path.join(work, "long", "summary.json")) as f:
    a = json.load(f)
with open(os.path.join(work, "long_ref", "summary.json")) as f:
    b = json.load(f)
for k in KEYS[:-1]:
    check(a[k] == b[k], f"interrupted and resumed: {k} equals the uninterrupted run's")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("pipeline end to end: all checks passed")
