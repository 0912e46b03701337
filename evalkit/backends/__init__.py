"""Where text comes from. Backends share three batched calls:

    loglikelihood(requests)          -> iterator of (index, Loglikelihood)
    loglikelihood_rolling(requests)  -> iterator of (index, RollingLoglikelihood)
    generate(requests)               -> iterator of (index, Generation)

Each yields results as they finish (so the store commits them at once), in any
order, tagged with the request's index in the input list. Backends are imported
only when a model that needs one is actually run.
"""

from __future__ import annotations

from pathlib import Path

from evalkit.config import ModelSpec


def load_backend(spec: ModelSpec, folder: Path | None):
    if spec.source.startswith(("openai:", "http://", "https://")):
        from evalkit.backends.openai_api import OpenAIBackend

        return OpenAIBackend(spec)
    if spec.backend == "vllm":
        from evalkit.backends.vllm import VLLMBackend

        return VLLMBackend(spec, folder)
    from evalkit.backends.hf import HFBackend

    return HFBackend(spec, folder)
