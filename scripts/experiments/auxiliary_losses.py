#!/usr/bin/env python3
"""Auxiliary losses at intermediate layers: do they bring larger gradients to the lower layers,
and a lower final loss?

A 3-layer LSTM (16 units) on the multiscale task, 300 Adam steps, 5 seeds: plain, against
auxiliary readouts of layers 0 and 1 (aux_lambda 1, the same task loss on each). Reported: the
final training and validation loss of the top readout, and the mean norm of each layer's
recurrent-weight gradient over the second half of training (history/grad_norm_layers).

    python3 scripts/experiments/auxiliary_losses.py [--out DIR] [--seeds 5] [--quick]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _training  # noqa: E402

if __name__ == "__main__":
    _training.main(__doc__, "auxiliary_losses",
                   [("plain", []), ("aux_0_1", ["train.aux_layers=[0, 1]"])],
                   title="Auxiliary readouts of layers 0 and 1 (3-layer LSTM, multiscale task, 5 seeds)")
