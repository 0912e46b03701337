"""Linear layers of a CPU model on oneDNN with prepacked weights.

On a CPU, torch sends `nn.Linear` to MKL's sgemm, which on AMD processors runs its AVX2 code
even where the cores have AVX-512: on the 2-core AMD EPYC of bench/RESULTS.md, MKL reaches
about 190 GFLOPS on a [4096 x 576] x [576 x 1536] product and oneDNN, on the same weights
reordered once into its blocked layout, about 430 (222 in a later sitting, 2026-12-08, where MKL
again gave 190: bench/RESULTS.md, "Where a forward's time goes"); at the few rows of a decode step (1-16),
where neither is compute-bound, oneDNN takes half MKL's time. This is the path torch's own
compiler takes for frozen CPU models (inductor's mkldnn linear), without a compile.

Results stay float32 (or the model's dtype): only the order of additions inside a dot product
differs from MKL's, by about 1e-6 relative, as between two batch sizes of the same library.
On bench/'s GSM8K and MMLU runs against lm-eval (which stays on MKL) the greedy text is
identical on 20 of 20 problems and the answer the same on 200 of 200 questions, log-likelihoods
within 6e-5 nats (bench/RESULTS.md).

Each packed layer keeps its original weight (state dicts, tied embeddings and anything that
needs gradients use it: with gradients enabled the layer runs the usual `F.linear`), so the
packed copy costs the linear weights' size once more in memory. `EVALKIT_PACKED_LINEAR=0`
turns the whole thing off.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from evalkit.system.memory import available_memory as _available_memory

PACKABLE = (torch.float32, torch.bfloat16)
ENV = "EVALKIT_PACKED_LINEAR"


def available() -> bool:
    """Whether this torch has oneDNN and the two operators (internal to torch, used by inductor)."""
    mkldnn = getattr(torch.ops, "mkldnn", None)
    return (torch.backends.mkldnn.is_available() and hasattr(mkldnn, "_reorder_linear_weight")
            and hasattr(mkldnn, "_linear_pointwise"))


def pack_linear_layers(model: nn.Module) -> int:
    """Gives every plain `nn.Linear` of a CPU model a forward on prepacked oneDNN weights; returns how
    many layers were packed (0 when turned off, unavailable, or the model is not on a CPU)."""
    if os.environ.get(ENV, "1") == "0" or not available():
        return 0
    layers = [m for m in model.modules() if type(m) is nn.Linear and m.weight.device.type == "cpu"
              and m.weight.dtype in PACKABLE]
    if not layers or not _memory_allows(layers):
        return 0
    for layer in layers:
        layer.forward = _packed_forward(layer)
    return len(layers)


def _packed_forward(layer: nn.Linear):
    weight, bias = layer.weight, layer.bias
    packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), None)
    plain_bias = None if bias is None else bias.detach()

    def forward(x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.dtype != packed.dtype or x.device.type != "cpu":
            return F.linear(x, weight, bias)
        flat = x.reshape(-1, x.shape[-1])
        out = torch.ops.mkldnn._linear_pointwise(flat, packed, plain_bias, "none", [], "")
        return out.reshape(*x.shape[:-1], out.shape[-1])

    return forward


def _memory_allows(layers: list[nn.Linear]) -> bool:
    """The packed copies must fit in half of the memory still available: a model that barely fits
    runs on MKL rather than pushing the machine into swap."""
    needed = sum(layer.weight.numel() * layer.weight.element_size() for layer in layers)
    available_bytes = _available_memory()
    return available_bytes is not None and needed < available_bytes // 2
