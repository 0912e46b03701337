"""vLLM backend, for GPU machines: the same three calls on vLLM's engine (`pip install 'evalkit[vllm]'`).

Chosen per model with `backend = "vllm"`. Requests are tokenised here with the model's own
tokenizer, paired and windowed exactly as the transformers backend does (backends/tokens.py),
and handed to vLLM as token ids, so both engines score the same tokens; only the kernels differ
(the fingerprint includes the backend, so their cached responses never mix).

- log-likelihoods come from vLLM's prompt logprobs: every prompt token's log-probability, and its
  rank (rank 1 is the greedy choice). Prefix caching lets the answer options of one question share
  their context's work;
- rolling windows predict at most max_length - 1 tokens, because vLLM's prompt (context +
  predicted tokens) must fit the model's window whole;
- generation uses vLLM's continuous batching; stop strings are cut from the text as in the
  transformers backend.

vLLM schedules its own batches, so each call submits requests in chunks of CHUNK: large enough to
keep the GPU full, small enough that finished responses reach the store while a long run goes on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.backends.stacked import stacked_adapters
from evalkit.backends.tokens import (
    cut_at_stops,
    encode_pair,
    render_prompt,
    rolling_windows,
    truncate_left,
)
from evalkit.config import ModelSpec
from evalkit.errors import ModelError
from evalkit.types import (
    Generation,
    GenerationRequest,
    Loglikelihood,
    LoglikelihoodRequest,
    RollingLoglikelihood,
    RollingRequest,
)

CHUNK = 1024  # requests per engine call


def continuation_score(prompt_logprobs: Sequence[dict[int, Any] | None], start: int,
                       tokens: Sequence[int]) -> tuple[float, bool]:
    """Summed log-probability of `tokens`, which sit at prompt positions start, start+1, ..., and whether
    each was the most likely token there. vLLM always includes the prompt's own token in a position's
    dict, whatever the number of top logprobs asked for."""
    total, greedy = 0.0, True
    for offset, token in enumerate(tokens):
        entry = prompt_logprobs[start + offset]
        if entry is None or token not in entry:
            raise ModelError(f"vLLM returned no prompt logprob for token {token} at position {start + offset}")
        total += float(entry[token].logprob)
        greedy = greedy and entry[token].rank == 1
    return total, greedy


class VLLMBackend:
    def __init__(self, spec: ModelSpec, folder: Path, engine: Any = None):
        """`engine`: an already built vllm.LLM (tests, or a caller that manages GPU memory itself)."""
        self.spec = spec
        self.llm = engine if engine is not None else _engine(spec, folder)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_length = spec.max_length or self.llm.llm_engine.model_config.max_model_len
        self.prefix_token = (self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None
                             else self.tokenizer.eos_token_id)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _run(self, prompts: list[list[int]], params) -> list:
        from vllm.inputs import TokensPrompt

        return self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)

    def _scoring_params(self):
        from vllm import SamplingParams

        return SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, Loglikelihood]]:
        pairs = []
        for request in requests:
            context, continuation = encode_pair(self.encode, request.context, request.continuation, self.prefix_token)
            pairs.append(truncate_left(context, continuation, self.max_length - 1))
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start : start + CHUNK]
            outputs = self._run([c + k for c, k in chunk], self._scoring_params())
            for offset, ((context, continuation), out) in enumerate(zip(chunk, outputs)):
                logprob, greedy = continuation_score(out.prompt_logprobs, len(context), continuation)
                yield start + offset, Loglikelihood(logprob=logprob, is_greedy=greedy, n_tokens=len(continuation))

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> Iterator[tuple[int, RollingLoglikelihood]]:
        for index, request in enumerate(requests):  # documents are long: one document's windows per engine call
            tokens = self.encode(request.text)
            windows = list(rolling_windows(tokens, self.prefix_token, self.max_length - 1, request.stride))
            total = 0.0
            for start in range(0, len(windows), CHUNK):
                chunk = windows[start : start + CHUNK]
                outputs = self._run([c + p for c, p in chunk], self._scoring_params())
                total += sum(continuation_score(out.prompt_logprobs, len(c), p)[0] for (c, p), out in zip(chunk, outputs))
            yield index, RollingLoglikelihood(logprob=total, n_tokens=len(tokens))

    def generate(self, requests: Sequence[GenerationRequest]) -> Iterator[tuple[int, Generation]]:
        from vllm import SamplingParams

        for start in range(0, len(requests), CHUNK):
            chunk = requests[start : start + CHUNK]
            params = [SamplingParams(max_tokens=r.max_new_tokens, temperature=r.temperature, top_p=r.top_p,
                                     stop=list(r.stop) or None, seed=r.seed if r.temperature > 0 else None)
                      for r in chunk]
            outputs = self._run([self.encode(self.render_prompt(r)) for r in chunk], params)
            for offset, (request, out) in enumerate(zip(chunk, outputs)):
                yield start + offset, _generation(request, out.outputs[0])

    def render_prompt(self, request: GenerationRequest) -> str:
        return render_prompt(self.tokenizer, self.spec, request)


def _generation(request: GenerationRequest, completion) -> Generation:
    text = cut_at_stops(completion.text, request.stop)  # vLLM cuts too; this keeps hf's exact rule
    reason = "length" if completion.finish_reason == "length" else "stop"
    return Generation(text=text, n_tokens=len(completion.token_ids), finish_reason=reason)


def _engine(spec: ModelSpec, folder: Path):
    try:
        from vllm import LLM
    except ImportError:
        raise ModelError(f"model {spec.name!r} has backend = \"vllm\", which needs vLLM and a GPU: "
                         f"pip install 'evalkit[vllm]', or set backend = \"hf\"") from None
    if spec.adapter:
        raise ModelError(f"model {spec.name!r}: the vllm backend takes merged weights, not adapters; merge "
                         f"{spec.adapter} into the model (evalkit's trained models are merged) or use backend = \"hf\"")
    if stacked_adapters(folder):  # vLLM would load the base alone and silently drop the adapters
        raise ModelError(f"model {spec.name!r}: {folder} keeps its adapters apart (a stack recipe with keep = "
                         f"\"adapters\"); the vllm backend takes merged weights: set stack.keep = \"merged\" "
                         f"or backend = \"hf\"")
    if spec.quantization == "8bit":
        raise ModelError(f"model {spec.name!r}: vLLM has no 8-bit bitsandbytes loading; use quantization = "
                         f"\"4bit\" or \"none\", or backend = \"hf\"")
    kwargs: dict[str, Any] = {"model": str(folder), "dtype": spec.dtype, "seed": 0, "enable_prefix_caching": True}
    if spec.max_length:
        kwargs["max_model_len"] = spec.max_length
    if spec.quantization == "4bit":
        kwargs["quantization"] = "bitsandbytes"
    return LLM(**kwargs)
