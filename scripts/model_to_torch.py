#!/usr/bin/python3
"""Builds the torch.nn.RNN / GRU / LSTM (float64) equivalent to a torch-shaped stackdyn model
file (docs/model-format.md) and saves it with torch.save(module): the reverse of
torch_export.py.

    scripts/model_to_torch.py MODEL.h5 OUT.pt [--readout LINEAR.pt]

With --readout, the model's readout (group /readout) is saved as a torch.nn.Linear too.

Torch-shaped: every layer has the same cell among rnn_tanh, rnn_relu, gru, lstm, the same
hidden size and bias setting, and no skip or residual connection.
"""
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stackdyn_io as sio  # noqa: E402

PROG = "model_to_torch.py"
_GATES = {"rnn_tanh": 1, "rnn_relu": 1, "gru": 3, "lstm": 4}
_NO_TORCH = {"gru_reset_before": "the original (reset-before) GRU", "deep_transition": "a deep-transition cell"}
_one_line = sio.one_line


class ConvertError(sio.ScriptError):
    """Bad input (exit code 2); the message is one line naming what, where and what was expected."""


def _attr(obj, name, where, kind):
    """Reads attribute `name` of an HDF5 object as str, int, float or bool."""
    if name not in obj.attrs:
        raise ConvertError(f"{where}: attribute '{name}' is missing")
    v = obj.attrs[name]
    try:
        if kind is str:
            if isinstance(v, bytes):
                return v.decode("utf-8")
            if isinstance(v, str):
                return v
            raise TypeError(type(v).__name__)
        v = np.asarray(v)
        if v.shape != ():
            raise TypeError(f"shape {v.shape}")
        if kind is float:
            return float(v)
        if not np.issubdtype(v.dtype, np.integer):
            raise TypeError(str(v.dtype))
        v = int(v)
        if kind is bool:
            if v not in (0, 1):
                raise ValueError(v)
            return bool(v)
        return v
    except (TypeError, ValueError) as e:
        expected = {str: "a string", int: "an int64", float: "a float64", bool: "an int64 0 or 1"}[kind]
        raise ConvertError(f"{where}: attribute '{name}' is {_one_line(e)}; expected {expected}") from None


def read_model(spec):
    """Reads and checks a torch-shaped model: a model file, a run file (its /final_model) or
    FILE.h5:/group. Returns a dict: cell, input_size, hidden_size, num_layers, bias,
    bidirectional, dropout, batch_first, params {torch name: float64 array}."""
    with sio.open_model(os.fspath(spec)) as (f, path):
        return _read_group(f, path)


def _read_group(f, path):
    """read_model on the model group `f` (`path` names it in messages)."""
    version = _attr(f, "format_version", path, int)
    if version != 1:
        raise ConvertError(f"{path}: format_version {version}; expected 1")
    input_size = _attr(f, "input_size", path, int)
    num_layers = _attr(f, "num_layers", path, int)
    bidir = _attr(f, "bidirectional", path, bool)
    dropout = _attr(f, "dropout", path, float)
    batch_first = _attr(f, "torch_batch_first", path, bool) if "torch_batch_first" in f.attrs else True
    if input_size < 1 or num_layers < 1:
        raise ConvertError(f"{path}: input_size={input_size}, num_layers={num_layers}; expected positive values")
    if not (0.0 <= dropout <= 1.0):
        raise ConvertError(f"{path}: dropout={dropout}; expected a value in [0, 1]")
    nd = 2 if bidir else 1
    if "layers" not in f:
        raise ConvertError(f"{path}: group /layers is missing")
    cell = hidden = bias = None
    params = {}
    for k in range(num_layers):
        where = f"{path}: /layers/{k}"
        if str(k) not in f["layers"]:
            raise ConvertError(f"{where} is missing; expected one group per layer (num_layers={num_layers})")
        g = f["layers"][str(k)]
        c = _attr(g, "cell", where, str)
        if c in _NO_TORCH:
            raise ConvertError(f"{where} has cell '{c}', {_NO_TORCH[c]}, which has no torch module; "
                               f"expected one of {', '.join(_GATES)}")
        if c not in _GATES:
            raise ConvertError(f"{where} has cell '{c}'; expected one of {', '.join(_GATES)}")
        n = _attr(g, "hidden_size", where, int)
        b = _attr(g, "bias", where, bool)
        for flag in ("skip", "residual"):
            if flag in g.attrs and _attr(g, flag, where, bool):
                raise ConvertError(f"{where} has {flag}=1; torch modules have no {flag} connections (expected 0)")
        if cell is None:
            cell, hidden, bias = c, n, b
        if c != cell:
            raise ConvertError(f"{where} has cell '{c}' but layer 0 has '{cell}'; a torch module needs one cell "
                               "type in every layer")
        if n != hidden:
            raise ConvertError(f"{where} has hidden_size {n} but layer 0 has {hidden}; a torch module needs one "
                               "hidden size in every layer")
        if b != bias:
            raise ConvertError(f"{where} has bias={int(b)} but layer 0 has bias={int(bias)}; a torch module has "
                               "one bias setting for every layer")
        layer_in = input_size if k == 0 else nd * hidden
        a_in = _attr(g, "input_size", where, int)
        if a_in != layer_in:
            raise ConvertError(f"{where} has input_size {a_in}; expected {layer_in}")
        gates = _GATES[c]
        expected = {"weight_ih": (gates * n, layer_in), "weight_hh": (gates * n, n)}
        if bias:
            expected.update({"bias_ih": (gates * n,), "bias_hh": (gates * n,)})
        expected.update({name + "_reverse": shape for name, shape in list(expected.items())} if bidir else {})
        extra = sorted(set(g.keys()) - set(expected))
        if extra:
            raise ConvertError(f"{where} has dataset '{extra[0]}', which a torch {cell} module does not have; "
                               f"expected only {', '.join(expected)}")
        for name, shape in expected.items():
            if name not in g:
                raise ConvertError(f"{where}/{name} is missing; expected shape {shape}")
            arr = np.asarray(g[name][()], dtype=np.float64)
            if arr.shape != shape:
                raise ConvertError(f"{where}/{name} has shape {arr.shape}; expected {shape}")
            if not np.all(np.isfinite(arr)):
                raise ConvertError(f"{where}/{name} holds NaN or infinite values; expected finite weights")
            base, reverse = (name[:-len("_reverse")], "_reverse") if name.endswith("_reverse") else (name, "")
            params[f"{base}_l{k}{reverse}"] = arr  # torch's parameter name
    readout = None
    if "readout" in f:
        r = f["readout"]
        if "weight" not in r:
            raise ConvertError(f"{path}: /readout/weight is missing")
        w = np.asarray(r["weight"][()], dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != nd * hidden:
            raise ConvertError(f"{path}: /readout/weight has shape {w.shape}; expected (O, {nd * hidden})")
        b = np.asarray(r["bias"][()], dtype=np.float64) if "bias" in r else None
        if b is not None and b.shape != (w.shape[0],):
            raise ConvertError(f"{path}: /readout/bias has shape {b.shape}; expected ({w.shape[0]},)")
        readout = {"weight": w, "bias": b}
    return {"readout": readout, "cell": cell, "input_size": input_size, "hidden_size": hidden, "num_layers": num_layers, "bias": bias,
            "bidirectional": bidir, "dropout": dropout, "batch_first": batch_first, "params": params}


def build_module(model):
    """The float64 torch module (in eval mode) holding `model`'s weights (a dict from read_model)."""
    kw = dict(input_size=model["input_size"], hidden_size=model["hidden_size"], num_layers=model["num_layers"],
              bias=model["bias"], batch_first=model["batch_first"], dropout=model["dropout"],
              bidirectional=model["bidirectional"])
    with warnings.catch_warnings():  # torch warns about dropout with one layer; the value is kept as recorded
        warnings.simplefilter("ignore")
        if model["cell"] in ("rnn_tanh", "rnn_relu"):
            module = torch.nn.RNN(nonlinearity=model["cell"][4:], **kw)
        elif model["cell"] == "gru":
            module = torch.nn.GRU(**kw)
        else:
            module = torch.nn.LSTM(**kw)
    module = module.double()
    names = [name for name, _ in module.named_parameters()]
    if sorted(names) != sorted(model["params"]):
        raise ConvertError(f"parameters {sorted(model['params'])} do not match torch's {sorted(names)}")
    with torch.no_grad():
        for name in names:
            getattr(module, name).copy_(torch.from_numpy(model["params"][name]))
    module.eval()
    return module


def build_readout(model):
    """The float64 torch.nn.Linear of the model's readout, or None when it has none."""
    r = model.get("readout")
    if r is None:
        return None
    lin = torch.nn.Linear(r["weight"].shape[1], r["weight"].shape[0], bias=r["bias"] is not None).double()
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(r["weight"]))
        if r["bias"] is not None:
            lin.bias.copy_(torch.from_numpy(r["bias"]))
    return lin


def body(argv):
    parser = sio.Parser(prog=PROG, description=(
        "Save the torch.nn.RNN/GRU/LSTM (float64, eval mode) equivalent to a torch-shaped stackdyn model "
        "with torch.save(module). batch_first comes from the model's torch_batch_first attribute (default True)."))
    parser.add_argument("model", metavar="MODEL", help="stackdyn model file, run file or FILE.h5:/group")
    parser.add_argument("output", metavar="OUT.pt", help="file to write with torch.save (via OUT.pt.partial)")
    parser.add_argument("--readout", metavar="LINEAR.pt", help="also save the model's readout as a torch.nn.Linear")
    args = parser.parse_args(argv)
    sio.refuse_output_among_inputs(args.output, [args.model])
    if args.readout:
        sio.refuse_output_among_inputs(args.readout, [args.model, args.output], option="--readout")
    model = read_model(args.model)
    module = build_module(model)
    readout = None
    if args.readout:
        readout = build_readout(model)
        if readout is None:
            raise ConvertError(f"{args.model}: --readout given but the model has no readout (group /readout)")
    try:
        if readout is not None:
            with sio.atomic_output(args.readout) as partial:
                torch.save(readout, partial)
        with sio.atomic_output(args.output) as partial:
            torch.save(module, partial)
    except OSError as e:
        raise sio.ScriptError(f"writing {args.output} failed: {_one_line(e)}", exit_code=1) from None
    return 0


def main(argv=None):
    return sio.run_main(PROG, body, argv)


if __name__ == "__main__":
    sys.exit(main())
