#!/usr/bin/env bash
# A separate virtual environment for lm-evaluation-harness, the reference the
# bench/ scripts compare evalkit with. Separate, so that lm-eval's own
# dependencies never change the versions evalkit is tested with.
#
#   bash bench/setup_lmeval.sh [VENV]      (default: $LMEVAL_VENV or bench/.envs/lmeval)
#
# torch is installed first and pinned (the CPU wheel): an unpinned torch pulls
# several GB of CUDA packages. transformers is pinned to evalkit's version so
# both tools run the same model code; lm-eval 0.4.13 accepts it.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:-${LMEVAL_VENV:-$HERE/.envs/lmeval}}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LMEVAL_VERSION="${LMEVAL_VERSION:-0.4.13}"
TRANSFORMERS_VERSION="${TRANSFORMERS_VERSION:-5.23.0}"

if [ -x "$VENV/bin/lm_eval" ]; then
    echo "lm-eval already installed in $VENV"
    exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet "torch==$TORCH_VERSION"
"$VENV/bin/pip" install --quiet "lm-eval[hf]==$LMEVAL_VERSION" "transformers==$TRANSFORMERS_VERSION"
"$VENV/bin/python" -c "import lm_eval, torch, transformers; print('lm-eval', lm_eval.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
