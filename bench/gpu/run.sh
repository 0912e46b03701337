#!/usr/bin/env bash
# The GPU check (bench/gpu/check.py) on a machine with one NVIDIA GPU and no network: the packages its
# image lacks travel as wheels in .whl/ (bench/gpu/wheels.sh fetches them where pip works). Under 10
# minutes on one H100; figures go to ${OUT:-bench/.work/gpu}/gpu.md and gpu.json.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-bench/.work/gpu}"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:${PYTHONPATH:-}"
fi
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 bench/gpu/check.py --out "$OUT" "$@"
