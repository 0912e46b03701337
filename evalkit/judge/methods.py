"""How a judge reaches a verdict on one shown order of two answers.

- generate: the judge model writes a reply (any backend: a local model or an
  OpenAI-compatible endpoint) and the judge file's regex reads the verdict.
- logprobs: a local model's reply is begun with the judge file's prefix and the
  verdict is the choice ("A", "B", "C") whose continuation is most probable; no
  text is generated, so there is nothing to misparse. The choices' probabilities,
  renormalised over the choices, are the verdict probabilities. An endpoint cannot
  be made to begin its reply with a prefix, so it is asked for the verdict alone
  (the file's logprobs.instruction) with one reply token and that token's top
  log-probabilities (OpenAI's top_logprobs; vLLM and `evalkit serve` return them
  too): a choice's log-probability is that of its most probable spelling among
  them ("A", " A"); a choice not among the top ones counts as probability 0, and
  a reply with none of them is unscored.
- reward: a reward model (AutoModelForSequenceClassification, one label) scores
  each answer; P(first better) = sigmoid(score_first - score_second), P(tie) = 0.

The verdict probabilities (first shown better, second shown better, tie) are kept
with the judgment: the calibrated position rule (calibration.py) decides from them.

Model calls go through the response cache like every other model call.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from evalkit.answers.generate import fetch_available
from evalkit.answers.promptsets import Prompt
from evalkit.judge.prompts import JudgeTemplate, parse_verdict, render_judge
from evalkit.judge.reward import RewardScorer
from evalkit.types import GenerationRequest, LoglikelihoodRequest

TOP_LOGPROBS = 20  # alternatives asked of an endpoint per reply token: the most OpenAI's API returns


@dataclass(frozen=True)
class Job:
    """One prompt, one pair of models, one shown order."""

    prompt: Prompt
    model_a: str
    model_b: str
    position: str  # "ab" | "ba"
    first: str  # the answer shown as assistant A
    second: str
    template: JudgeTemplate
    key: str

    def messages(self) -> tuple[str, str]:
        return render_judge(self.template, self.prompt.text, self.first, self.second, self.prompt.reference)


@dataclass(frozen=True)
class Outcome:
    raw: str
    shown: str | None  # "A" | "B" | "tie"; None: unscored
    error: str | None = None
    probs: tuple[float, float, float] | None = None  # P(first shown better), P(second), P(tie); None: not given


@dataclass(frozen=True)
class JudgeMethod:
    """How a judge reaches a verdict: `run(handle, jobs, store, seed, tie_margin, progress)` -> (outcomes by job
    key, failed requests counted by reason)."""

    name: str
    text: str  # what the leaderboard says of it
    run: Callable[..., tuple[dict[str, Outcome], Counter]]
    gives_probabilities: bool = False  # its outcomes carry verdict probabilities (position rules may need them)
    reads_template: bool = True  # renders the judge file's prompt; False: scores each answer alone (a reward model)


METHODS: dict[str, JudgeMethod] = {}


def register_method(method: JudgeMethod) -> JudgeMethod:
    if method.name in METHODS:
        raise ValueError(f"a judge method named {method.name!r} is already registered")
    METHODS[method.name] = method
    return method


def run_method(method: str, handle, jobs: list[Job], store, seed: int, tie_margin: float,
               progress=None) -> tuple[dict[str, Outcome], Counter]:
    """Outcomes by job key, and the failed requests counted by reason (jobs left out of the outcomes)."""
    if method not in METHODS:
        raise ValueError(f"unknown judge method {method!r}; expected one of {', '.join(METHODS)}")
    return METHODS[method].run(handle, jobs, store, seed, tie_margin, progress)


def _generate(handle, jobs, store, seed, progress):
    requests = []
    for job in jobs:
        system, user = job.messages()
        requests.append(GenerationRequest(prompt=user, system=system, chat=True, temperature=job.template.temperature,
                                          max_new_tokens=job.template.max_new_tokens, seed=seed))
    responses, failures = fetch_available(handle, requests, store, progress)
    outcomes = {}
    for job, response in zip(jobs, responses):
        if response is not None:
            shown, error = parse_verdict(job.template, response.text)
            outcomes[job.key] = Outcome(response.text, shown, error)
    return outcomes, failures


def _logprobs(handle, jobs, store, progress):
    render_chat = chat_renderer(handle)
    requests = []
    for job in jobs:
        context = render_chat(*job.messages()) + job.template.logprob_prefix
        requests += [LoglikelihoodRequest(context, choice) for choice in job.template.logprob_choices]
    responses, failures = fetch_available(handle, requests, store, progress)
    outcomes, start = {}, 0
    for job in jobs:
        choices = job.template.logprob_choices
        scores = responses[start : start + len(choices)]
        start += len(choices)
        if any(s is None for s in scores):
            continue
        logprobs = {choice: s.logprob for choice, s in zip(choices, scores)}
        best = max(choices, key=lambda c: logprobs[c])
        raw = "verdict-token log-probabilities: " + ", ".join(f"{c}={lp:.4f}" for c, lp in logprobs.items())
        outcomes[job.key] = Outcome(raw, job.template.labels[best], probs=verdict_probabilities(logprobs, job.template))
    return outcomes, failures


def _endpoint_logprobs(handle, jobs, store, seed, progress):
    requests = []
    for job in jobs:
        system, user = job.messages()
        requests.append(GenerationRequest(prompt=f"{user}\n\n{job.template.logprob_instruction}", system=system,
                                          chat=True, temperature=0.0, max_new_tokens=1, seed=seed,
                                          top_logprobs=TOP_LOGPROBS))
    responses, failures = fetch_available(handle, requests, store, progress)
    outcomes = {}
    for job, response in zip(jobs, responses):
        if response is not None:
            outcomes[job.key] = top_logprobs_outcome(job.template, response.top_logprobs or {})
    return outcomes, failures


def top_logprobs_outcome(template: JudgeTemplate, tops: dict[str, float]) -> Outcome:
    """The verdict from a reply's first-token alternatives: each choice at its most probable spelling."""
    found: dict[str, float] = {}
    for token, logprob in tops.items():
        choice = token.strip()
        if choice in template.logprob_choices and logprob > found.get(choice, -math.inf):
            found[choice] = logprob
    raw = "top log-probabilities of the first reply token: " + ", ".join(f"{c}={lp:.4f}" for c, lp in found.items())
    if not found:
        return Outcome(raw + "(none of the choices)", None,
                       error=f"none of the choices {', '.join(template.logprob_choices)} among the reply's "
                             f"{len(tops)} most probable first tokens")
    best = max(found, key=found.get)
    return Outcome(raw, template.labels[best], probs=verdict_probabilities(found, template))


def verdict_probabilities(logprobs: dict[str, float], template: JudgeTemplate) -> tuple[float, float, float]:
    """(P(first better), P(second better), P(tie)): a softmax over the choices' log-probabilities, summed
    by the label each choice stands for (a label no choice maps to gets 0)."""
    top = max(logprobs.values())
    weights = {choice: math.exp(lp - top) for choice, lp in logprobs.items()}
    total = sum(weights.values())
    by_label = dict.fromkeys(("A", "B", "tie"), 0.0)
    for choice, weight in weights.items():
        by_label[template.labels[choice]] += weight / total
    return by_label["A"], by_label["B"], by_label["tie"]


def chat_renderer(handle):
    """(system, user) → the judge model's prompt text, its chat template applied, ready for the reply."""
    backend = getattr(handle, "_backend", None)
    if backend is not None:
        tokenizer = backend.tokenizer
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(handle.folder)
    use_template = handle.spec.chat_template and tokenizer.chat_template

    def render(system: str, user: str) -> str:
        if not use_template:
            return f"{system}\n\n{user}\n\n"
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)

    return render


def _reward(handle, jobs, tie_margin, progress) -> dict[str, Outcome]:
    scorer = RewardScorer(handle.folder, handle.spec)
    texts = {(job.prompt.text, answer) for job in jobs for answer in (job.first, job.second)}
    scores = scorer.score(sorted(texts), progress)
    outcomes = {}
    for job in jobs:
        first, second = scores[(job.prompt.text, job.first)], scores[(job.prompt.text, job.second)]
        p_first = 1.0 / (1.0 + math.exp(-(first - second)))
        shown = "A" if p_first > 0.5 + tie_margin else "B" if p_first < 0.5 - tie_margin else "tie"
        raw = f"reward scores: A={first:.6f}, B={second:.6f}; P(A better)={p_first:.6f}"
        outcomes[job.key] = Outcome(raw, shown, probs=(p_first, 1.0 - p_first, 0.0))
    return outcomes


def _run_generate(handle, jobs, store, seed, tie_margin, progress):
    return _generate(handle, jobs, store, seed, progress)


def _run_logprobs(handle, jobs, store, seed, tie_margin, progress):
    if handle.folder is None:  # an endpoint: asked for the verdict token alone, with its top log-probabilities
        return _endpoint_logprobs(handle, jobs, store, seed, progress)
    return _logprobs(handle, jobs, store, progress)


def _run_reward(handle, jobs, store, seed, tie_margin, progress):
    return _reward(handle, jobs, tie_margin, progress), Counter()


register_method(JudgeMethod("generate", "verdict parsed from the judge's reply", _run_generate))
register_method(JudgeMethod("logprobs", "verdict = the most probable verdict token after the judge prompt (no text "
                            "generated)", _run_logprobs, gives_probabilities=True))
register_method(JudgeMethod("reward", "verdict = sigmoid of the reward-score difference", _run_reward,
                            gives_probabilities=True, reads_template=False))
