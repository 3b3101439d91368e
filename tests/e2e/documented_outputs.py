#!/usr/bin/python3
"""Every dataset, group and attribute name in each command's output is documented.

Runs init, info-free commands (forward, simulate in both views, fixed-points, spectrum,
continuation, sweep, demo) on a small model, walks each result file with h5py and checks
that each name (the last path component; trailing digits as in `layer_0` read as the
documented `layer_l`) occurs as a word in README.md or docs/*.md. Also checks the
dimension scales the docs promise (`time` on the time axis, `state_names` on the state
axis). Usage: documented_outputs.py STACKDYN WORKDIR SOURCE_DIR"""
import glob
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

exe, work, src = sys.argv[1:4]
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
docs = open(os.path.join(src, "README.md")).read()
for p in sorted(glob.glob(os.path.join(src, "docs", "*.md"))):
    docs += open(p).read()
words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", docs))

# HDF5's own bookkeeping of dimension scales, not stackdyn's names
INTERNAL = {"CLASS", "NAME", "REFERENCE_LIST", "DIMENSION_LIST", "DIMENSION_LABELS", "_Netcdf4Dimid"}


def run(*args):
    r = subprocess.run([exe, "-q"] + list(args), cwd=work, capture_output=True, text=True)
    assert r.returncode == 0, (args, r.stderr)
    return r.stdout


def documented(name):
    stem = re.sub(r"_?\d+$", "", name)
    return name in words or (stem != name and any(w.startswith(stem) for w in words))


def undocumented(path):
    missing = []

    def check_attrs(obj, where):
        for a in obj.attrs:
            if a not in INTERNAL and not documented(a):
                missing.append(f"attribute {where}@{a}")

    with h5py.File(path) as f:
        check_attrs(f, "/")

        def visit(name, obj):
            last = name.split("/")[-1]
            if not documented(last):
                missing.append(("group " if isinstance(obj, h5py.Group) else "dataset ") + name)
            check_attrs(obj, name)

        f.visititems(visit)
    return missing


def scale_names(dset, axis):
    return [s.name.split("/")[-1] for s in dset.dims[axis].values()]


toml = os.path.join(work, "m.toml")
with open(toml, "w") as t:
    t.write('input_size = 2\n[[layers]]\ncell = "lstm"\nhidden_size = 3\n[[layers]]\ncell = "lstm"\nhidden_size = 3\n')
run("init", toml, "-o", "m.h5", "--seed", "1")
rng = np.random.default_rng(0)
with h5py.File(os.path.join(work, "in.h5"), "w") as f:
    f["inputs"] = rng.normal(size=(2, 5, 2))
    f["h0"] = rng.normal(size=(2, 2, 3))
    f["c0"] = rng.normal(size=(2, 2, 3))
outputs = {}
run("forward", "m.h5", "in.h5", "-o", "fwd.h5")
outputs["forward"] = "fwd.h5"
run("simulate", "m.h5", "-o", "sim_c.h5", "--t-end", "5", "--batch", "2", "--set", "s0_scale=0.5")
outputs["simulate (continuous)"] = "sim_c.h5"
run("simulate", "m.h5", "-o", "sim_d.h5", "--mode", "discrete", "--steps", "4", "--input-file", "in.h5")
outputs["simulate (discrete)"] = "sim_d.h5"
run("fixed-points", "m.h5", "-o", "fp.h5", "--n-init", "20")
outputs["fixed-points"] = "fp.h5"
run("fixed-points", "m.h5", "-o", "fph.h5", "--n-init", "20", "--hierarchical", "--saddle-graph")
outputs["fixed-points --hierarchical"] = "fph.h5"
run("spectrum", "m.h5", "sim_c.h5", "-o", "spec.h5", "--every", "2")
outputs["spectrum"] = "spec.h5"
run("continuation", "m.h5", "-o", "cont.h5", "--direction", "1,0", "--n-init", "8", "--max-steps", "20")
outputs["continuation"] = "cont.h5"
with open(os.path.join(work, "sweep.toml"), "w") as t:
    t.write('model_file = "m.h5"\n[simulate]\nt_end = 2.0\n[grid]\ntau = [0.5, 1.0]\n')
run("sweep", "sweep.toml", "-o", "sweep.h5", "--threads", "1")
outputs["sweep"] = "sweep.h5"
run("demo", "-o", "demo.h5", "--steps", "5", "--t-end", "2", "--batch", "2")
outputs["demo"] = "demo.h5"

failures = []
for cmd, out in outputs.items():
    for m in undocumented(os.path.join(work, out)):
        failures.append(f"{cmd}: {m} is not documented")

# the dimension scales the docs promise
with h5py.File(os.path.join(work, "sim_c.h5")) as f:
    assert scale_names(f["states"], 1) == ["time"], scale_names(f["states"], 1)
    assert scale_names(f["states"], 2) == ["state_names"], scale_names(f["states"], 2)
    assert scale_names(f["inputs"], 1) == ["time"]
    names = [n.decode() if isinstance(n, bytes) else n for n in f["state_names"][...]]
    assert names == [f"layer{l}.{v}[{i}]" for l in range(2) for v in "hc" for i in range(3)], names
with h5py.File(os.path.join(work, "fwd.h5")) as f:
    assert scale_names(f["states"], 2) == ["state_names"]
with h5py.File(os.path.join(work, "fp.h5")) as f:
    assert scale_names(f["fixed_points/states"], 1) == ["state_names"]

if failures:
    print("\n".join(failures))
    sys.exit(1)
print(f"every name in the outputs of {len(outputs)} commands is documented; dimension scales attached")
