#!/usr/bin/python3
"""Exports a torch.nn.RNN / GRU / LSTM to a stackdyn model file (docs/model-format.md):
float64, torch's weight shapes, one group per layer. IN.pt may hold

- the module itself, saved with torch.save(module);
- its state_dict (torch.save(module.state_dict())): the architecture is read from the key
  names and shapes (num_layers, bidirectional, bias, input and hidden size; GRU or LSTM
  from the number of gate blocks), or given by flags, which must agree with it; a plain
  RNN's nonlinearity cannot be read from its weights and needs --cell;
- a wrapper module (a model that holds the RNN among other layers), even when its class
  cannot be imported here: the unknown classes are loaded as plain modules and the one
  RNN/GRU/LSTM inside is exported (--submodule NAME when there are several);
- a wrapper's state_dict (keys such as rnn.weight_ih_l0: --prefix when there are several).

--readout LINEAR.pt adds a torch.save'd torch.nn.Linear as the model's readout (group /readout:
weight (O, width of the top stream), bias (O,) when the Linear has one).

    scripts/torch_export.py IN.pt OUT.h5 [--cell rnn_tanh|rnn_relu|gru|lstm] [--num-layers N]
        [--hidden-size N] [--input-size N] [--bidirectional] [--no-bias] [--batch-first]
        [--prefix rnn.] [--submodule rnn]

From Python (no file round trip):

    import torch_export                      # scripts/ on sys.path
    torch_export.export_module(model.rnn, "model.h5", "my_script.py")       # a module
    torch_export.export_state_dict(sd, "model.h5", "my_script.py", cell="rnn_relu")

export_module(module, path, command_line, *, source=None, where="module") writes any
torch.nn.RNN/GRU/LSTM (any dtype) atomically (path.partial, renamed); export_state_dict
builds the module from a state_dict first (module_from_state_dict). Both raise ExportError
(a one-line message) for what cannot be exported, and write nothing then.
"""
import argparse
import io
import os
import pickle
import re
import shlex
import sys
import types
import warnings

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stackdyn_io as sio  # noqa: E402

PROG = "torch_export.py"
FORMAT = "stackdyn-model"
FORMAT_VERSION = 1

# torch class -> (cell name per mode, number of gate blocks G)
_CELLS = {"RNN_TANH": ("rnn_tanh", 1), "RNN_RELU": ("rnn_relu", 1), "GRU": ("gru", 3), "LSTM": ("lstm", 4)}
_SUPPORTED = (torch.nn.RNN, torch.nn.GRU, torch.nn.LSTM)


class ExportError(sio.ScriptError):
    """Bad input (exit code 2); the message is one line naming what, where and what was expected."""


_one_line = sio.one_line


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

    with sio.atomic_output(path) as partial, h5py.File(partial, "w") as f:
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


def _submodules_hint(obj):
    if not isinstance(obj, torch.nn.Module):
        return ""
    found = [(name, m) for name, m in obj.named_modules() if name and _torch_base(m) is not None]
    if not found:
        return ""
    name, m = found[0]
    return f"; its submodule '{name}' is a {_class_name(m)}: save that one with torch.save(model.{name})"


# --- state_dicts --------------------------------------------------------------------------

_KEY = re.compile(r"^(weight|bias)_(ih|hh|hr)_l(\d+)(_reverse)?$")
_BY_GATES = {3: "gru", 4: "lstm"}


def _is_state_dict(obj):
    return isinstance(obj, dict) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _rnn_prefixes(sd):
    """Prefixes p such that p + 'weight_ih_l0' is a key: one per RNN in the state_dict."""
    return sorted(k[:-len("weight_ih_l0")] for k in sd if k.endswith("weight_ih_l0"))


def module_from_state_dict(sd, *, cell=None, num_layers=None, hidden_size=None, input_size=None,
                           bidirectional=None, bias=None, batch_first=False, prefix=None, where="state_dict"):
    """A float64 torch.nn.RNN/GRU/LSTM holding the weights of state_dict `sd`.

    The architecture is read from the keys (weight_ih_l<k>[_reverse], bias_*) and shapes;
    arguments that are not None must agree with it. `cell` (rnn_tanh, rnn_relu, gru, lstm) is
    required for a plain RNN, whose nonlinearity the weights do not show. `prefix` picks one
    RNN of a wrapper's state_dict ('rnn.'), needed only when there are several. Returns
    (module, description)."""
    prefixes = _rnn_prefixes(sd)
    if prefix is None:
        if not prefixes:
            keys = ", ".join(list(sd)[:4])
            raise ExportError(f"{where}: a state_dict without RNN weights (no key ending in weight_ih_l0; keys {keys}"
                              f"{', ...' if len(sd) > 4 else ''}); expected the state_dict of a torch.nn.RNN, GRU or "
                              "LSTM, or of a model holding one")
        if len(prefixes) > 1:
            raise ExportError(f"{where}: the state_dict holds {len(prefixes)} RNNs (prefixes "
                              f"{', '.join(repr(p) for p in prefixes)}); choose one with --prefix")
        prefix = prefixes[0]
    elif prefix not in prefixes:
        raise ExportError(f"{where}: no key {prefix + 'weight_ih_l0'!r}; expected --prefix to be one of "
                          f"{', '.join(repr(p) for p in prefixes) or '(none)'}")
    sub = {}
    for k, v in sd.items():
        if k.startswith(prefix) and _KEY.match(k[len(prefix):]):
            sub[k[len(prefix):]] = v
    if any(k.startswith("weight_hr") for k in sub):
        raise ExportError(f"{where}: an LSTM with projections (key {prefix}weight_hr_l0): LSTM projections are not "
                          "supported (expected proj_size=0)")
    if "weight_hh_l0" not in sub:
        raise ExportError(f"{where}: key {prefix + 'weight_hh_l0'!r} is missing; expected a complete state_dict")
    w_hh = sub["weight_hh_l0"]
    if w_hh.dim() != 2 or w_hh.shape[1] < 1 or w_hh.shape[0] % w_hh.shape[1]:
        raise ExportError(f"{where}: {prefix}weight_hh_l0 has shape {tuple(w_hh.shape)}; expected (G * hidden_size, "
                          "hidden_size) with G = 1 (RNN), 3 (GRU) or 4 (LSTM)")
    found = {
        "hidden_size": int(w_hh.shape[1]),
        "input_size": int(sub["weight_ih_l0"].shape[1]),
        "num_layers": 1 + max(int(_KEY.match(k).group(3)) for k in sub),
        "bidirectional": any(k.endswith("_reverse") for k in sub),
        "bias": "bias_ih_l0" in sub,
    }
    gates = int(w_hh.shape[0]) // found["hidden_size"]
    if gates not in (1, 3, 4):
        raise ExportError(f"{where}: {prefix}weight_hh_l0 has {gates} gate blocks; expected 1 (RNN), 3 (GRU) or "
                          "4 (LSTM)")
    given = {"hidden_size": hidden_size, "input_size": input_size, "num_layers": num_layers,
             "bidirectional": bidirectional, "bias": bias}
    for name, value in given.items():
        if value is not None and value != found[name]:
            raise ExportError(f"{where}: --{name.replace('_', '-')} {value} disagrees with the weights, which have "
                              f"{name} = {found[name]}")
    if gates == 1:
        if cell not in ("rnn_tanh", "rnn_relu"):
            raise ExportError(f"{where}: the weights are a plain torch.nn.RNN (one gate block), whose nonlinearity "
                              "they do not show; give --cell rnn_tanh or --cell rnn_relu"
                              + (f" (not {cell})" if cell else ""))
    elif cell is not None and cell != _BY_GATES[gates]:
        raise ExportError(f"{where}: --cell {cell} disagrees with the weights, which have {gates} gate blocks "
                          f"({_BY_GATES[gates]})")
    kw = dict(input_size=found["input_size"], hidden_size=found["hidden_size"], num_layers=found["num_layers"],
              bias=found["bias"], batch_first=bool(batch_first), bidirectional=found["bidirectional"])
    if gates == 1:
        module = torch.nn.RNN(nonlinearity="tanh" if cell == "rnn_tanh" else "relu", **kw)
    else:
        module = (torch.nn.GRU if gates == 3 else torch.nn.LSTM)(**kw)
    module = module.double()
    try:
        module.load_state_dict(sub, strict=True)
    except RuntimeError as e:
        raise ExportError(f"{where}: the state_dict does not fit {describe_module(module)}: "
                          f"{_one_line(e)[:300]}") from None
    inferred = "cell from --cell" if gates == 1 else f"cell from {gates} gate blocks"
    text = f"{describe_module(module)} from a state_dict" + (f" (keys {prefix}*)" if prefix else "") + \
        f"; {inferred}, sizes, layers, directions and bias from the keys and shapes"
    return module, text


def export_state_dict(sd, path, command_line, *, where="state_dict", **arch):
    """export_module on module_from_state_dict(sd, **arch) (see there for `arch`)."""
    module, text = module_from_state_dict(sd, where=where, **arch)
    export_module(module, path, command_line, source=text, where=where)


# --- modules whose classes cannot be imported ------------------------------------------------

class _Unimportable(torch.nn.Module):
    """Stands in for a module class that cannot be imported: its state (submodules,
    parameters, buffers) is restored as saved, so its RNN submodules are usable."""

    def forward(self, *args, **kwargs):  # pragma: no cover - never run
        raise RuntimeError(f"{self._stackdyn_missing} could not be imported; only its submodules are usable")


def _lenient_pickle():
    """A pickle module for torch.load whose Unpickler replaces classes it cannot import by
    _Unimportable subclasses (names recorded in `missing`)."""
    missing = []

    class Unpickler(pickle.Unpickler):
        def find_class(self, mod_name, name):
            try:
                return super().find_class(mod_name, name)
            except (ImportError, AttributeError):
                missing.append(f"{mod_name}.{name}")
                return type(name, (_Unimportable,), {"__module__": mod_name, "_stackdyn_missing": f"{mod_name}.{name}"})

    mod = types.ModuleType("stackdyn_lenient_pickle")
    mod.__dict__.update({k: v for k, v in pickle.__dict__.items() if not k.startswith("__")})
    mod.Unpickler = Unpickler
    mod.load = lambda f, **kw: Unpickler(f, **kw).load()
    mod.loads = lambda b, **kw: Unpickler(io.BytesIO(b), **kw).load()
    return mod, missing


def pick_rnn(obj, submodule=None, where="module"):
    """The torch.nn.RNN/GRU/LSTM to export from `obj`: obj itself, or its only RNN submodule
    (or the one named `submodule`). Returns (module, note) with note '' for obj itself."""
    if submodule is None and _torch_base(obj) is not None:
        return obj, ""
    found = [(name, m) for name, m in obj.named_modules() if name and _torch_base(m) is not None]
    if submodule is not None:
        named = dict(obj.named_modules())
        if submodule not in named or _torch_base(named[submodule]) is None:
            raise ExportError(f"{where}: no RNN submodule {submodule!r}; expected one of "
                              f"{', '.join(repr(n) for n, _ in found) or '(none)'}")
        chosen = (submodule, named[submodule])
    elif len(found) == 1:
        chosen = found[0]
    elif not found:
        check_module(obj, where)  # raises with the class name
        raise AssertionError("unreachable")
    else:
        raise ExportError(f"{where}: {_class_name(obj)} holds {len(found)} RNNs "
                          f"({', '.join(repr(n) for n, _ in found)}); choose one with --submodule")
    name, m = chosen
    others = [n for n, _ in obj.named_children() if n != name.split(".")[0]]
    note = f"submodule {name!r} of {_class_name(obj)}" + \
        (f" (its other modules {', '.join(others)} are not part of the model)" if others else "")
    return m, note


def load_object(path):
    """torch.load(path) with unknown classes replaced by plain modules: (object, missing classes)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ExportError(f"input file '{path}' does not exist; expected a torch.nn.RNN, GRU or LSTM (or a model "
                          "holding one, or a state_dict) saved with torch.save")
    if not os.path.isfile(path):
        raise ExportError(f"input '{path}' is not a regular file; expected a file written by torch.save")
    lenient, missing = _lenient_pickle()
    # Some torch versions replace pickle_module by their module-level `pickle` when
    # weights_only is off (torch 1.13's Debian build does): that one is swapped for the call.
    serialization, saved = torch.serialization, torch.serialization.pickle
    try:
        serialization.pickle = lenient
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(path, map_location="cpu", pickle_module=lenient)
    except Exception as e:  # torch.load raises many types for foreign files
        raise ExportError(f"{path}: cannot be read by torch.load ({type(e).__name__}: {_one_line(e)[:200]}); "
                          "expected a torch.nn.RNN, GRU or LSTM, a model holding one, or a state_dict, saved with "
                          "torch.save") from None
    finally:
        serialization.pickle = saved
    return obj, missing


def export_file(path, output, command_line, args=None):
    """Exports whatever IN.pt holds (see the module docstring); `args` holds the flags."""
    a = args or argparse.Namespace()
    arch = {k: getattr(a, k, None) for k in ("cell", "num_layers", "hidden_size", "input_size", "prefix")}
    arch["bidirectional"] = True if getattr(a, "bidirectional", False) else None
    arch["bias"] = False if getattr(a, "no_bias", False) else None
    arch["batch_first"] = bool(getattr(a, "batch_first", False))
    obj, missing = load_object(path)

    def readout_for(module):
        # --readout LINEAR.pt: a torch.nn.Linear reading the module's top stream
        if not getattr(a, "readout", None):
            return None
        linear, _ = load_object(a.readout)
        check_readout(linear, module, a.readout)
        return linear

    if _is_state_dict(obj):
        module, text = module_from_state_dict(obj, where=path, **arch)
        export_module(module, output, command_line, source=text, where=path, readout=readout_for(module))
        return text
    flags = [k for k in ("cell", "num_layers", "hidden_size", "input_size", "prefix") if arch[k] is not None]
    if flags:
        raise ExportError(f"{path}: holds a module, whose architecture is its own; --{flags[0].replace('_', '-')} "
                          "is for state_dicts")
    if isinstance(obj, dict):
        mods = [k for k, v in obj.items() if isinstance(v, torch.nn.Module)]
        hint = f" (its entry {mods[0]!r} is a module: save that one with torch.save(module))" if mods else ""
        raise ExportError(f"{path}: holds a {type(obj).__name__}, not a module or a state_dict{hint}; expected a "
                          "torch.nn.RNN, GRU or LSTM, a model holding one, or a state_dict, saved with torch.save")
    if not isinstance(obj, torch.nn.Module):
        raise ExportError(f"{path}: holds a {_class_name(obj)}, not a module; expected a torch.nn.RNN, GRU or LSTM "
                          "saved with torch.save(module)")
    module, note = pick_rnn(obj, getattr(a, "submodule", None), where=path)
    check_module(module, path)
    source = describe_module(module)
    if note:
        source += f"; {note}"
    if missing:
        source += f"; classes not importable here, loaded as plain modules: {', '.join(sorted(set(missing)))}"
    export_module(module, output, command_line, source=source, where=path, readout=readout_for(module))
    return source


def main(argv=None):
    invoked = sys.argv[0] if argv is None else PROG
    argv = sys.argv[1:] if argv is None else list(argv)
    return sio.run_main(PROG, lambda a: _body(a, invoked), argv)


def _body(argv, invoked):
    parser = sio.Parser(prog=PROG, description=(
        "Export a torch.nn.RNN (tanh or relu), GRU or LSTM to a stackdyn model file "
        "(docs/model-format.md): a module saved with torch.save(module), a model holding one (its class "
        "need not be importable), or a state_dict (architecture from the keys and shapes, or the flags). "
        "Any num_layers, bidirectional, bias, batch_first; float32 weights are converted to float64. LSTM "
        "projections (proj_size > 0) are not supported. torch.load unpickles the file: only export files "
        "you trust."))
    parser.add_argument("input", metavar="IN.pt", help="module, model or state_dict saved with torch.save")
    parser.add_argument("output", metavar="OUT.h5", help="model file to write (via OUT.h5.partial)")
    sd = parser.add_argument_group("state_dict architecture (each read from the weights when not given; "
                                   "a given one must agree)")
    sd.add_argument("--cell", choices=("rnn_tanh", "rnn_relu", "gru", "lstm"),
                    help="cell type; required for a plain RNN (tanh or relu), whose weights do not show it")
    sd.add_argument("--num-layers", type=int)
    sd.add_argument("--hidden-size", type=int)
    sd.add_argument("--input-size", type=int)
    sd.add_argument("--bidirectional", action="store_true")
    sd.add_argument("--no-bias", action="store_true", help="the RNN has no bias vectors")
    sd.add_argument("--batch-first", action="store_true", help="recorded as torch_batch_first (not in the weights)")
    sd.add_argument("--prefix", help="which RNN of a wrapper's state_dict, by its key prefix, e.g. 'rnn.'")
    parser.add_argument("--submodule", help="which RNN of a saved model, by its name, e.g. 'encoder.rnn'")
    parser.add_argument("--readout", metavar="LINEAR.pt", help="a torch.nn.Linear saved with torch.save, added as the readout")
    args = parser.parse_args(argv)
    command_line = shlex.join([invoked] + argv)
    sio.refuse_output_among_inputs(args.output, [args.input, args.readout])
    try:
        source = export_file(args.input, args.output, command_line, args)
    except OSError as e:
        raise sio.ScriptError(f"writing {args.output} failed: {_one_line(e)}", exit_code=1) from None
    if "submodule" in source or "from a state_dict" in source:
        print(f"{PROG}: exported {source}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
