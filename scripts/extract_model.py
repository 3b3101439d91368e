#!/usr/bin/python3
"""Copies a model stored in a group of a run file (`stackdyn train`'s /final_model or
/checkpoints/<step>) into a model file of its own, which every command reads.

    scripts/extract_model.py RUN.h5 OUT.h5 [--group final_model]
"""
import argparse
import sys

import h5py

MODEL_PARTS = ("layers", "readout", "state_slices")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="extract_model.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("run")
    parser.add_argument("output")
    parser.add_argument("--group", default="final_model", help="final_model (default) or checkpoints/<step>")
    args = parser.parse_args(argv)
    with h5py.File(args.run, "r") as src:
        if args.group not in src:
            print(f"extract_model.py: error: {args.run} has no group '{args.group}'", file=sys.stderr)
            return 2
        g = src[args.group]
        with h5py.File(args.output + ".partial", "w") as dst:
            for k, v in g.attrs.items():
                dst.attrs[k] = v
            for name in MODEL_PARTS:
                if name in g:
                    src.copy(g[name], dst, name=name)
    import os
    os.replace(args.output + ".partial", args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
