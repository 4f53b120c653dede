#!/usr/bin/env bash
# The committed ablation grids on the `ablation` preset (synthetic RegDB layout, resnet10 at width 32, AdamW,
# 500 steps): seeds 0-29 for table3, 0-24 for parts, 0-19 for table4 and 0-18 for options. The grids grew
# over several sessions (seeds 5-9, then 10-14 or 10-19, then 15-29 for table3, 20-24 for parts and 5-18 for options),
# every run from the grids' own commit, 423adf9. Two runs at a time with one thread each, grid after grid
# (Table 3 first: the central claim; Table 4 re-evaluates the full model, `parts` P=3 and `options` default
# are the full model too: they share its trainings through $VIREID_RUNS), on synthetic generator version 3.
# Resumable: run it again and finished runs are skipped; a finished result of another configuration is refused.
# Training folders: $VIREID_RUNS/ablations (VIREID_RUNS defaults to ./runs, here the checkout's).
# Then the README is written from the summaries.
set -u
cd "$(dirname "$0")/../.."
vireid ablate --grid table3 --seeds $(seq 0 29) --jobs 2 --quiet --out results/ablations
vireid ablate --grid table4 --seeds $(seq 0 19) --jobs 2 --quiet --out results/ablations
vireid ablate --grid parts --seeds $(seq 0 24) --jobs 2 --quiet --out results/ablations
vireid ablate --grid options --seeds $(seq 0 18) --jobs 2 --quiet --out results/ablations
python -c "from vireid_lib.ablation import write_grids_readme; write_grids_readme()"
