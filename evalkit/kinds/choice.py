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
    metrics           which of acc, acc_norm, acc_norm_nospace, mc2 to report (default acc, acc_norm);
                      acc_norm_nospace is lighteval's (SmolLM2's) per-character normalisation of the
                      continuation without its leading space; mc2 is TruthfulQA's normalised
                      probability mass on the gold choices
    primary           the metrics in the leaderboard's main table (default: the first)
    shuffle_choices   an integer seed: each row's options are put in an order drawn from this seed and
                      the row's content, the gold following its option (for data that always puts the
                      right answer in one position, where a constant predictor would score 100 %)

Partial scoring (lm-eval's multiple inputs, Winogrande): the option is in the context and
the shared suffix is scored. Instead of `prompt` and `choices`, give
    contexts          expression: one context per option (doc_to_choice); gold indexes them
    continuation      template of the suffix scored after every context (doc_to_target)
A few-shot example is then the gold context + target_delimiter + continuation.

With a subject_field, every metric also gets one row per subject: `acc/<subject>`.

In a chat format (evalkit/kinds/formats.py) the prompt is rendered by the model's chat template and
each choice follows the assistant header with no delimiter, as lm-eval's --apply_chat_template does.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from functools import lru_cache
from typing import Any

from evalkit.config import check_keys
from evalkit.data import fewshot
from evalkit.data.templates import compile_template, environment, render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import formats, metric_rows
from evalkit.kinds.base import TaskKind
from evalkit.scoring import metrics as scoring
from evalkit.scoring import stats
from evalkit.types import LoglikelihoodRequest, stable_hash

METRICS = ("acc", "acc_norm", "acc_norm_nospace", "mc2")
DEFAULT_METRICS = ["acc", "acc_norm"]
SECTION_KEYS = {"description", "prompt", "choices", "gold", "target_delimiter", "contexts", "continuation",
                "metrics", "primary", "shuffle_choices"}
EXAMPLES = {"prompt": '"{{ question }}\\nAnswer:"', "choices": '"[\\"A\\", \\"B\\"]" or "options"',
            "contexts": '"context_options"', "continuation": '"{{ continuation }}"',
            "gold": '"answer" or "[\\"A\\", \\"B\\"].index(label)"'}


def _section(task) -> dict[str, Any]:
    return task.section("choice")


def _partial(task) -> bool:
    return "contexts" in _section(task)


def metric_names(task) -> list[str]:
    return list(_section(task).get("metrics", DEFAULT_METRICS))


def validate(task) -> None:
    section = _section(task)
    check_keys(section, SECTION_KEYS, str(task.path), prefix="choice.")
    needed = ("contexts", "continuation", "gold") if _partial(task) else ("prompt", "choices", "gold")
    for key in needed:
        if not isinstance(section.get(key), str) or not section[key].strip():
            raise ConfigError(f"{task.path}: [choice] needs `{key}`, e.g. {key} = {EXAMPLES[key]}")
    for key in ("description", "target_delimiter"):
        if key in section and not isinstance(section[key], str):
            raise ConfigError(f"{task.path}: [choice].{key} must be a string, got {section[key]!r}")
    for key in ("description", "prompt", "continuation"):
        try:
            compile_template(section.get(key, ""))
        except Exception as err:
            raise ConfigError(f"{task.path}: [choice].{key} is not a valid template: {err}") from None
    chosen = section.get("metrics", DEFAULT_METRICS)
    if not isinstance(chosen, list) or not chosen or not set(chosen) <= set(METRICS):
        raise ConfigError(f"{task.path}: [choice].metrics = {chosen!r}; use a non-empty list of {', '.join(METRICS)}")
    primary = section.get("primary", chosen[:1])
    if not isinstance(primary, list) or not primary or not set(primary) <= set(chosen):
        raise ConfigError(f"{task.path}: [choice].primary = {primary!r} must list some of the metrics {chosen}")
    seed = section.get("shuffle_choices")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"{task.path}: [choice].shuffle_choices = {seed!r}; give an integer seed, e.g. "
                          "shuffle_choices = 1234, or leave it out to keep the data's order")
    fewshot.settings(task)


@lru_cache(maxsize=64)
def _expression(source: str):
    """Compiled once: compiling a Jinja expression per question dominates loading 14,000 of them."""
    return environment().compile_expression(source, undefined_to_none=False)


def evaluate(source: str, row: dict[str, Any]):
    return _expression(source)(**row)


def _order(task, row: dict[str, Any], n_choices: int) -> list[int]:
    """Which data option sits at each position: the data's order, or with shuffle_choices one drawn from the
    seed and the row's content (the same on every load and machine, whatever the rows' order)."""
    seed = _section(task).get("shuffle_choices")
    order = list(range(n_choices))
    if seed is not None:
        content = {k: v for k, v in row.items() if not k.startswith("_")}  # not which file it came from
        random.Random(f"{seed}:{stable_hash(content)}").shuffle(order)
    return order


def _choices(task, row: dict[str, Any]) -> list[str]:
    """The options: answer strings, or with partial scoring the contexts that hold them."""
    key = "contexts" if _partial(task) else "choices"
    choices = evaluate(_section(task)[key], row)
    if not isinstance(choices, (list, tuple)) or len(choices) < 2 or not all(isinstance(c, str) for c in choices):
        raise ValueError(f"`{key}` must give a list of at least 2 strings, got {choices!r}")
    return [choices[i] for i in _order(task, row, len(choices))]


def _gold(task, row: dict[str, Any], n_choices: int) -> int | list[int]:
    gold = evaluate(_section(task)["gold"], row)
    golds = gold if isinstance(gold, (list, tuple)) else [gold]
    if not golds or not all(isinstance(g, int) and not isinstance(g, bool) and 0 <= g < n_choices for g in golds):
        raise ValueError(f"`gold` must give an index 0..{n_choices - 1} (or a list of them), got {gold!r}")
    order = _order(task, row, n_choices)
    return order.index(gold) if isinstance(gold, int) else [order.index(g) for g in golds]


def _answer_of(task, row: dict[str, Any]) -> str:
    choices = _choices(task, row)
    gold = _gold(task, row, len(choices))
    return choices[gold if isinstance(gold, int) else gold[0]]


def _continuation(task, row: dict[str, Any]) -> str:
    return render(_section(task)["continuation"], row)


def check_sample(task, sample) -> None:
    section, row = _section(task), sample.row
    text = ("continuation", lambda: _continuation(task, row)) if _partial(task) else \
        ("prompt", lambda: render(section["prompt"], row))
    steps = (("description", lambda: render(section.get("description", ""), row)), text,
             ("contexts" if _partial(task) else "choices", lambda: _choices(task, row)),
             ("gold", lambda: _gold(task, row, len(_choices(task, row)))))
    for key, step in steps:
        try:
            step()
        except Exception as err:
            raise DataError(f"{sample.origin}: [choice].{key} = {section.get(key, '')!r} failed on this row: "
                            f"{type(err).__name__}: {err}; fix the row or the task file "
                            f"(row fields: {', '.join(sorted(row))})") from None


def context(task, sample, options: dict[str, Any]) -> str:
    """The prompt every choice is scored after; with partial scoring, what comes before the contexts."""
    section = _section(task)
    if _partial(task):  # an example is its gold context + suffix; the question's own context comes per choice
        text_of = lambda row: "" if row is sample.row else _answer_of(task, row)
        answer_of = lambda row: _continuation(task, row)
    else:
        text_of = lambda row: render(section["prompt"], row)
        answer_of = lambda row: _answer_of(task, row)
    description = render(section.get("description", ""), sample.row)
    fmt = formats.of(task)
    if fmt is not None and fmt.chat:
        return formats.chat_prompt(task, sample, options, fmt, description, text_of, answer_of,
                                   section.get("target_delimiter", " "))
    return fewshot.build_prompt(task, sample, options, description=description, text_of=text_of,
                                answer_of=answer_of, target_delimiter=section.get("target_delimiter", " "))


def _delimiter(task) -> str:
    """Between the prompt and a choice; nothing after a chat template's assistant header."""
    fmt = formats.of(task)
    return "" if fmt is not None and fmt.chat else _section(task).get("target_delimiter", " ")


def requests(task, sample, options) -> list[LoglikelihoodRequest]:
    prompt = context(task, sample, options)
    delimiter = _delimiter(task)
    if _partial(task):
        suffix = delimiter + _continuation(task, sample.row)
        return [LoglikelihoodRequest(prompt + option, suffix) for option in _choices(task, sample.row)]
    return [LoglikelihoodRequest(prompt, delimiter + choice) for choice in _choices(task, sample.row)]


def _subject(task, sample) -> str | None:
    field = task.settings.get("subject_field")
    value = sample.row.get(field) if field else None
    return str(value) if value not in (None, "") else None


def probability_mass(lls: list[float], golds: list[int]) -> float:
    """TruthfulQA MC2: the probability of the gold choices normalised over all choices (lm-eval's
    process_results_mc2), computed relative to the largest log-likelihood so that long answers whose
    exp() underflows still count."""
    top = max(lls)
    weights = [math.exp(ll - top) for ll in lls]
    return sum(weights[g] for g in golds) / sum(weights)


def _pick(task, lls: list[float], choices: list[str]) -> int:
    """The option the task's headline metric picks (its first primary): the most likely one, or the
    most likely per character where a normalised accuracy leads (a cloze format read as lm-eval's
    acc_norm or SmolLM2's acc_norm_nospace), so the response and the report's pick counts are that one."""
    lead = _section(task).get("primary", metric_names(task)[:1])[0]
    if lead == "acc_norm":
        lengths = [len(c) for c in choices]
    elif lead == "acc_norm_nospace":
        lengths = [len(c) - 1 if c.startswith(" ") else len(c) for c in (_delimiter(task) + c for c in choices)]
    else:
        lengths = [1] * len(choices)
    return max(range(len(lls)), key=lambda i: lls[i] / max(lengths[i], 1))


def score(task, samples, responses, options):
    records, names = [], metric_names(task)
    for sample, answers in zip(samples, responses):
        choices = _choices(task, sample.row)
        gold = _gold(task, sample.row, len(choices))
        lls = [a.logprob for a in answers]
        picked = _pick(task, lls, choices)
        golds = [gold] if isinstance(gold, int) else gold
        scores: dict[str, Any] = {}
        if "acc" in names:
            scores["acc"] = scoring.choice_accuracy(lls, gold)
        if "acc_norm" in names:
            scores["acc_norm"] = scoring.acc_norm(lls, gold, choices)
        if "acc_norm_nospace" in names:
            scores["acc_norm_nospace"] = scoring.acc_norm_nospace(lls, gold, [_delimiter(task) + c for c in choices])
        if "mc2" in names:
            scores["mc2"] = probability_mass(lls, golds)
        # chosen and gold option positions: what the report's health checks count (picks, majority baseline)
        scores.update(loglikelihoods=lls, is_greedy=[a.is_greedy for a in answers], subject=_subject(task, sample),
                      chosen=picked, gold=golds)
        records.append({"sample_id": sample.id, "prompt": context(task, sample, options), "response": choices[picked],
                        "target": " | ".join(choices[g] for g in golds), "scores": scores})
    return records, _metrics(task, records, options)


def _metrics(task, records: list[dict[str, Any]], options) -> list[dict[str, Any]]:
    shots = fewshot.describe(task, options)
    names = metric_names(task)
    primary = _section(task).get("primary", names[:1])
    rows = [metric_rows.mean_row(m, [r["scores"][m] for r in records], primary=m in primary, fewshot=shots)
            for m in names]
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        if record["scores"]["subject"] is not None:
            by_subject[record["scores"]["subject"]].append(record)
    for subject in sorted(by_subject):
        rows += [metric_rows.mean_row(f"{m}/{subject}", [r["scores"][m] for r in by_subject[subject]],
                                      subject=subject) for m in names]
    return rows


def compare(metric, records_a, records_b, seed=0) -> stats.Comparison:
    """McNemar's test on the questions both models answered (within one subject for acc/<subject>);
    a paired bootstrap for mc2, which is not 0/1."""
    base, _, subject = metric.partition("/")
    if base not in METRICS or (records_a and base not in records_a[0]["scores"]):
        raise ValueError(f"this choice task has no metric {metric!r}; choice tasks report {', '.join(METRICS)} "
                         "(those in the task's [choice].metrics, and /<subject>)")
    pairs = [(a, b) for a, b in zip(records_a, records_b) if not subject or a["scores"].get("subject") == subject]
    return stats.compare([a["scores"][base] for a, _ in pairs], [b["scores"][base] for _, b in pairs], seed=seed)


class ChoiceKind(TaskKind):
    name = "choice"
    task_keys = frozenset({"choice"})
    health = "choice"
    default_primary = ("acc",)
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)
    reported_metrics = staticmethod(metric_names)
