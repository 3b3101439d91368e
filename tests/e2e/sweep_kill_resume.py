#!/usr/bin/python3
"""Kill and resume: `stackdyn sweep` is killed (SIGKILL) at random points, seeded, and rerun
until it finishes; the merged file must equal an uninterrupted run's, dataset by dataset.
Usage: sweep_kill_resume.py STACKDYN WORKDIR [SEED]"""
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

exe, work = sys.argv[1:3]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
rng = random.Random(seed)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
with open(os.path.join(work, "model.toml"), "w") as f:
    f.write('input_size = 2\nseed = 3\n[[layers]]\ncell = "gru"\nhidden_size = 24\n'
            '[[layers]]\ncell = "lstm"\nhidden_size = 16\n')
with open(os.path.join(work, "sweep.toml"), "w") as f:
    f.write('model_toml = "model.toml"\nthreads = 2\n'
            '[simulate]\nmode = "continuous"\nmethod = "dopri5"\nt_end = 60.0\ndt_out = 1.0\nbatch = 4\n'
            's0_scale = 0.5\ninput.noise = { std = 0.2, interval = 0.5 }\n'
            '[grid]\ntau = [0.5, 1.0, 2.0]\nseed = [1, 2, 3, 4]\n')
cmd = [exe, "sweep", "sweep.toml", "-o"]

t0 = time.monotonic()
subprocess.run(cmd + ["reference.h5"], cwd=work, check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t0

out = os.path.join(work, "out.h5")
kills = 0
for attempt in range(30):
    p = subprocess.Popen(cmd + ["out.h5"], cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill somewhere in the first 90 % of an uninterrupted run's time, for the first attempts.
    if attempt < 4:
        try:
            p.wait(timeout=rng.uniform(0.05, 0.9) * wall)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            kills += 1
    code = p.wait()
    if code == 0:
        break
    assert code == -signal.SIGKILL, f"the sweep failed with exit code {code} on attempt {attempt}"
else:
    sys.exit("the sweep did not finish in 30 attempts")
assert not os.path.exists(out + ".partial")
assert not os.path.exists(out + ".runs")

def datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)

with h5py.File(os.path.join(work, "reference.h5")) as a, h5py.File(out) as b:
    assert datasets(a) == datasets(b), (datasets(a), datasets(b))
    for name in datasets(a):
        if name == "statistics/wall_seconds":
            continue
        assert np.array_equal(a[name][...], b[name][...], equal_nan=True), name
    for k in ("parameter_names", "run_table", "model_toml"):
        assert a.attrs[k] == b.attrs[k], k
print(f"sweep killed {kills} times (seed {seed}) and resumed: the same file as an uninterrupted run "
      f"({wall:.2f} s uninterrupted)")
