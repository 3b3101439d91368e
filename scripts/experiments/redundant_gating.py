#!/usr/bin/env python3
"""Redundant gating in stacked LSTMs and its two remedies: the output gate of the layer below
and the input gate above gate the same signal twice. Remedies: the output gates of every layer
below the top fixed at exactly 1 (fix_gate = "output"), or a penalty on the product o^(l-1) i^(l)
(gate_penalty = 0.05). Effect on the loss and on the gradient reaching each layer.

A 3-layer LSTM (16 units) on the multiscale task, 300 Adam steps, 5 seeds.

    python3 scripts/experiments/redundant_gating.py [--out DIR] [--seeds 5] [--quick]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _training  # noqa: E402

if __name__ == "__main__":
    _training.main(__doc__, "redundant_gating",
                   [("plain", []), ("fix_output_gate", ['train.fix_gate="output"']),
                    ("gate_penalty", ["train.gate_penalty=0.05"])],
                   title="Redundant gating remedies (3-layer LSTM, multiscale task, 5 seeds)")
