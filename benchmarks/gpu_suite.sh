#!/usr/bin/env bash
# The whole test suite and the demo on a CUDA machine (issue 10's readiness for the GPU run): every test file
# but the real-browser one (it needs Chromium) and, where ipywidgets or nbformat cannot be imported, those that
# need them (the notebook checks and the widget browser), with CUDA visible, so every test whose device is "auto" trains, extracts and explains on the GPU; then
# `vireid demo` end to end on the GPU (device "auto"), timed, from an empty cache.
# Usage, on the GPU machine from the repository root:  OUT=<folder> bash benchmarks/gpu_suite.sh
# (DEMO=0: the tests alone.)
# Packages the GPU image lacks (grad-cam and ttach; ipywidgets, nbformat and what they need) come as wheels in
# .whl/ (docs/REPRODUCE.md section 4).
set -u -o pipefail
OUT=${OUT:?set OUT to the folder for the results}
export PYTHONUNBUFFERED=1 VIREID_CACHE=/tmp/vireid-cache VIREID_RUNS=/tmp/vireid-runs
PY=${PY:-python3}
start=$(date +%s); stamp() { echo "[$(( $(date +%s) - start )) s] $*"; }
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=$PWD:/tmp/site   # the library from this checkout, with or without the editable install below
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . >"$OUT/install.log" 2>&1 || cat "$OUT/install.log"
{ nvidia-smi -L; $PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__, torch.cuda.get_device_name(0))"; nproc; } >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

stamp "1. the test suite, CUDA visible"
skip=(--ignore=tests/test_browser.py)
if ! $PY -c "import ipywidgets, nbformat" 2>/dev/null; then
  stamp "no ipywidgets or nbformat here: the notebook and widget tests are left out"
  skip+=(--ignore=tests/test_notebook_helpers.py --ignore=tests/test_notebook_numbers.py
         --ignore=tests/test_notebooks_clean.py --ignore=tests/test_retrieval.py)
fi
timeout 250 $PY -m pytest -o addopts="" -p no:cacheprovider -q -n 14 -rfEs --timeout 200 tests "${skip[@]}" \
    >"$OUT/pytest_cuda.log" 2>&1
stamp "pytest exit $?: $(tail -1 "$OUT/pytest_cuda.log")"

[ "${DEMO:-1}" = 0 ] && { stamp "end (no demo)"; exit 0; }
stamp "2. vireid demo on the GPU, empty cache"
rm -rf "$VIREID_CACHE" "$VIREID_RUNS"
t0=$(date +%s.%N)
timeout 200 $PY -m vireid_lib.cli demo --quiet >"$OUT/demo_gpu.log" 2>&1
rc=$?; echo "wall seconds: $($PY -c "import sys, time; print(round(time.time() - float(sys.argv[1]), 1))" "$t0")" >>"$OUT/demo_gpu.log"
stamp "demo exit $rc"
cp "$VIREID_RUNS"/demo/*.json "$OUT/" 2>/dev/null; ls "$VIREID_RUNS/demo"
tail -40 "$OUT/demo_gpu.log"
stamp "end"
