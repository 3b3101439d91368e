#!/usr/bin/env bash
# Runs every experiment of docs/experiments.md (each under 10 minutes on 2 cores; they resume
# when rerun). Results go to results/experiments/<name>/ (figure, table.md, runs.csv).
#   scripts/experiments/run_all.sh [--quick]   --quick: the smoke versions CI runs
set -euo pipefail
cd "$(dirname "$0")/../.."
for e in timescale_hierarchy vanishing_gradients auxiliary_losses redundant_gating predictive_coding dropout_rates saddle_graph depth_and_transition; do
  echo "== $e"
  start=$SECONDS
  /usr/bin/python3 "scripts/experiments/$e.py" "$@"
  echo "== $e: $((SECONDS - start)) s"
done
