"""Prepacked oneDNN linear layers on a CPU: the same numbers as MKL's F.linear, the same greedy text,
gradients untouched, and a switch that turns them off."""

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from evalkit.backends import cpu_linear
from evalkit.backends.hf import HFBackend
from evalkit.config import ModelSpec
from evalkit.types import GenerationRequest, LoglikelihoodRequest

pytestmark = pytest.mark.skipif(not cpu_linear.available(), reason="this torch has no oneDNN linear operators")


def backend(folder, **overrides):
    return HFBackend(replace(ModelSpec(name="tiny", source=str(folder)), batch_size=4, **overrides), folder)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_packed_layer_matches_f_linear(dtype):
    generator = torch.Generator().manual_seed(0)
    layer = nn.Linear(96, 160).to(dtype)
    x = torch.randn(3, 7, 96, generator=generator).to(dtype)
    with torch.no_grad():
        expected = F.linear(x, layer.weight, layer.bias)
        assert cpu_linear.pack_linear_layers(nn.Sequential(layer)) == 1
        got = layer(x)
    assert got.shape == expected.shape and got.dtype == dtype
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    assert torch.allclose(got.float(), expected.float(), rtol=tolerance, atol=tolerance)


def test_gradients_take_the_plain_path():
    layer = nn.Linear(8, 4)
    cpu_linear.pack_linear_layers(nn.Sequential(layer))
    layer(torch.randn(2, 8)).sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0


def test_switch_turns_packing_off(tiny_model_dir, monkeypatch):
    monkeypatch.setenv(cpu_linear.ENV, "0")
    assert backend(tiny_model_dir).packed_linear_layers == 0


def test_backend_results_equal_unpacked(tiny_model_dir, monkeypatch):
    packed = backend(tiny_model_dir)
    monkeypatch.setenv(cpu_linear.ENV, "0")
    plain = backend(tiny_model_dir)
    assert packed.packed_linear_layers > 0 and plain.packed_linear_layers == 0
    scoring = [LoglikelihoodRequest("The capital of France is", " Paris"),
               LoglikelihoodRequest("Question: 2 + 2 =", " 4 and more words after it")]
    a, b = dict(packed.loglikelihood(scoring)), dict(plain.loglikelihood(scoring))
    assert all(abs(a[i].logprob - b[i].logprob) < 1e-4 for i in range(len(scoring)))
    prompts = [GenerationRequest("Once upon a time", max_new_tokens=24),
               GenerationRequest("def add(a, b):", max_new_tokens=16)]
    assert dict(packed.generate(prompts)) == dict(plain.generate(prompts))


def test_a_model_whose_copy_would_not_fit_stays_on_mkl(monkeypatch):
    layer = nn.Linear(64, 64)
    monkeypatch.setattr(cpu_linear, "_available_memory", lambda: 2 * layer.weight.numel() * 4 - 1)
    assert cpu_linear.pack_linear_layers(nn.Sequential(layer)) == 0
    monkeypatch.setattr(cpu_linear, "_available_memory", lambda: None)
    assert cpu_linear.pack_linear_layers(nn.Sequential(layer)) == 0
    monkeypatch.setattr(cpu_linear, "_available_memory", lambda: 2 * layer.weight.numel() * 4 + 8)
    assert cpu_linear.pack_linear_layers(nn.Sequential(layer)) == 1
