#!/usr/bin/python3
"""Trains a small torch GRU on the 3-bit flip-flop task (Sussillo & Barak 2013) and exports it
with scripts/torch_export.py: the model of the fixed-point validation test and benchmark.

    /usr/bin/python3 scripts/train_flipflop.py [--out-dir tests/data/flipflop] [--seed 0]

Task: 3 input channels; at each step each channel carries a pulse of +1 or -1 with
probability p (else 0); the target of each output channel is the sign of its last pulse.
Every channel gets a pulse at t = 0, so the target is always defined. A trained network
has 8 stable fixed points (the corners of the cube of memories) and saddles between them.

Writes OUT_DIR/gru16.model.h5 (the GRU; its readout is not part of the stackdyn model),
OUT_DIR/readout.h5 (weight (3, 16), bias (3,): output = weight h + bias) and
OUT_DIR/README.md lines on how it was made. Deterministic in --seed on one machine; the
whole run takes well under a minute on two cores.
"""
import argparse
import os
import shlex
import sys
import time

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_export  # noqa: E402


def flipflop_batch(gen, batch, steps, bits=3, p=0.05):
    """Inputs (batch, steps, bits) in {-1, 0, 1} and targets (batch, steps, bits) in {-1, 1}."""
    pulses = torch.rand(batch, steps, bits, generator=gen) < p
    pulses[:, 0, :] = True
    signs = torch.where(torch.rand(batch, steps, bits, generator=gen) < 0.5, -1.0, 1.0)
    x = torch.where(pulses, signs, torch.zeros(()))
    y = torch.empty_like(x)
    last = x[:, 0, :]
    for t in range(steps):
        last = torch.where(pulses[:, t, :], x[:, t, :], last)
        y[:, t, :] = last
    return x, y


class FlipFlopNet(torch.nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.rnn = torch.nn.GRU(3, hidden, batch_first=True)
        self.readout = torch.nn.Linear(hidden, 3)

    def forward(self, x):
        h, _ = self.rnn(x)
        return self.readout(h)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "flipflop"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--iters", type=int, default=1500)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=64)
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    gen = torch.Generator().manual_seed(args.seed)
    net = FlipFlopNet(args.hidden).double()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    t0 = time.time()
    for it in range(args.iters):
        x, y = flipflop_batch(gen, args.batch, args.steps)
        loss = torch.mean((net(x.double()) - y.double()) ** 2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        if it % 250 == 0 or it == args.iters - 1:
            print(f"iter {it}: mse {loss.item():.2e} ({time.time() - t0:.1f} s)", file=sys.stderr)
    with torch.no_grad():
        x, y = flipflop_batch(gen, 256, 256)
        out = net(x.double())
        acc = (torch.sign(out) == y).double().mean().item()
        mse = torch.mean((out - y) ** 2).item()
    print(f"held-out: sign accuracy {acc:.4f}, mse {mse:.2e}", file=sys.stderr)

    os.makedirs(args.out_dir, exist_ok=True)
    command_line = shlex.join(["scripts/train_flipflop.py"] + (sys.argv[1:] if argv is None else list(argv)))
    model_path = os.path.join(args.out_dir, f"gru{args.hidden}.model.h5")
    torch_export.export_module(net.rnn, model_path, command_line,
                               source=f"3-bit flip-flop GRU, trained by {command_line}; held-out sign accuracy {acc:.4f}")
    with h5py.File(os.path.join(args.out_dir, "readout.h5"), "w") as f:
        f["weight"] = net.readout.weight.detach().numpy()
        f["bias"] = net.readout.bias.detach().numpy()
        f.attrs["description"] = "readout of the flip-flop GRU: output = weight h + bias"
        f.attrs["command_line"] = command_line
    print(f"{model_path}: held-out sign accuracy {acc:.4f}, mse {mse:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
