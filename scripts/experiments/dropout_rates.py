#!/usr/bin/env python3
"""Layer-wise dropout rates against one rate.

A 3-layer GRU (16 units) on the multiscale task, 300 Adam steps, 5 seeds: no dropout; one
rate 0.2 between every pair of layers; rates growing with depth, 0.1 then 0.3 (the same
mean). Reported: validation loss (no dropout at evaluation) and gradients per layer.

    python3 scripts/experiments/dropout_rates.py [--out DIR] [--seeds 5] [--quick]
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _training  # noqa: E402

if __name__ == "__main__":
    _training.main(__doc__, "dropout_rates",
                   [("none", []), ("one_rate_0.2", ["train.dropout=0.2"]),
                    ("layerwise_0.1_0.3", ["train.dropout=[0.1, 0.3]"])],
                   cell="gru", title="Dropout between layers: one rate against layer-wise rates (3-layer GRU, 5 seeds)")
