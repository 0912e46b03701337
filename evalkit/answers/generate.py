"""Each model's answers to a prompt set, for the pairwise judge and the voting app.

Answers are model calls like any other: generated through the response cache
(so a rerun costs lookups and a killed run resumes), then copied into their own
table keyed by (model, prompt set, prompt id) so that readers need no model.
An endpoint that fails on some prompts leaves those answers missing, reported
and counted; the rest are kept, and a rerun asks only for what is missing.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from evalkit.answers.promptsets import Prompt, PromptSet, load_prompt_set
from evalkit.errors import ModelError
from evalkit.models import fetch_responses
from evalkit.store import Store
from evalkit.train import prepare_model
from evalkit.types import GenerationRequest, request_key


@dataclass(frozen=True)
class Answer:
    model: str
    prompt_set: str
    prompt_id: str
    prompt: str
    answer: str


@dataclass(frozen=True)
class AnswerRun:
    answers: list[Answer]
    failures: dict[str, Counter] = field(default_factory=dict)  # model → reason → count

    @property
    def n_failed(self) -> int:
        return sum(sum(c.values()) for c in self.failures.values())


def answer_request(prompt_set: PromptSet, prompt: Prompt, seed: int) -> GenerationRequest:
    return GenerationRequest(prompt=prompt.text, max_new_tokens=prompt_set.max_new_tokens,
                             temperature=prompt_set.temperature, seed=seed, chat=True, system=prompt_set.system)


def generate_answers(config, model_names: list[str], prompt_set: str, store: Store, ui) -> list[Answer]:
    """Answers of every model to every prompt of `prompt_set`, generated where missing."""
    prompts = load_prompt_set(prompt_set, config.root)
    run = collect_answers(config, model_names, prompts, store, ui)
    report_failures(run.failures, "answers", ui)
    return run.answers


def collect_answers(config, model_names: list[str], prompt_set: PromptSet, store: Store, ui,
                    handles: dict | None = None) -> AnswerRun:
    answers, failures = [], {}
    handles = {} if handles is None else handles  # filled in, so a caller can reuse the loaded models
    for name in model_names:
        if name not in handles:
            handles[name] = ui.step(f"preparing model {name}", prepare_model, config, name, store)
        handle = handles[name]
        requests = [answer_request(prompt_set, p, config.seed) for p in prompt_set.prompts]
        with ui.progress(f"{name} · answers to {prompt_set.name}") as progress:
            responses, failed = fetch_available(handle, requests, store, progress)
        if failed:
            failures[name] = failed
        rows = [(name, handle.fingerprint, prompt_set.name, p.id, p.text, r.text, time.time())
                for p, r in zip(prompt_set.prompts, responses) if r is not None]
        with store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO answers VALUES (?,?,?,?,?,?,?)", rows)
        answers += [Answer(name, prompt_set.name, p.id, p.text, r.text)
                    for p, r in zip(prompt_set.prompts, responses) if r is not None]
    return AnswerRun(answers, failures)


def fetch_available(handle, requests: list, store: Store, progress=None) -> tuple[list, Counter]:
    """Responses where they can be had: an endpoint's failed requests come back as None, counted by reason.

    Every finished response is already committed by `fetch_responses`; a backend that could not
    answer some requests raises a ModelError carrying `failures` ({index: reason}) after yielding
    the rest, so the finished ones are read back from the cache.
    """
    try:
        return fetch_responses(handle, requests, store, progress), Counter()
    except ModelError as err:
        failures = getattr(err, "failures", None)
        if failures is None:
            raise
        keys = [request_key(handle.fingerprint, r) for r in requests]
        found = store.cached_responses(set(keys))
        reasons = Counter(failures.values())
        return [found.get(key) for key in keys], reasons


def stored_answers(store: Store, prompt_set: str | None = None, models: list[str] | None = None) -> list[Answer]:
    query = "SELECT model, prompt_set, prompt_id, prompt, answer FROM answers WHERE 1=1"
    args: list = []
    if prompt_set is not None:
        query, args = query + " AND prompt_set=?", args + [prompt_set]
    if models is not None:
        query += f" AND model IN ({','.join('?' * len(models))})"
        args += list(models)
    return [Answer(*row) for row in store.db.execute(query + " ORDER BY prompt_set, model, rowid", args)]


def report_failures(failures: dict[str, Counter], what: str, ui) -> None:
    for model, reasons in failures.items():
        detail = ", ".join(f"{reason} ×{count}" for reason, count in reasons.most_common())
        ui.info(f"[yellow]⚠ {model}: {sum(reasons.values())} {what} could not be had ({detail}); "
                f"the rest are stored, a rerun asks only for the missing ones[/]")
