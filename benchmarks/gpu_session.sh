#!/usr/bin/env bash
# One device session's GPU checks, in the order that protects the timings:
#   1. the synthetic SYSU-MM01 layout (200 identities, seed 0) generated and cached at 96x48, while the tests
#      that use CUDA run (the `gpu` marker and the training, checkpoint and extraction tests, device "auto");
#   2. benchmarks/bench_gpu.py alone on the GPU (every eager variant, then the training loader);
#   3. recipe probes (benchmarks/probe_recipe.py), all at once, each a learning curve of the cpu-demo recipe
#      with one change (PROBES below): steps, not seconds, are what they compare;
#   4. the torch.compile variant of bench_gpu, last, under its own timeout (compilation time is unknown).
# Usage, on the GPU machine from the repository root:  OUT=<folder> bash benchmarks/gpu_session.sh
# Everything it writes lands in $OUT (logs, bench_gpu*.json, probes.tar.gz with the probe records).
set -u -o pipefail
OUT=${OUT:?set OUT to the folder for the results}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD VIREID_CACHE=${VIREID_CACHE:-/tmp/vireid-cache} VIREID_RUNS=${VIREID_RUNS:-/tmp/vireid-runs}
PY=${PY:-python3}
mkdir -p "$VIREID_RUNS"; start=$(date +%s); stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }

{ nvidia-smi -L; $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"; nproc; } >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

stamp "1. data (background) and CUDA tests"
# a two-step probe generates the data and fills the 96x48 image caches the probes share
$PY benchmarks/probe_recipe.py --tag prime --threads 4 --trials 1 \
    --set train.epochs=1 train.max_steps_per_epoch=2 train.eval_every=1 >"$OUT/prime.log" 2>&1 &
prime=$!
timeout 180 $PY -m pytest -o addopts="" -p no:cacheprovider -q -n 4 -rs tests/test_gpu.py tests/test_bench_gpu.py \
    tests/test_training.py tests/test_training_fit.py tests/test_checkpoints.py tests/test_eval_extract.py \
    >"$OUT/pytest_gpu.log" 2>&1
stamp "pytest exit $?: $(tail -1 "$OUT/pytest_gpu.log")"
wait $prime; stamp "prime exit $?"; rm -f results/recipe/probes/prime.json

stamp "2. bench_gpu, eager variants and the loader"
timeout 200 $PY -m benchmarks.bench_gpu --steps 30 --variants fp32 bf16 bf16+cl fp16+scaler+cl --workers 4 8 \
    --out "$OUT/bench_gpu.json" 2>&1 | tee "$OUT/bench_gpu.log"

stamp "3. probes"
# The probes change the cpu-demo recipe of the time they ran (800 steps of 48-image batches, random erasing 0.5,
# one loader worker); BASE pins it, so that a rerun measures the same thing on today's preset. The probe table
# names each record's machine itself (probe_recipe.table).
BASE="model.pretrained=null train.epochs=16 train.per_modality=4 data.random_erasing=0.5 data.num_workers=1 train.channels_last=false"
PROBES=(
  "G_ref|the 800-step cpu-demo recipe of the time|"
  "G_ref_seed1|the 800-step cpu-demo recipe of the time, training seed 1|train.seed=1"
  "G_ref_1600|the cosine stretched over 1,600 steps|train.epochs=32"
  "G_lr6e3|lr 6e-3 instead of 3e-3|train.lr=6e-3"
  "G_lr1e2|lr 1e-2 instead of 3e-3|train.lr=1e-2"
  "G_erase0|no random erasing (0.5 in every pipeline)|data.random_erasing=0"
  "G_erase0_lr6e3|no random erasing, lr 6e-3|data.random_erasing=0 train.lr=6e-3"
  "G_p8k2|8 identities x 2 images per modality (the same 48-image batch)|train.ids_per_batch=8 train.per_modality=2"
  "G_p4k2|4 identities x 2 images per modality (24-image batches), 800 steps|train.per_modality=2"
  "G_p4k2_1600|24-image batches over 1,600 steps (the reference's images)|train.per_modality=2 train.epochs=32"
  "G_w48|resnet10 at width 48 instead of 32|model.width=48"
  "G_r18|resnet18 at width 32 instead of resnet10|model.arch=resnet18"
  "G_attid|MCA and PCA start as the identity|model.attention_init=identity"
  "G_wd001|weight decay 0.01 instead of 0.05|train.weight_decay=0.01"
)
pids=()
for p in "${PROBES[@]}"; do
  IFS='|' read -r tag note sets <<<"$p"
  # shellcheck disable=SC2086
  $PY benchmarks/probe_recipe.py --tag "$tag" --threads 1 --note "$note" \
      --set train.eval_every=8 $BASE $sets >"$VIREID_RUNS/$tag.log" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
stamp "probes done"; grep -h "{" "$VIREID_RUNS"/G_*.log | tail -40
tar czf "$OUT/probes.tar.gz" results/recipe/probes/G_*.json -C "$VIREID_RUNS" $(cd "$VIREID_RUNS" && ls G_*.log)

stamp "4. bench_gpu, torch.compile"
timeout 150 $PY -m benchmarks.bench_gpu --steps 30 --variants bf16+cl+compile --workers 4 \
    --loader-batches 5 --out "$OUT/bench_gpu_compile.json" 2>&1 | tee "$OUT/bench_gpu_compile.log"
stamp "end"
