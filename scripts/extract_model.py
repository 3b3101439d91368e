#!/usr/bin/python3
"""Copies a model (a run file's /final_model or /checkpoints/<step>, or any model the commands
read) into a model file of its own, which every command reads.

    scripts/extract_model.py MODEL OUT.h5 [--group final_model|checkpoints/<step>]

MODEL is a model file, a run file (its /final_model) or FILE.h5:/group
(RUN.h5:/checkpoints/<step>); --group GROUP is the same as RUN.h5:/GROUP. OUT.h5 must not be
the input (by any spelling or link); it is written as OUT.h5.partial and renamed when complete.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stackdyn_io as sio  # noqa: E402

PROG = "extract_model.py"
MODEL_PARTS = ("layers", "readout", "state_slices")


def body(argv):
    parser = sio.Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("model", metavar="MODEL", help="model file, run file or FILE.h5:/group")
    parser.add_argument("output", metavar="OUT.h5")
    parser.add_argument("--group", help="a group of the run file: final_model or checkpoints/<step>")
    args = parser.parse_args(argv)
    spec = args.model
    if args.group:
        path, group = sio.split_spec(spec)
        if group:
            raise sio.ScriptError(f"--group {args.group} and {spec} both name a group; expected one of them")
        spec = f"{path}:/{args.group.lstrip('/')}"
    sio.refuse_output_among_inputs(args.output, [spec])
    import h5py
    with sio.open_model(spec) as (g, _):
        with sio.atomic_output(args.output) as partial:
            with h5py.File(partial, "w") as dst:
                for k, v in g.attrs.items():
                    dst.attrs[k] = v
                for name in MODEL_PARTS:
                    if name in g:
                        g.file.copy(g[name], dst, name=name)
    return 0


def main(argv=None):
    return sio.run_main(PROG, body, argv)


if __name__ == "__main__":
    sys.exit(main())
