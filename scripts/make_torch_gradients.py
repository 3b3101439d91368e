#!/usr/bin/python3
"""Generates the committed torch reference gradients in tests/data/torch_gradients/: for
every cell (rnn_tanh, rnn_relu, gru, lstm), 1..4 layers, unidirectional or bidirectional,
a small float64 torch module (bias and readout alternating over the cases) exported with
torch_export.export_module (<case>.model.h5), a data file for `stackdyn gradients`
(<case>.data.h5: inputs, targets, optional h0/c0) and torch autograd's loss and gradients
(<case>.grads.h5: loss, the gradient of every parameter under the model file's names, and
for unidirectional models dloss_dstates). Four more cases (each cell, 2 unidirectional
layers) are truncated BPTT (`--truncate 2`, the data file's attribute `truncate`): the
module runs window by window with the state detached where each window begins.

    scripts/make_torch_gradients.py [--outdir tests/data/torch_gradients]

dloss_dstates comes from its definition (docs/design.md 4): g_{T-1} = dl_{T-1}/ds_{T-1},
g_t = dl_t/ds_t + (dF/ds(s_t, x_{t+1}))^T g_{t+1}, with F one step of the stack built from
torch.nn.*Cell and every product taken by torch.autograd; truncated, from one backward pass
through the chain of F with the state detached where each window begins.
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
import make_torch_reference as ref  # noqa: E402
import torch_export  # noqa: E402

PROG = "make_torch_gradients.py"
INPUT_SIZE, HIDDEN_SIZE, BATCH, TIME = 3, 4, 3, 5
BASE_SEED = 31000


def cases():
    out = []
    for cell in ref.CELLS:
        for num_layers in range(1, 5):
            for bidirectional in (False, True):
                i = len(out)
                bias = i % 2 == 0
                readout = (i // 2) % 2 == 0
                loss = "cross_entropy" if i % 3 == 2 else "mse"
                every_step = i % 4 != 3
                with_h0 = i % 5 in (1, 3)
                name = f"{cell}_L{num_layers}_{'bidir' if bidirectional else 'uni'}_{'bias' if bias else 'nobias'}" \
                       f"_{'readout' if readout else 'noreadout'}_{loss}{'' if every_step else '_last'}"
                out.append(dict(index=i, name=name, cell=cell, num_layers=num_layers, bidirectional=bidirectional,
                                bias=bias, readout=readout, loss=loss, every_step=every_step, with_h0=with_h0,
                                truncate=0))
    for cell in ref.CELLS:
        i = len(out)
        out.append(dict(index=i, name=f"{cell}_L2_uni_bias_readout_mse_truncate2", cell=cell, num_layers=2,
                        bidirectional=False, bias=True, readout=True, loss="mse", every_step=True,
                        with_h0=i % 2 == 0, truncate=2))
    return out


def loss_fn(pred, targets, loss, every_step):
    """pred (B, T, O). The loss as `stackdyn gradients` defines it."""
    if not every_step:
        pred = pred[:, -1]
    if loss == "mse":
        return torch.nn.functional.mse_loss(pred, targets)
    return torch.nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), targets.reshape(-1))


def step_map(module, cells, readout):
    """F(s, x): one step of the unidirectional stack on the full state (B, state_dim), and the
    prediction at that step from the state."""
    lstm = isinstance(module, torch.nn.LSTM)
    n = module.hidden_size
    size = 2 * n if lstm else n

    def F(s, x):
        outs = []
        u = x
        for k, c in enumerate(cells):
            blk = s[:, k * size:(k + 1) * size]
            if lstm:
                h, cc = c(u, (blk[:, :n], blk[:, n:]))
                outs += [h, cc]
            else:
                h = c(u, blk)
                outs.append(h)
            u = h
        return torch.cat(outs, dim=1)

    def predict(s):
        top = s[:, (len(cells) - 1) * size:(len(cells) - 1) * size + n]
        return readout(top) if readout is not None else top

    return F, predict


def generate(outdir, c, command_line):
    seed = BASE_SEED + c["index"]
    torch.manual_seed(seed)
    module = ref.make_module(c["cell"], INPUT_SIZE, HIDDEN_SIZE, c["num_layers"], c["bidirectional"], c["bias"])
    nd = 2 if c["bidirectional"] else 1
    lstm = c["cell"] == "lstm"
    readout = torch.nn.Linear(nd * HIDDEN_SIZE, 2 if c["loss"] == "mse" else 3,
                              bias=c["index"] % 3 != 1).double() if c["readout"] else None
    O = readout.out_features if readout is not None else nd * HIDDEN_SIZE
    x = torch.randn(BATCH, TIME, INPUT_SIZE, dtype=torch.float64)
    if c["loss"] == "mse":
        targets = torch.randn(*((BATCH, TIME, O) if c["every_step"] else (BATCH, O)), dtype=torch.float64)
    else:
        targets = torch.randint(0, O, (BATCH, TIME) if c["every_step"] else (BATCH,), dtype=torch.int64)
    h0 = c0 = None
    if c["with_h0"]:
        h0 = torch.randn(c["num_layers"] * nd, BATCH, HIDDEN_SIZE, dtype=torch.float64)
        if lstm:
            c0 = torch.randn(c["num_layers"] * nd, BATCH, HIDDEN_SIZE, dtype=torch.float64)

    module.zero_grad()
    hx = None if h0 is None else ((h0, c0) if lstm else h0)
    trunc = c["truncate"]
    if trunc > 0:  # window by window, the state detached where each begins
        outs = []
        for a in range(0, TIME, trunc):
            o, hx = module(x[:, a:a + trunc], hx)
            outs.append(o)
            hx = tuple(v.detach() for v in hx) if lstm else hx.detach()
        out = torch.cat(outs, dim=1)
    else:
        out, _ = module(x, hx)
    pred = readout(out) if readout is not None else out
    loss = loss_fn(pred, targets, c["loss"], c["every_step"])
    params = list(module.parameters()) + (list(readout.parameters()) if readout is not None else [])
    grads = torch.autograd.grad(loss, params)
    by_name = dict(zip([n for n, _ in module.named_parameters()], grads[:len(list(module.parameters()))]))
    files = {}
    for k in range(c["num_layers"]):
        for suffix in ([""] + (["_reverse"] if c["bidirectional"] else [])):
            for base in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                tname = f"{base}_l{k}{suffix}"
                if tname in by_name:
                    files[f"layers/{k}/{base}{suffix}"] = by_name[tname].numpy()
    if readout is not None:
        files["readout/weight"] = grads[len(list(module.parameters()))].numpy()
        if readout.bias is not None:
            files["readout/bias"] = grads[len(list(module.parameters())) + 1].numpy()

    dstates = None
    if not c["bidirectional"]:
        cells = [ref._cell_for_layer(module, k) for k in range(c["num_layers"])]
        F, predict = step_map(module, cells, readout)
        states = torch.as_tensor(ref.cell_route(module, x.numpy(), None if h0 is None else h0.numpy(),
                                                None if c0 is None else c0.numpy()))
        # the loss as a sum over steps: l_t(s_t) from the prediction at step t
        def step_loss(t, s):
            p = predict(s)
            if c["loss"] == "mse":
                if not c["every_step"]:
                    return ((p - targets) ** 2).sum() / targets.numel() if t == TIME - 1 else p.sum() * 0
                return ((p - targets[:, t]) ** 2).sum() / targets.numel()
            logp = torch.log_softmax(p, dim=1)
            if not c["every_step"]:
                return -logp.gather(1, targets[:, None]).sum() / BATCH if t == TIME - 1 else p.sum() * 0
            return -logp.gather(1, targets[:, t, None]).sum() / (BATCH * TIME)

        g = torch.zeros(BATCH, TIME, states.shape[2], dtype=torch.float64)
        nxt = None
        if trunc > 0:
            # s_{t+1} = F(s_t, x_{t+1}) from s_0, detached where a window begins; dL/ds_t of
            # the whole loss through that graph
            nodes = [states[:, 0].clone().requires_grad_(True)]
            for t in range(1, TIME):
                prev = nodes[-1].detach() if t % trunc == 0 else nodes[-1]
                nodes.append(F(prev, x[:, t]))
                nodes[-1].retain_grad()
            sum(step_loss(t, nodes[t]) for t in range(TIME)).backward()
            for t in range(TIME):
                g[:, t] = nodes[t].grad
        for t in (range(TIME - 1, -1, -1) if trunc == 0 else []):
            s = states[:, t].clone().requires_grad_(True)
            total = step_loss(t, s)
            if nxt is not None:
                total = total + (F(s, x[:, t + 1]) * nxt).sum()
            (gt,) = torch.autograd.grad(total, s)
            g[:, t] = gt
            nxt = gt
        dstates = g.numpy()

    model_path = os.path.join(outdir, f"{c['name']}.model.h5")
    torch_export.export_module(module, model_path, command_line, readout=readout)
    with h5py.File(os.path.join(outdir, f"{c['name']}.data.h5"), "w") as f:
        f.attrs["producer"] = f"{PROG} (torch {torch.__version__})"
        f.attrs["command_line"] = command_line
        f.attrs["seed"] = np.int64(seed)
        f.attrs["loss"] = c["loss"]
        if trunc > 0:
            f.attrs["truncate"] = np.int64(trunc)
        f.create_dataset("inputs", data=x.numpy())
        f.create_dataset("targets", data=targets.numpy())
        if h0 is not None:
            f.create_dataset("h0", data=h0.numpy())
        if c0 is not None:
            f.create_dataset("c0", data=c0.numpy())
    with h5py.File(os.path.join(outdir, f"{c['name']}.grads.h5"), "w") as f:
        f.attrs["producer"] = f"{PROG} (torch {torch.__version__})"
        f.attrs["command_line"] = command_line
        f.create_dataset("loss", data=np.float64(loss.item()))
        for name, arr in files.items():
            f.create_dataset(name, data=arr)
        if dstates is not None:
            f.create_dataset("dloss_dstates", data=dstates)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", default=os.path.join(here, "..", "tests", "data", "torch_gradients"))
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    command_line = shlex.join(["scripts/" + PROG] + argv)
    for c in cases():
        generate(args.outdir, c, command_line)
        print(f"{c['name']}: written")
    print(f"{len(cases())} cases in {os.path.normpath(args.outdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
