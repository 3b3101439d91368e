"""What the scripts in scripts/ share: naming a model as the commands do, refusing an output
that is one of the inputs, atomic writes and one-line errors (docs/scripts.md).

    import _stackdyn_io as io            # scripts/ on sys.path
    with io.open_model("RUN.h5:/checkpoints/100") as (group, where): ...
    io.refuse_output_among_inputs("OUT.h5", ["RUN.h5:/final_model"])
    with io.atomic_output("OUT.h5") as partial: write(partial)
    sys.exit(io.run_main("my_script.py", main_body, argv))

A model is named as every stackdyn command names it (lib/src/model/model_io.cpp
read_model_spec): a model file, a run file (its /final_model, else /model), or
FILE.h5:/group (a checkpoint `RUN.h5:/checkpoints/<step>`, a run's `/final_model`).
"""
import argparse
import contextlib
import os
import sys

MODEL_FORMAT = "stackdyn-model"
RUN_FORMAT = "stackdyn-run"


class ScriptError(Exception):
    """Bad input (exit code 2) or a failure during the run (exit_code=1); the message is one
    line naming what, where and what was expected."""

    def __init__(self, message, exit_code=2):
        super().__init__(message)
        self.exit_code = exit_code


def one_line(text):
    return " ".join(str(text).split())


def text_attr(obj, name, default=""):
    v = obj.attrs.get(name, default)
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def split_spec(spec):
    """FILE.h5:/group -> (FILE.h5, /group); a plain path -> (path, ''). Splits at the last ':'
    followed by '/', as the commands do."""
    spec = os.fspath(spec)
    colon = spec.rfind(":/")
    if colon <= 0:
        return spec, ""
    return spec[:colon], spec[colon + 1:]


def open_h5(path, what="an HDF5 file"):
    """h5py.File(path, 'r'), with a missing, unreadable, truncated or non-HDF5 file as a ScriptError."""
    import h5py
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ScriptError(f"'{path}' does not exist; expected {what}")
    if os.path.isdir(path):
        raise ScriptError(f"'{path}' is a directory; expected {what}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ScriptError(f"{path}: cannot be read as HDF5 ({one_line(e)}); expected {what} "
                          "(a truncated or unfinished copy?)") from None


def unfinished_run_hint(f, path):
    """The message for a run file without a model at its root or in /final_model (the
    commands' message, lib/src/model/model_io.cpp read_model_spec)."""
    last = int(f.attrs.get("last_checkpoint", -1))
    run = path[:-len(".partial")] if path.endswith(".partial") else path
    return (f"{path} is an unfinished training run (format '{RUN_FORMAT}', no /final_model): read one of its "
            f"checkpoints as {path}:/checkpoints/{last if last >= 0 else '<step>'} or finish it with "
            f"`stackdyn train CONFIG --resume {run}`")


def model_group(f, spec):
    """The h5py group of `f` (the file of `spec`) holding the model `spec` names, as
    read_model_spec finds it; ScriptError when there is none."""
    path, group = split_spec(spec)
    if group:
        if group not in f:
            raise ScriptError(f"{spec}: {path} has no group '{group}'; expected a group holding a stackdyn model")
        g = f[group]
        where = f"{path} ({group})"
    elif text_attr(f, "format") == MODEL_FORMAT:
        g, where = f, path
    else:
        g = next((f[n] for n in ("final_model", "model") if n in f), None)
        if g is None:
            if text_attr(f, "format") == RUN_FORMAT:
                raise ScriptError(unfinished_run_hint(f, path))
            fmt = text_attr(f, "format", None) if "format" in f.attrs else None
            got = f"format is '{fmt}'" if fmt is not None else "no 'format' attribute"
            raise ScriptError(f"{path}: not a stackdyn model ({got}); expected a model file, a run file or "
                              "FILE.h5:/group")
        where = f"{path} ({g.name})"
    fmt = text_attr(g, "format", None) if "format" in g.attrs else None
    if fmt != MODEL_FORMAT:
        got = f"format is '{fmt}'" if fmt is not None else "no 'format' attribute"
        if fmt == RUN_FORMAT and "final_model" not in g:
            raise ScriptError(unfinished_run_hint(g.file, path))
        raise ScriptError(f"{where}: not a stackdyn model ({got}); expected '{MODEL_FORMAT}'")
    return g, where


@contextlib.contextmanager
def open_model(spec):
    """Yields (h5py group, where) of the model `spec` names (model file, run file, FILE.h5:/group)."""
    path, _ = split_spec(spec)
    with open_h5(path, "a stackdyn model file, a run file or FILE.h5:/group") as f:
        yield model_group(f, spec)


def _same(a, b):
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
    except OSError:
        pass
    return os.path.realpath(a) == os.path.realpath(b)


def refuse_output_among_inputs(output, inputs, option="output"):
    """ScriptError when `output` (or the `output`.partial written first) is one of `inputs`
    (paths or FILE.h5:/group specs), by any spelling or link; checked before anything is read."""
    output = os.fspath(output)
    for spec in inputs:
        if spec is None:
            continue
        path, _ = split_spec(spec)
        for out in (output, output + ".partial"):
            if _same(out, path):
                what = f"{option} '{output}'" + ("" if out == output else f": its temporary file '{out}'")
                raise ScriptError(f"{what} is the input '{path}' (the same file); expected a different file to "
                                  "write, the input is left as it is")
    out_dir = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(out_dir):
        raise ScriptError(f"{option} '{output}': directory '{out_dir}' does not exist; expected an existing directory")
    if os.path.isdir(output):
        raise ScriptError(f"{option} '{output}' is a directory; expected a file name")


@contextlib.contextmanager
def atomic_output(path):
    """Yields the temporary name (`path`.partial, same directory) to write; renames it to
    `path` (os.replace) when the block ends normally, removes it otherwise."""
    partial = os.fspath(path) + ".partial"
    try:
        yield partial
        os.replace(partial, path)
    finally:
        if os.path.lexists(partial):
            os.remove(partial)


class Parser(argparse.ArgumentParser):
    """argparse with its usage errors as one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (usage: {one_line(self.format_usage())[7:]})\n")


def run_main(prog, body, argv=None):
    """body(argv) -> exit code, with a ScriptError as the one-line `prog: error: ...` and its
    exit code (2: bad input, 1: failure during the run), without a traceback."""
    try:
        return body(argv)
    except ScriptError as e:
        print(f"{prog}: error: {one_line(e)}", file=sys.stderr)
        return e.exit_code
