"""Multiple choice by log-likelihood: the model scores each answer choice after the
prompt, and the most likely choice is its answer.

As lm-evaluation-harness's `multiple_choice` tasks: one request per choice,
(prompt, target_delimiter + choice), sharing the prompt's forward pass; `acc`
takes the argmax of the log-likelihoods, `acc_norm` the argmax per character
of the choice. The task file's [choice] table:

    description       template before the few-shot examples (lm-eval's description)
    prompt            template of one question (lm-eval's doc_to_text)
    choices           expression: the list of answer strings (doc_to_choice)
    gold              expression: the index of the right choice, or a list of them (doc_to_target)
    target_delimiter  between prompt and choice, default " "

With a subject_field, every metric also gets one row per subject: `acc/<subject>`.
"""

from __future__ import annotations

from collections import defaultdict
from functools import lru_cache
from typing import Any

from evalkit.data import fewshot
from evalkit.data.templates import compile_template, environment, render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import metric_rows
from evalkit.kinds.base import TaskKind
from evalkit.scoring import metrics as scoring
from evalkit.scoring import stats
from evalkit.types import LoglikelihoodRequest

PRIMARY = "acc"
METRICS = ("acc", "acc_norm")
SECTION_KEYS = {"description", "prompt", "choices", "gold", "target_delimiter"}


def _section(task) -> dict[str, Any]:
    return task.section("choice")


def validate(task) -> None:
    section = _section(task)
    unknown = sorted(set(section) - SECTION_KEYS)
    if unknown:
        raise ConfigError(f"{task.path}: [choice] has unknown key {unknown[0]!r}; allowed: {', '.join(sorted(SECTION_KEYS))}")
    for key, example in (("prompt", '"{{ question }}\\nAnswer:"'), ("choices", '"[\\"A\\", \\"B\\"]" or "options"'),
                         ("gold", '"answer" or "[\\"A\\", \\"B\\"].index(label)"')):
        if not isinstance(section.get(key), str) or not section[key].strip():
            raise ConfigError(f"{task.path}: [choice] needs `{key}`, e.g. {key} = {example}")
    for key in ("description", "target_delimiter"):
        if key in section and not isinstance(section[key], str):
            raise ConfigError(f"{task.path}: [choice].{key} must be a string, got {section[key]!r}")
    for key in ("description", "prompt"):
        try:
            compile_template(section.get(key, ""))
        except Exception as err:
            raise ConfigError(f"{task.path}: [choice].{key} is not a valid template: {err}") from None
    fewshot.settings(task)


@lru_cache(maxsize=64)
def _expression(source: str):
    """Compiled once: compiling a Jinja expression per question dominates loading 14,000 of them."""
    return environment().compile_expression(source, undefined_to_none=False)


def evaluate(source: str, row: dict[str, Any]):
    return _expression(source)(**row)


def _choices(task, row: dict[str, Any]) -> list[str]:
    choices = evaluate(_section(task)["choices"], row)
    if not isinstance(choices, (list, tuple)) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"`choices` must give a list of at least 2 strings, got {choices!r}")
    return list(choices)


def _gold(task, row: dict[str, Any], n_choices: int) -> int | list[int]:
    gold = evaluate(_section(task)["gold"], row)
    golds = gold if isinstance(gold, (list, tuple)) else [gold]
    if not golds or not all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < n_choices for g in golds):
        raise ValueError(f"`gold` must give an index 0..{n_choices - 1} (or a list of them), got {gold!r}")
    return gold if isinstance(gold, int) else list(gold)


def _answer_of(task, row: dict[str, Any]) -> str:
    choices = _choices(task, row)
    gold = _gold(task, row, len(choices))
    return choices[gold if isinstance(gold, int) else gold[0]]


def check_sample(task, sample) -> None:
    section, row = _section(task), sample.row
    steps = (("description", lambda: render(section.get("description", ""), row)),
             ("prompt", lambda: render(section["prompt"], row)),
             ("choices", lambda: _choices(task, row)),
             ("gold", lambda: _gold(task, row, len(_choices(task, row)))))
    for key, step in steps:
        try:
            step()
        except Exception as err:
            raise DataError(f"{sample.origin}: [choice].{key} = {section.get(key, '')!r} failed on this row: "
                            f"{type(err).__name__}: {err}; fix the row or the task file "
                            f"(row fields: {', '.join(sorted(row))})") from None


def context(task, sample, options: dict[str, Any]) -> str:
    section = _section(task)
    return fewshot.build_prompt(
        task, sample, options,
        description=render(section.get("description", ""), sample.row),
        text_of=lambda row: render(section["prompt"], row),
        answer_of=lambda row: _answer_of(task, row),
        target_delimiter=section.get("target_delimiter", " "))


def requests(task, sample, options) -> list[LoglikelihoodRequest]:
    prompt = context(task, sample, options)
    delimiter = _section(task).get("target_delimiter", " ")
    return [LoglikelihoodRequest(prompt, delimiter + choice) for choice in _choices(task, sample.row)]


def _subject(task, sample) -> str | None:
    field = task.settings.get("subject_field")
    value = sample.row.get(field) if field else None
    return str(value) if value not in (None, "") else None


def score(task, samples, responses, options):
    records = []
    for sample, answers in zip(samples, responses):
        choices = _choices(task, sample.row)
        gold = _gold(task, sample.row, len(choices))
        lls = [a.logprob for a in answers]
        picked = max(range(len(lls)), key=lls.__getitem__)
        golds = [gold] if isinstance(gold, int) else gold
        records.append({
            "sample_id": sample.id, "prompt": context(task, sample, options),
            "response": choices[picked], "target": " | ".join(choices[g] for g in golds),
            "scores": {"acc": scoring.choice_accuracy(lls, gold), "acc_norm": scoring.acc_norm(lls, gold, choices),
                       "loglikelihoods": lls, "is_greedy": [a.is_greedy for a in answers],
                       "subject": _subject(task, sample)},
        })
    return records, _metrics(task, records, options)


def _metrics(task, records: list[dict[str, Any]], options) -> list[dict[str, Any]]:
    shots = fewshot.describe(task, options)
    rows = [metric_rows.mean_row(m, [r["scores"][m] for r in records], primary=m == PRIMARY, fewshot=shots)
            for m in METRICS]
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["scores"]["subject"] is not None:
            by_subject[record["scores"]["subject"]].append(record)
    for subject in sorted(by_subject):
        rows += [metric_rows.mean_row(f"{m}/{subject}", [r["scores"][m] for r in by_subject[subject]],
                                      subject=subject) for m in METRICS]
    return rows


def compare(metric, records_a, records_b, seed=0) -> stats.Comparison:
    """McNemar's test on the questions both models answered (within one subject for acc/<subject>)."""
    base, _, subject = metric.partition("/")
    if base not in METRICS:
        raise ValueError(f"choice tasks have no metric {metric!r}; they report {', '.join(METRICS)} (and /<subject>)")
    pairs = [(a, b) for a, b in zip(records_a, records_b) if not subject or a["scores"].get("subject") == subject]
    return stats.compare([a["scores"][base] for a, _ in pairs], [b["scores"][base] for _, b in pairs], seed=seed)


class ChoiceKind(TaskKind):
    name = "choice"
    default_primary = ("acc",)
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)
