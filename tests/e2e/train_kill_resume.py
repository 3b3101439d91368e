#!/usr/bin/python3
"""Kill and resume: `stackdyn train` with a checkpoint at every step is killed (SIGKILL) at
random moments, seeded, and resumed each time with --resume; every resume must succeed (or
be killed in turn) and the finished run must equal an uninterrupted run's file bitwise,
dataset by dataset: the final model, the history and every checkpoint. Kills that find
RUN.h5.partial.tmp were inside a checkpoint's write.
Usage: train_kill_resume.py STACKDYN WORKDIR [KILLS [SEED]]
(KILLS: at least 20 in a release build; the sanitizer builds pass fewer.)"""
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
target = int(sys.argv[3]) if len(sys.argv) > 3 else 20
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
rng = random.Random(seed)
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)
with open(os.path.join(work, "train.toml"), "w") as f:
    f.write('[model]\ninput_size = 3\nreadout = 3\n[[model.layers]]\ncell = "gru"\nhidden_size = 16\n'
            '[[model.layers]]\ncell = "lstm"\nhidden_size = 12\n'
            '[data]\ntask = "flipflop"\nsamples = 64\nsteps = 40\nvalid_samples = 8\n'
            '[train]\noptimizer = "adam"\nlr = 0.01\nbatch_size = 16\nsteps = 60\ncheckpoint_every = 1\n'
            'dropout = 0.1\nclip_grad_norm = 1.0\nseed = 5\nprobe_batch = 2\n')
train = [exe, "-q", "train", "train.toml"]

t0 = time.monotonic()
subprocess.run(train + ["-o", "reference.h5"], cwd=work, check=True, stdout=subprocess.DEVNULL)
wall = time.monotonic() - t0

out = os.path.join(work, "out.h5")
partial = out + ".partial"
kills = inside_write = finished = 0


def datasets(f):
    names = []
    f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def check_equal(path):
    with h5py.File(os.path.join(work, "reference.h5")) as a, h5py.File(path) as b:
        assert datasets(a) == datasets(b), (datasets(a), datasets(b))
        for name in datasets(a):
            x, y = a[name][...], b[name][...]
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name
        for k in ("format", "steps", "last_checkpoint", "complete", "config"):
            if k in a.attrs:
                assert k in b.attrs and a.attrs[k] == b.attrs[k], k


while True:
    if os.path.exists(out) and not os.path.exists(partial):  # killed after its last rename
        check_equal(out)
        finished += 1
        if kills >= target:
            break
        os.remove(out)
    fresh = not os.path.exists(partial)
    cmd = train + (["-o", "out.h5"] if fresh else ["--resume", "out.h5"])
    p = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kills < target:
        try:
            p.wait(timeout=rng.uniform(0.0, 0.6) * wall)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
    _, err = p.communicate()
    if p.returncode == -signal.SIGKILL:
        kills += 1
        inside_write += os.path.exists(partial) and os.path.exists(partial + ".tmp")
        continue
    assert p.returncode == 0, f"{' '.join(cmd[2:])} failed with exit code {p.returncode}: {err.decode()}"
    assert not os.path.exists(partial)
    check_equal(out)
    finished += 1
    if kills >= target:
        break
    os.remove(out)  # finished before the kill: once more

print(f"train killed {kills} times ({inside_write} inside a checkpoint's write), resumed each time "
      f"(seed {seed}); {finished} finished runs equal the uninterrupted one ({wall:.2f} s uninterrupted)")
if target >= 20:
    assert inside_write > 0, "no kill landed inside a checkpoint's write"
