#!/usr/bin/env python3
"""Predictive-coding learning against backpropagation through time.

A 3-layer GRU (16 units) on the multiscale task, 300 Adam steps, 5 seeds: BPTT; predictive
coding `local` (each layer learns only from the error of a linear prediction of its own next
state, the readout from the task); and `combined` (BPTT plus the local term, pc_lambda 1).

    python3 scripts/experiments/predictive_coding.py [--out DIR] [--seeds 5] [--quick]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _training  # noqa: E402

if __name__ == "__main__":
    _training.main(__doc__, "predictive_coding",
                   [("bptt", []), ("pc_local", ['train.predictive_coding="local"']),
                    ("pc_combined", ['train.predictive_coding="combined"'])],
                   cell="gru", title="Predictive coding against BPTT (3-layer GRU, multiscale task, 5 seeds)")
