#!/usr/bin/python3
"""End-to-end test of training interop: real torch modules with an nn.Linear readout ->
scripts/torch_export.py --readout -> `stackdyn gradients`, compared with torch autograd;
and scripts/model_to_torch.py --readout giving the same modules back.

    tests/e2e/torch_gradients_e2e.py STACKDYN_BIN WORKDIR

Prints one line per check and `N passed, M failed`; exits 1 if any failed.
"""
import os
import subprocess
import sys

import h5py
import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.normpath(os.path.join(HERE, "..", "..", "scripts"))
PYTHON = sys.executable or "/usr/bin/python3"


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def case(exe, work, name, module, readout, loss):
    torch.manual_seed(7)
    B, T = 4, 7
    nd = 2 if module.bidirectional else 1
    x = torch.randn(B, T, module.input_size, dtype=torch.float64)
    out_width = readout.out_features
    if loss == "mse":
        y = torch.randn(B, T, out_width, dtype=torch.float64)
    else:
        y = torch.randint(0, out_width, (B, T))
    pt, lin = os.path.join(work, name + ".pt"), os.path.join(work, name + ".linear.pt")
    torch.save(module, pt)
    torch.save(readout, lin)
    model = os.path.join(work, name + ".h5")
    subprocess.run([PYTHON, os.path.join(SCRIPTS, "torch_export.py"), pt, model, "--readout", lin], check=True)
    data = os.path.join(work, name + ".data.h5")
    with h5py.File(data, "w") as f:
        f["inputs"] = x.numpy()
        f["targets"] = y.numpy()
    grads = os.path.join(work, name + ".grads.h5")
    subprocess.run([exe, "gradients", model, data, "-o", grads], check=True, stdout=subprocess.DEVNULL)
    out, _ = module(x)
    pred = readout(out)
    if loss == "mse":
        L = torch.nn.functional.mse_loss(pred, y)
    else:
        L = torch.nn.functional.cross_entropy(pred.reshape(-1, out_width), y.reshape(-1))
    params = dict(module.named_parameters())
    g = torch.autograd.grad(L, list(params.values()) + [readout.weight, readout.bias])
    worst = 0.0
    with h5py.File(grads, "r") as f:
        worst = max(worst, abs(float(f["loss"][()]) - L.item()) / abs(L.item()))
        for (tname, _), gt in zip(params.items(), g):
            base, rest = tname.split("_l")
            k = rest.split("_")[0]
            fname = f"layers/{k}/{base}{'_reverse' if rest.endswith('_reverse') else ''}"
            worst = max(worst, rel(f[fname][()], gt.numpy()))
        worst = max(worst, rel(f["readout/weight"][()], g[-2].numpy()), rel(f["readout/bias"][()], g[-1].numpy()))
    if worst > 1e-9:
        raise AssertionError(f"relative error {worst:.3g} > 1e-9")
    # and back to torch, readout included
    back, back_lin = os.path.join(work, name + ".back.pt"), os.path.join(work, name + ".back.linear.pt")
    subprocess.run([PYTHON, os.path.join(SCRIPTS, "model_to_torch.py"), model, back, "--readout", back_lin], check=True)
    r2 = torch.load(back_lin)
    if not (torch.equal(r2.weight, readout.weight) and torch.equal(r2.bias, readout.bias)):
        raise AssertionError("model_to_torch.py --readout did not return the readout")
    return worst


def main():
    exe, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(1)
    cases = [
        ("gru2", torch.nn.GRU(3, 5, num_layers=2, batch_first=True).double(), torch.nn.Linear(5, 2).double(), "mse"),
        ("lstm3_bidir", torch.nn.LSTM(2, 4, num_layers=3, batch_first=True, bidirectional=True).double(),
         torch.nn.Linear(8, 3).double(), "cross_entropy"),
        ("rnn_relu1", torch.nn.RNN(2, 6, nonlinearity="relu", batch_first=True).double(), torch.nn.Linear(6, 1).double(), "mse"),
    ]
    passed = failed = 0
    for name, module, readout, loss in cases:
        try:
            err = case(exe, work, name, module, readout, loss)
            print(f"ok: {name} ({loss}): relative error {err:.2e}")
            passed += 1
        except Exception as e:  # noqa: BLE001 - a failed check of any kind
            print(f"FAILED: {name}: {' '.join(str(e).split())}")
            failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
