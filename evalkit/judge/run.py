"""One judging pass: answers where missing, then every missing single-order judgment.

A judgment is keyed by its content (judge model, method, judge file, question,
reference, both answers in their shown order), so a rerun skips what is done and
redoes only what changed or failed (or, for a method that gives verdict
probabilities, what was judged before evalkit stored them: the model calls under
such a judgment are in the response cache, so redoing it costs nothing). Judgments are committed chunk by chunk; the
model calls under them are committed one by one by the response cache, so a
killed pass loses nothing it finished.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace

from evalkit.answers.generate import collect_answers, report_failures
from evalkit.answers.promptsets import PromptSet, load_prompt_set
from evalkit.errors import ConfigError
from evalkit.judge.contamination import overlap_line, prompt_set_items, prompt_set_overlap
from evalkit.judge.methods import METHODS, Job, run_method
from evalkit.judge.prompts import JudgeTemplate, load_judge_template
from evalkit.judge.verdicts import (
    judge_infos,
    put_judge_info,
    put_judgments,
    shown_to_verdict,
)
from evalkit.train import prepare_model
from evalkit.types import stable_hash

CHUNK_JOBS = 64  # judgments per commit; also how often a failing endpoint is given up on


@dataclass(frozen=True)
class JudgeSummary:
    judge: str
    prompt_set: str
    models: tuple[str, ...]
    n_prompts: int
    wanted: int  # single-order judgments this pass needs
    cached: int  # already in the store
    judged: int  # new this pass
    unscored: int  # of the new ones: verdict could not be read (stored, counted in the report)
    skipped: int  # prompts without a reference answer the judge needs, or without both answers
    failures: dict[str, int] = field(default_factory=dict)  # judge requests that failed, by reason
    answer_failures: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def missing(self) -> int:
        return self.wanted - self.cached - self.judged

    def as_dict(self) -> dict:
        return {**asdict(self), "missing": self.missing}


def run_judge(config, model_names: list[str], judge_name: str, prompt_set_name: str | None, store, ui,
              limit: int | None = None, handles: dict | None = None) -> JudgeSummary:
    started = time.perf_counter()
    if len(set(model_names)) < 2:
        raise ConfigError(f"judging compares pairs of models; got {model_names}. Name two or more, "
                          f"e.g. --models base,sft")
    judge = config.judge(judge_name)
    templates = _Templates(judge.prompt, config.root)  # a broken judge file stops here, before any answer
    prompt_set = load_prompt_set(prompt_set_name or judge.prompt_set, config.root, limit)
    handles = dict(handles or {})
    answer_run = collect_answers(config, model_names, prompt_set, store, ui, handles)
    report_failures(answer_run.failures, "answers", ui)
    # a recipe judge is decontaminated against the whole prompt set, so --limit does not change what it trains on
    whole = load_prompt_set(prompt_set_name or judge.prompt_set, config.root) if limit else prompt_set
    overlap = prompt_set_overlap(config, judge.model, whole, judge_name)  # before a build, not after
    if overlap_line(judge_name, whole.name, overlap):
        ui.info(f"[yellow]{overlap_line(judge_name, whole.name, overlap)}[/]")
    handle = handles.get(judge.model.name) or ui.step(f"preparing judge model {judge.model.name}",
                                                      _prepare_judge_model, config, judge, store, whole)
    jobs, skipped = build_jobs(judge, handle.fingerprint, templates, prompt_set, model_names, store)
    done = _stored_keys(store, judge_name, prompt_set.name, needs_probs=METHODS[judge.method].gives_probabilities)
    todo = [job for job in jobs if done.get(_row_id(job)) != job.key]
    new, unscored, failures = _judge_jobs(judge, handle, todo, prompt_set, store, config.seed, ui)
    summary = JudgeSummary(judge_name, prompt_set.name, tuple(model_names), len(prompt_set.prompts), len(jobs),
                           len(jobs) - len(todo), new, unscored, skipped, dict(failures),
                           {m: dict(c) for m, c in answer_run.failures.items()},
                           round(time.perf_counter() - started, 2))
    _record_info(store, judge, templates, handle, prompt_set, model_names, summary, overlap)
    return summary


def _prepare_judge_model(config, judge, store, prompt_set: PromptSet):
    """A recipe judge is built with its training rows that overlap the prompt set dropped."""
    if judge.model.name not in config.models:  # an inline judge model: prepared like any model of the config
        config = replace(config, models={**config.models, judge.model.name: judge.model})
    return prepare_model(config, judge.model.name, store, decontaminate_also=prompt_set_items(prompt_set))


def check_judges(config, names) -> None:
    """Each judge's files read and its templates compiled, so a mistake in them costs seconds before any
    model loads, not the evaluation and answer generation that come before judging."""
    for name in names:
        _Templates(config.judge(name).prompt, config.root)


class _Templates:
    """The judge file, and its reference-guided sibling for prompts that carry a reference answer."""

    def __init__(self, name: str, root):
        self.base = load_judge_template(name, root)
        self.with_reference = load_judge_template(self.base.with_reference, root) if self.base.with_reference else None

    def for_prompt(self, has_reference: bool) -> JudgeTemplate:
        return self.with_reference if has_reference and self.with_reference else self.base


def build_jobs(judge, judge_fingerprint: str, templates: _Templates, prompt_set: PromptSet, model_names, store):
    """Every (prompt, pair of models, order) whose two answers exist; pairs in name order so the
    stored rows do not depend on the order models were named in."""
    answers = _answers_by_model(store, prompt_set.name)
    jobs, skipped, method = [], 0, METHODS[judge.method]
    for prompt in prompt_set.prompts:
        template = templates.for_prompt(prompt.reference is not None) if method.reads_template else templates.base
        for model_a, model_b in itertools.combinations(sorted(set(model_names)), 2):
            a, b = answers.get((model_a, prompt.id)), answers.get((model_b, prompt.id))
            if a is None or b is None or (template.reference and prompt.reference is None and method.reads_template):
                skipped += 1
                continue
            for position, (first, second) in (("ab", (a, b)), ("ba", (b, a))):
                key = stable_hash({"judge": judge_fingerprint, "method": judge.method,
                                   "template": template.content_hash if method.reads_template else None,
                                   "tie_margin": None if method.reads_template else judge.tie_margin,
                                   "question": prompt.text, "reference": prompt.reference if template.reference else None,
                                   "first": first[1], "second": second[1]})[:32]
                jobs.append(Job(prompt, model_a, model_b, position, first[1], second[1], template, key))
    return jobs, skipped


def _answers_by_model(store, prompt_set: str) -> dict[tuple[str, str], tuple[str, str]]:
    rows = store.db.execute("SELECT model, prompt_id, fingerprint, answer FROM answers WHERE prompt_set=?",
                            (prompt_set,))
    return {(model, prompt_id): (fingerprint, answer) for model, prompt_id, fingerprint, answer in rows}


def _stored_keys(store, judge: str, prompt_set: str, needs_probs: bool) -> dict[tuple, str]:
    """Stored judgment keys by row id; with needs_probs, a scored judgment counts only with its probabilities."""
    rows = store.db.execute(
        "SELECT j.prompt_id, j.model_a, j.model_b, j.position, j.key, j.shown IS NULL OR p.key IS NOT NULL "
        "FROM judgments j LEFT JOIN judgment_probs p ON p.judge=j.judge AND p.prompt_set=j.prompt_set "
        "AND p.prompt_id=j.prompt_id AND p.model_a=j.model_a AND p.model_b=j.model_b AND p.position=j.position "
        "AND p.key=j.key WHERE j.judge=? AND j.prompt_set=?", (judge, prompt_set))
    return {tuple(row[:4]): row[4] for row in rows if row[5] or not needs_probs}


def _row_id(job: Job) -> tuple:
    return (job.prompt.id, job.model_a, job.model_b, job.position)


def _judge_jobs(judge, handle, todo: list[Job], prompt_set, store, seed: int, ui) -> tuple[int, int, Counter]:
    answers = _answers_by_model(store, prompt_set.name)
    new = unscored = 0
    failures: Counter = Counter()
    with ui.progress(f"judge {judge.name} · {prompt_set.name}") as progress:
        progress(0, len(todo))
        for start in range(0, len(todo), CHUNK_JOBS):
            chunk = todo[start : start + CHUNK_JOBS]
            # whole jobs, so the bar reads "144/144", not "144.0/144"
            step = (lambda done, total, s=start, n=len(chunk): progress(s + n * done // max(total, 1), len(todo)))
            outcomes, failed = run_method(judge.method, handle, chunk, store, seed, judge.tie_margin, step)
            failures += failed
            rows = [_row(judge.name, prompt_set.name, handle.fingerprint, job, outcomes[job.key], answers)
                    for job in chunk if job.key in outcomes]
            put_judgments(store, rows)
            new += len(rows)
            unscored += sum(row["shown"] is None for row in rows)
            if failed and not outcomes:  # nothing got through: stop asking, a rerun resumes here
                failures["not attempted (the judge endpoint kept failing)"] += len(todo) - start - len(chunk)
                break
    return new, unscored, failures


def _row(judge: str, prompt_set: str, judge_fingerprint: str, job: Job, outcome, answers) -> dict:
    fp_a, text_a = answers[(job.model_a, job.prompt.id)]
    fp_b, text_b = answers[(job.model_b, job.prompt.id)]
    return {"judge": judge, "prompt_set": prompt_set, "prompt_id": job.prompt.id, "model_a": job.model_a,
            "model_b": job.model_b, "position": job.position, "key": job.key, "template": job.template.name,
            "judge_fingerprint": judge_fingerprint, "fingerprint_a": fp_a, "fingerprint_b": fp_b,
            "len_a": len(text_a), "len_b": len(text_b), "raw": outcome.raw, "shown": outcome.shown,
            "verdict": shown_to_verdict(outcome.shown, job.position), "error": outcome.error, "created": time.time(),
            "probs": outcome.probs}


def _record_info(store, judge, templates: _Templates, handle, prompt_set: PromptSet, model_names, summary,
                 overlap) -> None:
    previous = judge_infos(store).get((judge.name, prompt_set.name), {})
    models = list(previous.get("models", []))
    models += [m for m in model_names if m not in models]
    spec = judge.model
    put_judge_info(store, judge.name, prompt_set.name, {
        "judge": judge.name, "description": judge.description, "method": judge.method,
        "prompt": templates.base.name, "prompt_version": templates.base.version, "prompt_file": str(templates.base.path),
        "reference_prompt": templates.with_reference.name if templates.with_reference else None,
        "model": spec.name, "source": spec.source or spec.recipe, "fingerprint": handle.fingerprint,
        "tie_margin": None if METHODS[judge.method].reads_template else judge.tie_margin,
        "position": judge.position, "tie_band": judge.tie_band, "prompt_set_overlap": overlap,
        "models": models, "prompt_set_version": prompt_set.version, "prompt_set_origin": prompt_set.origin,
        "n_prompts": len(prompt_set.prompts), "last_pass": summary.as_dict(),
    })


def judge_suite(config, model_names: list[str], suite, store, ui, handles: dict | None = None) -> dict:
    """The judge step of `evalkit run` (suite keys judge, prompt_set, prompt_limit): each of the suite's
    judges in turn. Returns {judge name: its pass summary, or why it was skipped} for the run's provenance."""
    done = {}
    for name in suite.judges:
        if len(set(model_names)) < 2:
            ui.info(f"[dim]judge {name}: needs two or more models to compare; skipped[/]")
            done[name] = {"judge": name, "skipped": "needs two or more models"}
            continue
        summary = run_judge(config, model_names, name, suite.prompt_set, store, ui, limit=suite.prompt_limit,
                            handles=handles)
        if summary.missing:
            ui.info(f"[yellow]⚠ judge {name}: {summary.missing} judgments missing after failed requests "
                    f"({', '.join(f'{k} ×{v}' for k, v in summary.failures.items())}); rerun to complete them[/]")
        done[name] = summary.as_dict()
    return done
