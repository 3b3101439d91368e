#!/usr/bin/python3
"""Generates the committed torch training references in tests/data/torch_training/: a small
float64 GRU stack with a linear readout (model.h5), a data set (data.h5), and for SGD
(momentum, weight decay) and Adam (weight decay), both with clip_grad_norm_ on and
shuffle = false, the configuration for `stackdyn train` (<opt>.toml) and what torch
computes (<opt>.expected.h5: history/loss, the loss of each step before its update, and the
parameters after the last step under the model file's names).

    scripts/make_torch_training.py [--outdir tests/data/torch_training]
"""
import argparse
import os
import shlex
import sys

import h5py
import numpy as np
import torch

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_export  # noqa: E402

PROG = "make_torch_training.py"
N, T, D, H, O, L = 10, 6, 2, 4, 2, 2
BATCH, STEPS, CLIP = 4, 12, 0.3
CONFIGS = {
    "sgd": dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3),
    "adam": dict(optimizer="adam", lr=0.02, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-3),
}


def names(module):
    """torch parameter name -> model file name."""
    out = {}
    for n, _ in module.named_parameters():
        base, rest = n.split("_l")
        k = rest.split("_")[0]
        out[n] = f"layers/{k}/{base}{'_reverse' if rest.endswith('_reverse') else ''}"
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", default=os.path.join(here, "..", "tests", "data", "torch_training"))
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    command_line = shlex.join(["scripts/" + PROG] + argv)
    torch.manual_seed(4242)
    rnn = torch.nn.GRU(D, H, num_layers=L, batch_first=True).double()
    readout = torch.nn.Linear(H, O).double()
    x = torch.randn(N, T, D, dtype=torch.float64)
    y = torch.randn(N, T, O, dtype=torch.float64)
    torch_export.export_module(rnn, os.path.join(args.outdir, "model.h5"), command_line, readout=readout)
    with h5py.File(os.path.join(args.outdir, "data.h5"), "w") as f:
        f.attrs["producer"] = f"{PROG} (torch {torch.__version__})"
        f.create_dataset("inputs", data=x.numpy())
        f.create_dataset("targets", data=y.numpy())
    init = {k: v.detach().clone() for k, v in list(rnn.state_dict().items()) + [("ro." + k, v) for k, v in readout.state_dict().items()]}
    for name, c in CONFIGS.items():
        with torch.no_grad():
            for k, v in rnn.state_dict().items():
                v.copy_(init[k])
            for k, v in readout.state_dict().items():
                v.copy_(init["ro." + k])
        params = list(rnn.parameters()) + list(readout.parameters())
        if c["optimizer"] == "sgd":
            opt = torch.optim.SGD(params, lr=c["lr"], momentum=c["momentum"], weight_decay=c["weight_decay"])
        else:
            opt = torch.optim.Adam(params, lr=c["lr"], betas=c["betas"], eps=c["eps"], weight_decay=c["weight_decay"])
        losses, norms = [], []
        for k in range(STEPS):
            idx = [(k * BATCH + j) % N for j in range(BATCH)]
            opt.zero_grad()
            out, _ = rnn(x[idx])
            loss = torch.nn.functional.mse_loss(readout(out), y[idx])
            loss.backward()
            norms.append(float(torch.nn.utils.clip_grad_norm_(params, CLIP)))
            opt.step()
            losses.append(loss.item())
        with h5py.File(os.path.join(args.outdir, f"{name}.expected.h5"), "w") as f:
            f.attrs["producer"] = f"{PROG} (torch {torch.__version__})"
            f.attrs["command_line"] = command_line
            f.create_dataset("history/loss", data=np.array(losses))
            for tn, fn in names(rnn).items():
                f.create_dataset("final/" + fn, data=getattr(rnn, tn).detach().numpy())
            f.create_dataset("final/readout/weight", data=readout.weight.detach().numpy())
            f.create_dataset("final/readout/bias", data=readout.bias.detach().numpy())
        lines = ["# made by scripts/make_torch_training.py: torch's run of the same training", "[model]",
                 'file = "model.h5"', "[data]", 'file = "data.h5"', "[train]", 'loss = "mse"',
                 f'optimizer = "{c["optimizer"]}"', f"lr = {c['lr']!r}", f"weight_decay = {c['weight_decay']!r}",
                 f"clip_grad_norm = {CLIP!r}", f"batch_size = {BATCH}", f"steps = {STEPS}", "shuffle = false",
                 "checkpoint_every = 5"]
        if c["optimizer"] == "sgd":
            lines.append(f"momentum = {c['momentum']!r}")
        else:
            lines += [f"betas = [{c['betas'][0]!r}, {c['betas'][1]!r}]", f"eps = {c['eps']!r}"]
        with open(os.path.join(args.outdir, f"{name}.toml"), "w") as f:
            f.write("\n".join(lines) + "\n")
        print(f"{name}: losses {losses[0]:.4f} .. {losses[-1]:.4f}; gradient norms {min(norms):.3f} .. {max(norms):.3f} (clipped above {CLIP})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
