#!/usr/bin/env bash
# Recipe probes on a GPU machine, all at once, one thread each (benchmarks/probe_recipe.py): steps, not
# seconds, are what they compare. Each line of the list file is "tag|note|--set entries"; a line starting
# with "#" is skipped. The datasets the probes name are generated first, once each (a two-step probe per
# dataset seed). Probes still running at DEADLINE seconds are stopped; their curves so far stay in their logs.
# Size the list and DEADLINE to the machine's cores, not its GPU: each probe's loader and Python run on its one
# CPU thread, so the small cpu-demo network's steps are slow there. 18 probes on 16 cores reached only their
# first evaluation (850 steps) in 470 s (results/recipe/gpu_width_850steps/), and six probes of 1,700 to 2,850
# steps did not reach their end in 180 s.
# Usage, from the repository root:  OUT=<folder> bash benchmarks/gpu_probes.sh benchmarks/probes/<list>.txt
# Everything lands in $OUT/probes.tar.gz (the records of results/recipe/probes/ and every log) and $OUT/summary.txt.
set -u -o pipefail
OUT=${OUT:?set OUT to the folder for the results}
LIST=${1:?name the list of probes}
DEADLINE=${DEADLINE:-500}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD VIREID_CACHE=${VIREID_CACHE:-/tmp/vireid-cache} VIREID_RUNS=${VIREID_RUNS:-/tmp/vireid-runs}
PY=${PY:-python3}
mkdir -p "$VIREID_RUNS/logs"; start=$(date +%s); stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
{ nvidia-smi -L; $PY -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"; nproc; } 2>&1

tags=(); notes=(); sets=()
while IFS='|' read -r tag note set; do
  [[ -z "$tag" || "$tag" == \#* ]] && continue
  tags+=("$tag"); notes+=("$note"); sets+=("$set")
done <"$LIST"

stamp "data: one two-step probe per dataset seed"
for seed in $(printf '%s\n' "${sets[@]}" | grep -o 'data.synthetic_seed=[0-9]*' | sort -u; echo data.synthetic_seed=0); do
  $PY benchmarks/probe_recipe.py --tag "prime_${seed##*=}" --threads 4 --trials 1 \
      --set "$seed" train.epochs=1 train.max_steps_per_epoch=2 train.eval_every=1 >"$VIREID_RUNS/logs/prime_${seed##*=}.log" 2>&1 &
done
wait; rm -f results/recipe/probes/prime_*.json

stamp "${#tags[@]} probes"
pids=()
for i in "${!tags[@]}"; do
  # shellcheck disable=SC2086
  left=$(( DEADLINE - ($(date +%s) - start) )); (( left < 1 )) && { stamp "no time left for ${tags[$i]}"; continue; }
  timeout "$left" $PY benchmarks/probe_recipe.py --tag "${tags[$i]}" --threads 1 \
      --trials 10 --note "${notes[$i]}" --set ${sets[$i]} >"$VIREID_RUNS/logs/${tags[$i]}.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
stamp "probes done"
grep -h "{" "$VIREID_RUNS"/logs/*.log | grep -v "^prime" | tee "$OUT/summary.txt"
tar czf "$OUT/probes.tar.gz" $(ls results/recipe/probes/*.json | grep -F -f <(printf 'probes/%s.json\n' "${tags[@]}")) \
    -C "$VIREID_RUNS" logs
stamp "end"
