#!/usr/bin/python3
"""Generates the committed torch reference data in tests/data/torch/: for every cell
(rnn_tanh, rnn_relu, gru, lstm), num_layers 1..4, unidirectional or bidirectional, with or
without bias, a small float64 torch module exported with torch_export.export_module
(<case>.model.h5) and torch's results on a random input (<case>.io.h5).

    scripts/make_torch_reference.py [--outdir tests/data/torch]

The `states` of unidirectional cases come from an independent route (torch.nn.*Cell stepped
layer by layer, cell_route below), checked against the module's outputs.
"""
import argparse
import copy
import hashlib
import os
import shlex
import sys

import h5py
import numpy as np
import torch

sys.dont_write_bytecode = True  # no __pycache__ next to the scripts
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_export  # noqa: E402

PROG = "make_torch_reference.py"
CELLS = ("rnn_tanh", "rnn_relu", "gru", "lstm")
INPUT_SIZE, HIDDEN_SIZE, BATCH, TIME = 3, 5, 3, 6
BASE_SEED = 20240


def case_name(cell, num_layers, bidirectional, bias):
    return f"{cell}_L{num_layers}_{'bidir' if bidirectional else 'uni'}_{'bias' if bias else 'nobias'}"


def cases():
    """(index, name, cell, num_layers, bidirectional, bias, with_h0) for every reference case."""
    out = []
    for cell in CELLS:
        for num_layers in range(1, 5):
            for bidirectional in (False, True):
                for bias in (True, False):
                    # every other case has an initial state; alternating in L, so that every
                    # (cell, direction, bias) combination is seen both with and without one
                    with_h0 = (num_layers + bidirectional + bias) % 2 == 1
                    out.append((len(out), case_name(cell, num_layers, bidirectional, bias), cell, num_layers,
                                bidirectional, bias, with_h0))
    return out


def make_module(cell, input_size, hidden_size, num_layers, bidirectional, bias, batch_first=True,
                dtype=torch.float64):
    kw = dict(input_size=input_size, hidden_size=hidden_size, num_layers=num_layers, bias=bias,
              batch_first=batch_first, bidirectional=bidirectional)
    if cell in ("rnn_tanh", "rnn_relu"):
        m = torch.nn.RNN(nonlinearity=cell[4:], **kw)
    elif cell == "gru":
        m = torch.nn.GRU(**kw)
    elif cell == "lstm":
        m = torch.nn.LSTM(**kw)
    else:
        raise ValueError(cell)
    return m.to(dtype)


def run_module(module, inputs, h0=None, c0=None):
    """torch's results for `inputs` (batch, time, input) whatever the module's batch_first:
    outputs (batch, time, num_directions*hidden), h_n, c_n (None unless LSTM), all float64 numpy."""
    m = copy.deepcopy(module).double().eval()  # leaves the caller's module as it is; no dropout
    x = torch.as_tensor(inputs, dtype=torch.float64)
    if not m.batch_first:
        x = x.transpose(0, 1)
    lstm = isinstance(m, torch.nn.LSTM)
    hx = None
    if h0 is not None:
        h0 = torch.as_tensor(h0, dtype=torch.float64)
        hx = (h0, torch.as_tensor(c0, dtype=torch.float64) if c0 is not None else torch.zeros_like(h0)) if lstm else h0
    with torch.no_grad():
        out, hn = m(x, hx)
    if not m.batch_first:
        out = out.transpose(0, 1)
    if lstm:
        hn, cn = hn
        return out.numpy().copy(), hn.numpy().copy(), cn.numpy().copy()
    return out.numpy().copy(), hn.numpy().copy(), None


def _cell_for_layer(module, k):
    cell = torch_export.cell_name(module)
    n_in = module.input_size if k == 0 else module.hidden_size
    if cell in ("rnn_tanh", "rnn_relu"):
        c = torch.nn.RNNCell(n_in, module.hidden_size, bias=module.bias, nonlinearity=cell[4:])
    elif cell == "gru":
        c = torch.nn.GRUCell(n_in, module.hidden_size, bias=module.bias)
    else:
        c = torch.nn.LSTMCell(n_in, module.hidden_size, bias=module.bias)
    c = c.double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh") + (("bias_ih", "bias_hh") if module.bias else ()):
            getattr(c, name).copy_(getattr(module, f"{name}_l{k}").detach().to(torch.float64))
    return c


def cell_route(module, inputs, h0=None, c0=None):
    """The full state after each step, (batch, time, state_dim) in docs/design.md section 2's order
    [h^(1); c^(1) (LSTM); h^(2); ...], computed by stepping torch.nn.RNNCell/GRUCell/LSTMCell
    with the module's weights layer by layer (unidirectional modules only)."""
    if module.bidirectional:
        raise ValueError("cell_route: bidirectional modules have no causal state sequence")
    lstm = torch_export.cell_name(module) == "lstm"
    x = torch.as_tensor(inputs, dtype=torch.float64)
    batch, time = x.shape[0], x.shape[1]
    n = module.hidden_size
    blocks = []
    layer_in = x
    with torch.no_grad():
        for k in range(module.num_layers):
            cell = _cell_for_layer(module, k)
            h = torch.as_tensor(h0[k], dtype=torch.float64) if h0 is not None else torch.zeros(batch, n, dtype=torch.float64)
            c = torch.as_tensor(c0[k], dtype=torch.float64) if c0 is not None else torch.zeros(batch, n, dtype=torch.float64)
            hs, cs = [], []
            for t in range(time):
                if lstm:
                    h, c = cell(layer_in[:, t], (h, c))
                    cs.append(c)
                else:
                    h = cell(layer_in[:, t], h)
                hs.append(h)
            layer_in = torch.stack(hs, dim=1)
            blocks.append(layer_in)
            if lstm:
                blocks.append(torch.stack(cs, dim=1))
    return torch.cat(blocks, dim=2).numpy().copy()


def _label(dset, *names):
    for dim, name in zip(dset.dims, names):
        dim.label = name


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def generate_case(outdir, index, name, cell, num_layers, bidirectional, bias, with_h0, command_line):
    seed = BASE_SEED + index
    torch.manual_seed(seed)
    module = make_module(cell, INPUT_SIZE, HIDDEN_SIZE, num_layers, bidirectional, bias)
    nd = 2 if bidirectional else 1
    lstm = cell == "lstm"
    inputs = torch.randn(BATCH, TIME, INPUT_SIZE, dtype=torch.float64).numpy()
    h0 = c0 = None
    if with_h0:
        h0 = torch.randn(num_layers * nd, BATCH, HIDDEN_SIZE, dtype=torch.float64).numpy()
        if lstm:
            c0 = torch.randn(num_layers * nd, BATCH, HIDDEN_SIZE, dtype=torch.float64).numpy()
    outputs, h_n, c_n = run_module(module, inputs, h0, c0)

    states = None
    if not bidirectional:
        states = cell_route(module, inputs, h0, c0)
        size = HIDDEN_SIZE * (2 if lstm else 1)
        top = states[:, :, (num_layers - 1) * size:(num_layers - 1) * size + HIDDEN_SIZE]
        scale = max(np.abs(outputs).max(), np.finfo(np.float64).tiny)
        assert np.abs(top - outputs).max() <= 1e-12 * scale, f"{name}: cell route's top-layer h != module outputs"
        for k in range(num_layers):
            last = states[:, -1, k * size:(k + 1) * size]
            assert np.abs(last[:, :HIDDEN_SIZE] - h_n[k]).max() <= 1e-12 * max(np.abs(h_n).max(), 1e-300), \
                f"{name}: cell route's last h of layer {k} != h_n"
            if lstm:
                assert np.abs(last[:, HIDDEN_SIZE:] - c_n[k]).max() <= 1e-12 * max(np.abs(c_n).max(), 1e-300), \
                    f"{name}: cell route's last c of layer {k} != c_n"

    model_path = os.path.join(outdir, f"{name}.model.h5")
    torch_export.export_module(module, model_path, command_line)
    io_path = os.path.join(outdir, f"{name}.io.h5")
    partial = io_path + ".partial"
    with h5py.File(partial, "w") as f:
        a = f.attrs
        a["producer"] = f"{PROG} (torch {torch.__version__})"
        a["command_line"] = command_line
        a["config"] = ""
        a["seed"] = np.int64(seed)  # torch.manual_seed of the case (module init, then inputs, h0, c0)
        a["model"] = os.path.basename(model_path)
        a["model_sha256"] = _sha256(model_path)
        a["units"] = "steps"
        a["torch_batch_first"] = np.int64(1)
        _label(f.create_dataset("inputs", data=inputs), "batch", "time", "input")
        if h0 is not None:
            _label(f.create_dataset("h0", data=h0), "layer_direction", "batch", "hidden")
        if c0 is not None:
            _label(f.create_dataset("c0", data=c0), "layer_direction", "batch", "hidden")
        _label(f.create_dataset("outputs", data=outputs), "batch", "time", "output")
        _label(f.create_dataset("h_n", data=h_n), "layer_direction", "batch", "hidden")
        if c_n is not None:
            _label(f.create_dataset("c_n", data=c_n), "layer_direction", "batch", "hidden")
        if states is not None:
            _label(f.create_dataset("states", data=states), "batch", "time", "state")
            size = HIDDEN_SIZE * (2 if lstm else 1)
            f.create_dataset("state_slices", data=np.array([[k * size, size] for k in range(num_layers)], dtype=np.int64))
    os.replace(partial, io_path)
    return model_path, io_path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", default=os.path.join(here, "..", "tests", "data", "torch"),
                        help="where to write the files (default: tests/data/torch of this repository)")
    args = parser.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    torch.use_deterministic_algorithms(True)
    # Recorded relative to the repository, so that regenerating elsewhere writes the same bytes.
    command_line = shlex.join(["scripts/" + PROG] + argv)
    total = 0
    for index, name, cell, num_layers, bidirectional, bias, with_h0 in cases():
        paths = generate_case(args.outdir, index, name, cell, num_layers, bidirectional, bias, with_h0, command_line)
        total += sum(os.path.getsize(p) for p in paths)
        print(f"{name}: written{' (with h0)' if with_h0 else ''}")
    print(f"{len(cases())} cases, {total} bytes in {os.path.normpath(args.outdir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
