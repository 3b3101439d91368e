#!/usr/bin/python3
"""The training benchmark: stackdyn (tests/benchmarks/bench_training) against torch on the
same module and inputs, measured alternately in one run, reporting median ratios.

  cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSTACKDYN_BUILD_BENCHMARKS=ON
  cmake --build build -j2 --target bench_training
  /usr/bin/python3 scripts/bench_training.py build/tests/benchmarks/bench_training [--rounds 3]
      [--cells rnn_tanh gru lstm] [--hidden 32 128 512] [--batch 1 32] [--steps 100]

Each case: a 3-layer torch.nn.RNN/GRU/LSTM (input size = hidden size, float64, torch's own
initialisation, seeded), exported with scripts/torch_export.py, and inputs U(-1, 1) of
sequence length T. Two measurements per case:
- forward: torch under no_grad against `run_sequence` (what `stackdyn forward` runs);
- forward + backward + one Adam step: torch (mse_loss of the outputs against zeros,
  backward, Adam.step, zero_grad) against Bptt forward, the same loss, backward and
  stackdyn's Adam.
Both sides one thread (torch.set_num_threads(1), OPENBLAS_NUM_THREADS=1), float64, OpenBLAS's
best kernels for the CPU (scripts/bench_env.py). Each side's time is the median over calls
after a warm-up, start-up excluded on both; the rounds alternate the sides and the median
ratio is reported. GFLOP/s count the matrix products only: per step and layer
2 G H (in + H) B for the forward (G = 1, 3, 4 gate blocks), three times that for forward and
backward; printed beside the machine's dgemm rate (numpy, one thread).
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_env  # noqa: E402  (one thread, OpenBLAS's best kernels: before numpy and torch)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import torch_export  # noqa: E402

torch.set_num_threads(1)
GATES = {"rnn_tanh": 1, "gru": 3, "lstm": 4}


def make_module(cell, hidden, seed):
    torch.manual_seed(seed)
    if cell == "rnn_tanh":
        m = torch.nn.RNN(hidden, hidden, num_layers=3)
    elif cell == "gru":
        m = torch.nn.GRU(hidden, hidden, num_layers=3)
    else:
        m = torch.nn.LSTM(hidden, hidden, num_layers=3)
    return m.double()


def time_torch(module, x, mode, reps):
    times = []
    if mode == "forward":
        with torch.no_grad():
            for r in range(reps + 1):
                t = time.perf_counter()
                module(x)
                if r:
                    times.append(time.perf_counter() - t)
        return statistics.median(times)
    opt = torch.optim.Adam(module.parameters(), lr=1e-3)
    for r in range(reps + 1):
        t = time.perf_counter()
        out, _ = module(x)
        loss = torch.nn.functional.mse_loss(out, torch.zeros_like(out))
        loss.backward()
        opt.step()
        opt.zero_grad()
        if r:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def time_stackdyn(exe, model, mode, batch, steps, reps):
    out = subprocess.run([exe, model, mode, str(batch), str(steps), str(reps)], check=True, capture_output=True,
                         text=True).stdout.split()
    return float(out[0])


def reps_for(seconds_per_call):
    return max(3, min(50, int(1.0 / max(seconds_per_call, 1e-6))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cells", nargs="+", default=["rnn_tanh", "gru", "lstm"])
    ap.add_argument("--hidden", nargs="+", type=int, default=[32, 128, 512])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--steps", type=int, default=100)
    a = ap.parse_args()
    exe = os.path.abspath(a.exe)
    A = np.random.default_rng(0).standard_normal((1000, 1000))

    def dgemm_rate():
        best = 0.0
        for _ in range(5):
            t = time.perf_counter()
            A @ A
            best = max(best, 2e9 / (time.perf_counter() - t) / 1e9)
        return best

    dgemm = dgemm_rate()
    print("torch %s, OpenBLAS core %s; dgemm 1000^3, one thread: %.1f GFLOP/s" % (torch.__version__, bench_env.CORETYPE,
                                                                                 dgemm))
    backend = subprocess.run([exe, "--gemm-backend"], check=True, capture_output=True, text=True).stdout.strip()
    print("stackdyn's large products: %s" % backend)
    with tempfile.TemporaryDirectory() as work:
        for cell in a.cells:
            for H in a.hidden:
                module = make_module(cell, H, 1)
                path = os.path.join(work, "%s_%d.h5" % (cell, H))
                torch_export.export_module(module, path, "bench_training.py")
                for B in a.batch:
                    x = torch.rand(a.steps, B, H, dtype=torch.float64) * 2 - 1
                    flop = 2.0 * GATES[cell] * H * (H + H) * B * a.steps * 3
                    for mode in ("forward", "train"):
                        work_flop = flop * (1 if mode == "forward" else 3)
                        probe = time_torch(module, x, mode, 1)
                        reps = reps_for(probe)
                        ratios, t_t, t_s = [], [], []
                        for _ in range(a.rounds):
                            tt = time_torch(module, x, mode, reps)
                            ts = time_stackdyn(exe, path, mode, B, a.steps, reps)
                            ratios.append(tt / ts)
                            t_t.append(tt)
                            t_s.append(ts)
                        tt, ts = statistics.median(t_t), statistics.median(t_s)
                        print("%-8s H=%-4d B=%-3d %-8s torch %9.3f ms (%5.1f GFLOP/s)  stackdyn %9.3f ms (%5.1f GFLOP/s,"
                              " %3.0f%% of dgemm)  median ratio %.2fx"
                              % (cell, H, B, mode, 1e3 * tt, work_flop / tt / 1e9, 1e3 * ts, work_flop / ts / 1e9,
                                 100 * work_flop / ts / 1e9 / dgemm, statistics.median(ratios)), flush=True)
    print("dgemm 1000^3 again at the end: %.1f GFLOP/s (the percentages use the first figure)" % dgemm_rate())
    with open("/proc/loadavg") as f:
        print("load average:", f.read().split()[:3])
    return 0


if __name__ == "__main__":
    sys.exit(main())
