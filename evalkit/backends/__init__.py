"""Where text comes from. Every backend implements the three batched calls of `Backend`.

Each yields results as they finish (so the store commits them at once), in any order, tagged with
the request's index in the input list; receiving the whole list lets a backend sort by length, batch,
and share a context across answer choices. Backends are imported only when a model that needs one
is actually run (torch, vLLM and the OpenAI client are heavy imports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from evalkit import types
from evalkit.config import ModelSpec
from evalkit.errors import ConfigError


class Backend(Protocol):
    """Each call yields (index in `requests`, result) as results finish, in any order."""

    def loglikelihood(self, requests: Sequence[types.LoglikelihoodRequest]) -> Iterator[tuple[int, types.Loglikelihood]]:
        ...

    def loglikelihood_rolling(
        self, requests: Sequence[types.RollingRequest]
    ) -> Iterator[tuple[int, types.RollingLoglikelihood]]: ...

    def generate(self, requests: Sequence[types.GenerationRequest]) -> Iterator[tuple[int, types.Generation]]: ...


def _hf(spec: ModelSpec, folder: Path | None) -> Backend:
    from evalkit.backends.hf import HFBackend

    return HFBackend(spec, folder)


def _vllm(spec: ModelSpec, folder: Path | None) -> Backend:
    from evalkit.backends.vllm import VLLMBackend

    return VLLMBackend(spec, folder)


def _endpoint(spec: ModelSpec, folder: Path | None) -> Backend:
    from evalkit.backends.openai_api import OpenAIBackend

    return OpenAIBackend(spec)


# The one registry of backends: a model's `backend` setting picks one (endpoints pick themselves).
BACKENDS: dict[str, Callable[[ModelSpec, Path | None], Backend]] = {"hf": _hf, "vllm": _vllm, "endpoint": _endpoint}
ENDPOINT = "endpoint"  # chosen by the source (openai:, http://), never named in `backend`


def check_backend(spec: ModelSpec, where: str) -> None:
    """`where` ("evalkit.toml: models.x") names the table in the error."""
    choices = [name for name in BACKENDS if name != ENDPOINT]
    if spec.backend not in choices:
        raise ConfigError(f"{where}.backend = {spec.backend!r}; choose one of {', '.join(choices)}")


def is_endpoint(spec: ModelSpec) -> bool:
    return spec.source.startswith(("openai:", "http://", "https://"))


def load_backend(spec: ModelSpec, folder: Path | None) -> Backend:
    return BACKENDS[ENDPOINT if is_endpoint(spec) else spec.backend](spec, folder)
