#!/usr/bin/env bash
# Wheels for bench/gpu/run.sh, fetched where pip reaches PyPI, for the GPU image's Python 3.12: what
# evalkit's training and CUDA paths import that the image lacks (it has torch, transformers, peft,
# accelerate). About 45 MB, within what a device call carries. Add `.whl/` to .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/../.."
python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl \
  bitsandbytes==0.50.2 trl==1.16.0 datasets==5.2.0 dill==0.4.0 multiprocess==0.70.18
du -sh .whl
