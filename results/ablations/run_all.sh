#!/usr/bin/env bash
# The committed ablation grids on the `ablation` preset (synthetic RegDB layout, resnet10 at width 32, AdamW,
# 500 steps), seeds 0-4, two runs at a time with one thread each. Seeds come in rounds (0-1, 2-3, 4), every
# grid within a round, so a grid stopped early has every cell with fewer seeds rather than some cells with
# none. Table 4 only re-evaluates Table 3's full models. Resumable: run it again and finished runs are
# skipped. Training folders: runs/ablations.
set -u
cd "$(dirname "$0")/../.."
for seeds in "0 1" "2 3" "4"; do
  for grid in table3 table4 parts options; do
    # shellcheck disable=SC2086
    vireid ablate --grid "$grid" --seeds $seeds --jobs 2 --quiet
  done
done
for grid in table3 table4 parts options; do
  vireid ablate --grid "$grid" --seeds 0 1 2 3 4 --summary-only --quiet
done
