#!/usr/bin/python3
"""A sweep of pipelines (`kind = "pipeline"`): a grid of depth x cell type x seed of small
train-then-analyse runs, in threads and under `mpirun -n 2`; the merged table equals each run's
summary.json, the two ways give the same table, a rerun redoes nothing, and a changed base
configuration is refused naming the run.

    pipeline_sweep_e2e.py STACKDYN WORK_DIR SOURCE_DIR [MPIRUN]
"""
import csv
import json
import math
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np

exe, work, src = (os.path.abspath(a) for a in sys.argv[1:4])
mpirun = sys.argv[4] if len(sys.argv) > 4 else None
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
env = dict(os.environ, STACKDYN_SCRIPTS=os.path.join(src, "scripts"), OPENBLAS_NUM_THREADS="1",
           OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1",
           OMPI_MCA_btl_vader_single_copy_mechanism="none",
           ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":detect_leaks=0")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


BASE = """[pipeline]
control = false
[model]
input_size = 1
readout = 2
[data]
task = "multiscale"
steps = 30
samples = 32
period_slow = 15
period_fast = 3
[train]
steps = 12
batch_size = 16
checkpoint_every = 6
fixed_points_every = 12
fixed_points_starts = 8
[fixed_points]
n_init = 16
[timescales]
n_freq = 4
periods = 3
transient_periods = 3
[lyapunov]
steps = 60
batch = 1
[gradient_flow]
steps = 20
[continuation]
max_steps = 60
"""
with open(os.path.join(work, "base.toml"), "w") as f:
    f.write(BASE)
SWEEP = """kind = "pipeline"
pipeline_config = "base.toml"
threads = 2
[grid]
"model.layers" = [[{cell = "gru", hidden_size = 4}],
                  [{cell = "gru", hidden_size = 4}, {cell = "gru", hidden_size = 4}],
                  [{cell = "lstm", hidden_size = 4}, {cell = "lstm", hidden_size = 4}]]
"model.seed" = [1, 2]
"""
with open(os.path.join(work, "sweep.toml"), "w") as f:
    f.write(SWEEP)


def sweep(out, prefix=(), expect=0):
    r = subprocess.run([*prefix, exe, "sweep", "sweep.toml", "-o", out], cwd=work, env=env, capture_output=True, text=True)
    if r.returncode != expect:
        print(r.stdout, r.stderr)
    check(r.returncode == expect, f"sweep -o {out}: exit {r.returncode}, expected {expect}")
    return r


def table(path):
    with h5py.File(path, "r") as f:
        return {k: f["summary"][k][()] for k in f["summary"]}, [s.decode() if isinstance(s, bytes) else s
                                                                  for s in f["run_table"][()]]


sweep("threads.h5")
summary, runs = table(os.path.join(work, "threads.h5"))
check(len(runs) == 6, f"6 runs in the table, found {len(runs)}")
check(summary["layer_timescale"].shape == (6, 2), "per-layer columns padded to the deepest stack")
# each row equals the run's own summary.json
for i in range(6):
    with open(os.path.join(work, "threads.h5.runs", f"run_{i:06d}", "summary.json")) as f:
        s = json.load(f)
    for k, col in summary.items():
        v = s[k]
        row = col[i]
        if np.ndim(row) == 1 and v is None:
            ok = all(math.isnan(y) for y in row)
        elif isinstance(v, list):
            ok = all((x is None and math.isnan(y)) or x == y for x, y in zip(v, row)) and \
                 all(math.isnan(y) for y in row[len(v):])
        else:
            ok = (v is None and math.isnan(row)) or v == row
        check(ok, f"run {i} {k}: table {row} equals summary.json {v}")
with open(os.path.join(work, "threads.csv")) as f:
    rows = list(csv.reader(f))
check(len(rows) == 7 and rows[0][:3] == ["run", "model.layers", "model.seed"], "the CSV has a header and one row per run")
# the table's figure
r = subprocess.run(["/usr/bin/python3", os.path.join(src, "scripts", "plot_pipeline_sweep.py"), "threads.h5", "-o", "t.png"],
                   cwd=work, capture_output=True, text=True)
check(r.returncode == 0 and os.path.getsize(os.path.join(work, "t.png")) > 10000, "plot_pipeline_sweep.py draws the table")
# a rerun redoes nothing (every stage of every run is complete)
r = sweep("threads.h5")
logs = open(os.path.join(work, "threads.h5.runs", "run_000000.log")).read()
check("started" not in logs, "a rerun of the sweep runs no stage again")
# under mpirun -n 2: the same table
if mpirun:
    sweep("mpi.h5", prefix=(mpirun, "--allow-run-as-root", "--oversubscribe", "-n", "2"))
    m, mruns = table(os.path.join(work, "mpi.h5"))
    check(mruns == runs, "the same runs under mpirun")
    for k in summary:
        check(np.array_equal(summary[k], m[k], equal_nan=True), f"mpirun -n 2 gives the threaded {k}")
# a changed base configuration: the run directories belong to the old one
with open(os.path.join(work, "base.toml"), "w") as f:
    f.write(BASE.replace("steps = 12", "steps = 13"))
r = sweep("threads.h5", expect=2)
check("run " in r.stderr and "another configuration" in r.stderr and "train.steps" in r.stderr,
      "a changed configuration is refused, naming the run and the key")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("sweep of pipelines: all checks passed")
