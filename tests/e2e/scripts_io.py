#!/usr/bin/python3
"""The scripts in scripts/ that write a file (extract_model.py, model_to_torch.py,
torch_export.py, plot.py, fixed_point_finder_reference.py) on their inputs and outputs:

- an output that is one of the inputs (same path, another spelling, a symlink, the output's
  .partial linked to the input) is refused: exit 2, one line, the input byte-identical;
- a truncated input: one line `<script>: error: ...`, exit 2, no traceback, no output file;
- a kind the file does not hold (plot.py --kind, extract_model.py --group), an unfinished run;
- the model given as a run file, FILE.h5:/group and a model file gives the weights of that
  group (compared with h5py), and plot.py draws a checkpoint's trajectories and fixed points.

The inputs are made by the stackdyn binary (init, train).

    scripts_io.py STACKDYN WORK_DIR SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import torch

exe, work, src = (os.path.abspath(a) for a in sys.argv[1:4])
SCRIPTS = os.path.join(src, "scripts")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
W = lambda name: os.path.join(work, name)  # noqa: E731
failed = []


def run(*args, ok=(0,)):
    r = subprocess.run([exe, *args], cwd=work, capture_output=True, text=True)
    if r.returncode not in ok:
        sys.exit(f"stackdyn {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def script(name, *args):
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, name), *args], cwd=work, capture_output=True,
                          text=True)


def check(label, ok, detail=""):
    print(("ok      " if ok else "FAILED  ") + label + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failed.append(label)


def check_one_line_error(label, r, prog, code=2, keyword=None):
    lines = r.stderr.splitlines()
    good = r.returncode == code and len(lines) == 1 and lines[0].startswith(f"{prog}: error: ") and \
        "Traceback" not in r.stderr and (keyword is None or keyword in lines[0])
    check(label, good, f"exit {r.returncode}, stderr {r.stderr.strip()[-400:]!r}"
          + (f" (expected exit {code}, one line '{prog}: error: ...'" + (f" naming {keyword!r})" if keyword else ")")))
    if good:
        print(f"        {lines[0]}")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --- inputs --------------------------------------------------------------------------------
with open(W("m.toml"), "w") as f:  # torch-shaped: one cell type and width, no skip connections
    f.write('input_size = 1\nseed = 2\nreadout = 1\n'
            '[[layers]]\ncell = "gru"\nhidden_size = 4\n[[layers]]\ncell = "gru"\nhidden_size = 4\n')
run("init", "m.toml", "-o", "model.h5")
with open(W("one.toml"), "w") as f:
    f.write('input_size = 1\nseed = 4\n[[layers]]\ncell = "gru"\nhidden_size = 3\n')
run("init", "one.toml", "-o", "one.h5")
with open(W("train.toml"), "w") as f:
    f.write('[model]\ninput_size = 1\nseed = 1\nreadout = 1\n'
            '[[model.layers]]\ncell = "gru"\nhidden_size = 4\n[[model.layers]]\ncell = "gru"\nhidden_size = 4\n'
            '[data]\ntask = "flipflop"\nbits = 1\nsamples = 16\nsteps = 10\nseed = 1\n'
            '[train]\noptimizer = "adam"\nlr = 0.05\nbatch_size = 8\nsteps = 4\ncheckpoint_every = 2\n'
            'fixed_points_every = 2\nfixed_points_starts = 16\nseed = 1\n')
run("train", "train.toml", "-o", "run.h5")
run("train", "train.toml", "-o", "unfinished.h5", "--interrupt-at", "3", ok=(128 + 15,))
assert os.path.exists(W("unfinished.h5.partial"))
run("simulate", "model.h5", "-o", "sim.h5", "--t-end", "10", "--batch", "2")
torch.manual_seed(0)
torch.save(torch.nn.GRU(2, 3, num_layers=2).double(), W("gru.pt"))
with h5py.File(W("starts.h5"), "w") as f:
    f["states"] = np.random.default_rng(0).normal(size=(4, 3)) * 0.5
# a truncated copy of each kind of input
for name in ("model.h5", "run.h5", "gru.pt", "sim.h5"):
    data = read_bytes(W(name))
    with open(W("trunc_" + name), "wb") as f:
        f.write(data[:len(data) // 2])

# --- 1. an output that is one of the inputs is refused, the input left as it is -------------
os.makedirs(W("sub"))
CASES = [  # script, its input argument (a file of work/), arguments after input and output, output option
    ("extract_model.py", "run.h5", [], None),
    ("model_to_torch.py", "model.h5", [], None),
    ("torch_export.py", "gru.pt", [], None),
    ("plot.py", "sim.h5", [], "-o"),
    ("fixed_point_finder_reference.py", "one.h5", ["starts.h5", "--max-iters", "5", "--quiet"], "-o"),
]


def command(name, inp, out, extra, opt):
    if name == "fixed_point_finder_reference.py":
        return [inp] + extra + [opt, out]
    return [inp, opt, out] + extra if opt else [inp, out] + extra


for name, inp, extra, opt in CASES:
    os.symlink(W(inp), W(f"link_to_{name}_{inp}"))
    os.symlink(W(inp), W(f"via_partial_{name}.out.partial"))
    spellings = {"the same path": inp, "another spelling": f"sub/../{inp}", "an absolute path": W(inp),
                 "a symlink to it": f"link_to_{name}_{inp}",
                 "its .partial a symlink to it": f"via_partial_{name}.out"}
    if name == "fixed_point_finder_reference.py":
        spellings["the second input"] = "starts.h5"
    for how, out in spellings.items():
        before = {p: read_bytes(W(p)) for p in (inp, "starts.h5")}
        r = script(name, *command(name, inp, out, extra, opt))
        check_one_line_error(f"{name}: output = input ({how}) refused", r, name, keyword="input")
        check(f"{name}: output = input ({how}): the inputs are byte-identical",
              all(read_bytes(W(p)) == b for p, b in before.items()))
        check(f"{name}: output = input ({how}): the links are left", os.path.islink(W(f"link_to_{name}_{inp}")) and
              os.path.islink(W(f"via_partial_{name}.out.partial")))

# --- 2. a truncated input: one line, exit 2, no output --------------------------------------
for name, inp, extra, opt in CASES:
    trunc = "trunc_" + ("model.h5" if name == "fixed_point_finder_reference.py" else inp)
    out = f"from_trunc_{name}.out"
    r = script(name, *command(name, trunc, out, extra, opt))
    check_one_line_error(f"{name}: truncated {trunc}", r, name)
    check(f"{name}: truncated {trunc}: no output file", not os.path.exists(W(out)) and
          not os.path.exists(W(out + ".partial")))
# a missing input and a directory as input
for name, inp, extra, opt in CASES:
    if name == "fixed_point_finder_reference.py":
        continue
    r = script(name, *command(name, "missing.h5", "never.out", extra, opt))
    check_one_line_error(f"{name}: missing input", r, name, keyword="missing.h5")

# --- 3. a kind, group or model the file does not hold ---------------------------------------
r = script("plot.py", "sim.h5", "--kind", "lyapunov", "-o", "wrong_kind.png")
check_one_line_error("plot.py: --kind lyapunov on a trajectories file", r, "plot.py", keyword="lyapunov")
check("plot.py: --kind lyapunov: no output file", not os.path.exists(W("wrong_kind.png")))
r = script("plot.py", "sim.h5", "--kind", "nonsense", "-o", "wrong_kind.png")
check_one_line_error("plot.py: --kind nonsense", r, "plot.py", keyword="nonsense")
r = script("plot.py", "run.h5:/checkpoints/99", "-o", "wrong_group.png")
check_one_line_error("plot.py: a missing group", r, "plot.py", keyword="checkpoints/99")
r = script("extract_model.py", "run.h5", "no_group.h5", "--group", "checkpoints/99")
check_one_line_error("extract_model.py: --group checkpoints/99 missing", r, "extract_model.py", keyword="checkpoints/99")
r = script("extract_model.py", "sim.h5", "not_model.h5")
check_one_line_error("extract_model.py: a simulation file is not a model", r, "extract_model.py", keyword="model")
for name in ("extract_model.py", "model_to_torch.py"):
    r = script(name, "unfinished.h5.partial", f"unfinished_{name}.out")
    # interrupted before step 3: the checkpoint written on SIGTERM is the last one
    check_one_line_error(f"{name}: an unfinished run", r, name, keyword="unfinished.h5.partial:/checkpoints/3")
    check(f"{name}: an unfinished run: the message says how to resume", "--resume unfinished.h5" in r.stderr)

# --- 4. the model as a run file, FILE.h5:/group and a model file ----------------------------
FORMS = {"run file": ("run.h5", "final_model"), "FILE.h5:/group": ("run.h5:/checkpoints/2", "checkpoints/2"),
         "model file": ("model.h5", "/"), "unfinished run's checkpoint": ("unfinished.h5.partial:/checkpoints/2",
                                                                         "checkpoints/2")}


def weights(path, group):
    with h5py.File(path, "r") as f:
        g = f[group]
        return {f"{k}/{d}": g["layers"][k][d][()] for k in g["layers"] for d in g["layers"][k]}


for form, (spec, group) in FORMS.items():
    file = spec.split(":/")[0]
    want = weights(W(file), group)
    out = f"extracted_{form.replace(' ', '_').replace('/', '_')}.h5"
    r = script("extract_model.py", spec, out)
    check(f"extract_model.py: {form} {spec}", r.returncode == 0, r.stderr.strip())
    if r.returncode == 0:
        got = weights(W(out), "/")
        check(f"extract_model.py: {form}: the weights of {group}", got.keys() == want.keys() and
              all(np.array_equal(got[k], want[k]) for k in want))
        check(f"extract_model.py: {form}: stackdyn reads the output",
              run("simulate", out, "-o", out + ".sim.h5", "--t-end", "2", "--batch", "1", ok=(0, 1, 2)).returncode == 0)
    pt = out + ".pt"
    r = script("model_to_torch.py", spec, pt)
    check(f"model_to_torch.py: {form} {spec}", r.returncode == 0, r.stderr.strip())
    if r.returncode == 0:
        module = torch.load(W(pt))
        ok = all(np.array_equal(getattr(module, f"{d}_l{k}").detach().numpy(), want[f"{k}/{d}"])
                 for k in ("0", "1") for d in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        check(f"model_to_torch.py: {form}: torch's weights are those of {group}", ok)
r = script("torch_export.py", "gru.pt", "exported.h5")
check("torch_export.py gru.pt exported.h5", r.returncode == 0, r.stderr.strip())
# fixed_point_finder_reference.py reads a model as FILE.h5:/group too
r = script("fixed_point_finder_reference.py", "one.h5:/", "starts.h5", "--max-iters", "5", "-o", "fpf.h5")
check("fixed_point_finder_reference.py: one.h5:/ (a group)", r.returncode == 0 and os.path.exists(W("fpf.h5")),
      r.stderr.strip())

# plot.py on a training checkpoint: its probe trajectories and its fixed points
for spec, kind, extra in (("run.h5", "training", []), ("run.h5:/checkpoints/2", "trajectories", []),
                          ("run.h5:/checkpoints/2/fixed_point_search", "fixed_points", []),
                          ("run.h5:/checkpoints/2", "fixed_points", ["--kind", "fixed_points"])):
    png = "ckpt_%s_%s.png" % (spec.replace(":/", "_").replace("/", "_"), kind)
    r = script("plot.py", spec, "-o", png, *extra)
    check(f"plot.py {spec} {' '.join(extra)}: a {kind} figure", r.returncode == 0 and f"{kind} figure" in r.stdout
          and os.path.getsize(W(png)) > 10000, (r.stdout + r.stderr).strip()[-300:])

# plot.py as a module: one kind drawn on given axes
sys.path.insert(0, SCRIPTS)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import plot
    fig, axes = plt.subplots(1, 2)
    with h5py.File(W("run.h5"), "r") as f:
        plot.draw(f, plot.detect(f), list(axes))
    check("plot.py as a module: draw() on given axes", len(axes[0].get_lines()) >= 1)
    plt.close(fig)
except Exception as e:  # noqa: BLE001 - reported as a failed check
    check("plot.py as a module: draw() on given axes", False, f"{type(e).__name__}: {e}")

if failed:
    print(f"{len(failed)} checks failed")
    sys.exit(1)
print("all checks passed")
