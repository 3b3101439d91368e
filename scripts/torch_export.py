#!/usr/bin/python3
"""Exports a torch.nn.RNN / GRU / LSTM saved with torch.save(module) to a stackdyn model
file (docs/model-format.md): float64, torch's weight shapes, one group per layer.

    scripts/torch_export.py IN.pt OUT.h5 [--readout LINEAR.pt]

--readout adds a torch.save'd torch.nn.Linear as the model's readout (group /readout:
weight (O, width of the top stream), bias (O,) when the Linear has one).

Importable: export_module(module, path, command_line) does the work for other scripts.
"""
import argparse
import os
import shlex
import sys
import warnings

import h5py
import numpy as np
import torch

PROG = "torch_export.py"
FORMAT = "stackdyn-model"
FORMAT_VERSION = 1

# torch class -> (cell name per mode, number of gate blocks G)
_CELLS = {"RNN_TANH": ("rnn_tanh", 1), "RNN_RELU": ("rnn_relu", 1), "GRU": ("gru", 3), "LSTM": ("lstm", 4)}
_SUPPORTED = (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM)


class ExportError(Exception):
    """Bad input (exit code 2); the message is one line naming what, where and what was expected."""

    exit_code = 2


def _one_line(text):
    return " ".join(str(text).split())


def _class_name(obj):
    cls = type(obj)
    mod = cls.__module__
    if mod.startswith("torch.nn.modules."):
        mod = "torch.nn"
    return f"{mod}.{cls.__qualname__}"


def _torch_base(module):
    """The supported torch class `module` is (or derives from without changing forward), else None."""
    for base in _SUPPORTED:
        if type(module) is base:
            return base
        if isinstance(module, base) and type(module).forward is base.forward:
            return base
    return None


def cell_name(module):
    """stackdyn cell name of a torch.nn.RNN/GRU/LSTM: rnn_tanh, rnn_relu, gru or lstm."""
    return _CELLS[module.mode][0]


def describe_module(module):
    """The module's configuration as torch's constructor call, for the `source` attribute."""
    base = _torch_base(module) or type(module)
    args = [f"input_size={module.input_size}", f"hidden_size={module.hidden_size}",
            f"num_layers={module.num_layers}"]
    if base is torch.nn.RNN:
        args.append(f"nonlinearity={module.nonlinearity!r}")
    args += [f"bias={bool(module.bias)}", f"batch_first={bool(module.batch_first)}"]
    if module.dropout:
        args.append(f"dropout={float(module.dropout)!r}")
    args.append(f"bidirectional={bool(module.bidirectional)}")
    text = f"torch.nn.{base.__name__}({', '.join(args)})"
    if type(module) is not base:
        text += f" (as {_class_name(module)})"
    dtypes = sorted({str(p.dtype).replace("torch.", "") for p in module.parameters()})
    if dtypes and dtypes != ["float64"]:
        text += f"; parameters {'/'.join(dtypes)} converted to float64"
    return text


def check_module(module, where="module"):
    """Raises ExportError unless `module` is an exportable torch.nn.RNN/GRU/LSTM."""
    base = _torch_base(module)
    if base is None:
        if isinstance(module, (torch.nn.RNNBase,)):
            raise ExportError(
                f"{where}: {_class_name(module)} overrides forward() of its torch base class; "
                "expected torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM")
        raise ExportError(f"{where}: holds a {_class_name(module)}; expected torch.nn.RNN, torch.nn.GRU or torch.nn.LSTM"
                          f"{_submodules_hint(module)}")
    if module.mode not in _CELLS:
        raise ExportError(f"{where}: {_class_name(module)} has mode {module.mode!r}; expected one of {sorted(_CELLS)}")
    if getattr(module, "proj_size", 0) > 0:
        raise ExportError(
            f"{where}: torch.nn.LSTM with proj_size={module.proj_size}: LSTM projections are not supported "
            "(expected proj_size=0)")
    for name, value in (("input_size", module.input_size), ("hidden_size", module.hidden_size),
                        ("num_layers", module.num_layers)):
        if int(value) < 1:
            raise ExportError(f"{where}: {name}={value}; expected a positive integer")
    for name, tensor in _parameters(module):
        if tensor is None:
            raise ExportError(f"{where}: parameter {name} is missing; expected a complete {base.__name__} module")
        if not tensor.is_floating_point():
            raise ExportError(f"{where}: parameter {name} has dtype {tensor.dtype}; expected a floating-point type")
        if not bool(torch.isfinite(tensor).all()):
            raise ExportError(f"{where}: parameter {name} holds NaN or infinite values; expected finite weights")


def _parameters(module):
    """(torch name, tensor or None) for every weight and bias, in torch's order."""
    out = []
    for k in range(module.num_layers):
        for suffix in ([""] + (["_reverse"] if module.bidirectional else [])):
            names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if module.bias else [])
            for n in names:
                tname = f"{n}_l{k}{suffix}"
                out.append((tname, getattr(module, tname, None)))
    return out


def _state_slices(module):
    """[offset, size] per layer (docs/design.md section 2: [h] or [h; c] per layer, bottom first).

    A bidirectional layer's h is [h_fwd; h_bwd], so its block is twice as wide ([h_fwd; h_bwd]
    or [h_fwd; h_bwd; c_fwd; c_bwd]), as stackdyn's Model::state_slices() has it."""
    directions = 2 if module.bidirectional else 1
    size = module.hidden_size * (2 if cell_name(module) == "lstm" else 1) * directions
    return np.array([[k * size, size] for k in range(module.num_layers)], dtype=np.int64)


def check_readout(readout, module, where="readout"):
    """Raises ExportError unless `readout` is a torch.nn.Linear reading the module's top stream."""
    if not isinstance(readout, torch.nn.Linear):
        raise ExportError(f"{where}: holds a {_class_name(readout)}; expected a torch.nn.Linear")
    width = module.hidden_size * (2 if module.bidirectional else 1)
    if readout.in_features != width:
        raise ExportError(f"{where}: torch.nn.Linear with in_features={readout.in_features}; expected {width} "
                          "(the module's num_directions*hidden_size)")
    for name, tensor in readout.named_parameters():
        if not bool(torch.isfinite(tensor).all()):
            raise ExportError(f"{where}: parameter {name} holds NaN or infinite values; expected finite weights")


def export_module(module, path, command_line, *, source=None, where="module", readout=None):
    """Writes `module` (torch.nn.RNN/GRU/LSTM, any dtype) as a stackdyn model file at `path`.

    Writes `path`.partial first and renames it on success. Raises ExportError for a module that
    cannot be exported (nothing is written then)."""
    check_module(module, where)
    if readout is not None:
        check_readout(readout, module)
    cell, gates = _CELLS[module.mode]
    n = int(module.hidden_size)
    nd = 2 if module.bidirectional else 1
    slices = _state_slices(module)
    arrays = {}
    for tname, tensor in _parameters(module):
        arr = tensor.detach().cpu().to(torch.float64).numpy().copy()
        k = int(tname.split("_l")[1].split("_")[0])
        layer_in = module.input_size if k == 0 else nd * n
        expected = (gates * n, layer_in) if tname.startswith("weight_ih") else \
            (gates * n, n) if tname.startswith("weight_hh") else (gates * n,)
        if arr.shape != expected:
            raise ExportError(f"{where}: parameter {tname} has shape {tuple(arr.shape)}; expected {expected}")
        arrays[tname] = arr

    partial = os.fspath(path) + ".partial"
    try:
        with h5py.File(partial, "w") as f:
            a = f.attrs
            a["format"] = FORMAT
            a["format_version"] = np.int64(FORMAT_VERSION)
            a["producer"] = f"{PROG} (torch {torch.__version__})"
            a["command_line"] = command_line
            a["config"] = ""
            a["seed"] = np.int64(-1)
            a["source"] = source if source is not None else describe_module(module)
            a["input_size"] = np.int64(module.input_size)
            a["num_layers"] = np.int64(module.num_layers)
            a["bidirectional"] = np.int64(nd == 2)
            a["dropout"] = np.float64(module.dropout)
            a["state_dim"] = np.int64(slices[:, 1].sum())
            a["torch_batch_first"] = np.int64(bool(module.batch_first))
            f.create_dataset("state_slices", data=slices)
            layers = f.create_group("layers")
            for k in range(module.num_layers):
                g = layers.create_group(str(k))
                g.attrs["cell"] = cell
                g.attrs["hidden_size"] = np.int64(n)
                g.attrs["input_size"] = np.int64(module.input_size if k == 0 else nd * n)
                g.attrs["bias"] = np.int64(bool(module.bias))
                g.attrs["skip"] = np.int64(0)
                g.attrs["residual"] = np.int64(0)
                for suffix in ([""] + (["_reverse"] if nd == 2 else [])):
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                        tname = f"{name}_l{k}{suffix}"
                        if tname in arrays:
                            g.create_dataset(name + suffix, data=arrays[tname], dtype=np.float64)
            if readout is not None:
                r = f.create_group("readout")
                r.create_dataset("weight", data=readout.weight.detach().cpu().to(torch.float64).numpy())
                if readout.bias is not None:
                    r.create_dataset("bias", data=readout.bias.detach().cpu().to(torch.float64).numpy())
        os.replace(partial, path)
    except BaseException:
        if os.path.exists(partial):
            os.remove(partial)
        raise


def _submodules_hint(obj):
    if not isinstance(obj, torch.nn.Module):
        return ""
    found = [(name, m) for name, m in obj.named_modules() if name and _torch_base(m) is not None]
    if not found:
        return ""
    name, m = found[0]
    return f"; its submodule '{name}' is a {_class_name(m)}: save that one with torch.save(model.{name})"


def load_module(path):
    """Loads a module saved with torch.save(module); raises ExportError for anything else."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"input file '{path}' does not exist; expected a torch.nn.RNN, GRU or LSTM saved with torch.save(module)")
    if not os.path.isfile(path):
        raise ExportError(f"input '{path}' is not a regular file; expected a file written by torch.save(module)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch.load raises many types for foreign files
        raise ExportError(f"{path}: cannot be read by torch.load ({type(e).__name__}: {_one_line(e)[:200]}); "
                          "expected a torch.nn.RNN, GRU or LSTM saved with torch.save(module)") from None
    if isinstance(obj, torch.nn.Module):
        return obj
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ExportError(f"{path}: holds a state_dict ({len(obj)} tensors), not a module; a whole module is needed, "
                          "saved with torch.save(module)")
    if isinstance(obj, dict):
        mods = [k for k, v in obj.items() if isinstance(v, torch.nn.Module)]
        hint = f" (its entry {mods[0]!r} is a module: save that one with torch.save(module))" if mods else ""
        raise ExportError(f"{path}: holds a {type(obj).__name__}, not a module{hint}; a whole module is needed, "
                          "saved with torch.save(module)")
    raise ExportError(f"{path}: holds a {_class_name(obj)}, not a module; expected a torch.nn.RNN, GRU or LSTM "
                      "saved with torch.save(module)")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse's default prints the usage first)
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (usage: {self.prog} IN.pt OUT.h5 [--readout LINEAR.pt])\n")


def main(argv=None):
    invoked = sys.argv[0] if argv is None else PROG
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _Parser(prog=PROG, description=(
        "Export a torch.nn.RNN (tanh or relu), GRU or LSTM saved with torch.save(module) to a stackdyn "
        "model file (docs/model-format.md). Any num_layers, bidirectional, bias, batch_first; float32 "
        "weights are converted to float64. LSTM projections (proj_size > 0) are not supported. "
        "torch.load unpickles the file: only export files you trust."))
    parser.add_argument("input", metavar="IN.pt", help="module saved with torch.save(module)")
    parser.add_argument("output", metavar="OUT.h5", help="model file to write (via OUT.h5.partial)")
    parser.add_argument("--readout", metavar="LINEAR.pt", help="a torch.nn.Linear saved with torch.save, added as the readout")
    args = parser.parse_args(argv)
    command_line = shlex.join([invoked] + argv)
    try:
        out_dir = os.path.dirname(os.path.abspath(args.output))
        if not os.path.isdir(out_dir):
            raise ExportError(f"output directory '{out_dir}' does not exist; expected an existing directory for {args.output}")
        module = load_module(args.input)
        check_module(module, args.input)
        readout = None
        if args.readout:
            readout = load_module(args.readout)
            check_readout(readout, module, args.readout)
        export_module(module, args.output, command_line, where=args.input, readout=readout)
    except ExportError as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return e.exit_code
    except OSError as e:
        print(f"{PROG}: error: writing {args.output} failed: {_one_line(e)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
