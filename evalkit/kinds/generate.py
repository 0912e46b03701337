"""Free-text generation scored against a reference: an extracted answer (GSM8K's
strict and flexible match) or a reference metric (ROUGE, BLEU, chrF).

The task file names its scorers at the top level (`scorers = [...]`, names from
evalkit.scoring.metrics: per-sample scorers, or the corpus metrics `bleu` and `chrf`) and
describes generation in [generate]:

    description       template before the few-shot examples
    prompt            template of one question (lm-eval's doc_to_text)
    target            template of the reference the scorers compare with (doc_to_target)
    fewshot_target    the answer shown in few-shot examples (default: target)
    prediction        template of what the scorers read, from the row's fields and the
                      model's `response` (default: the response as generated), e.g.
                      "{{ response | trim | lower }}" for exact match of short answers
    target_delimiter  between an example's prompt and its answer, default " "
    stop, max_new_tokens, temperature, top_p, chat, system: the GenerationRequest
    primary           the metrics in the leaderboard's main table (default: all)
    contrast          reference metrics against true vs false answers (TruthfulQA): some of
                      bleu, rouge1, rouge2, rougeL, each reported as _max, _diff and _acc
                      (evalkit/kinds/contrast.py); with true_references and false_references,
                      expressions giving the row's lists of true and of false answers

An output a scorer cannot parse (no number for GSM8K) scores 0, as in lm-eval,
and is counted in the metric row's `unscored`.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from evalkit.config import check_keys
from evalkit.data import fewshot
from evalkit.data.templates import compile_template, evaluate, render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import contrast, formats, metric_rows
from evalkit.kinds.base import TaskKind
from evalkit.scoring import evaluate_metrics, stats
from evalkit.scoring import metrics as scoring
from evalkit.types import GenerationRequest

SECTION_KEYS = {"description", "prompt", "target", "fewshot_target", "prediction", "target_delimiter", "stop",
                "max_new_tokens", "temperature", "top_p", "chat", "system", "primary", "contrast",
                "true_references", "false_references"}
# A reference these scorers cannot use is a data error, found before any generation.
REFERENCE_CHECKS = {"gsm8k_strict": scoring.gsm8k_target, "gsm8k_flexible": scoring.gsm8k_target}
BOOTSTRAP_INTERVAL = f"bootstrap over samples ({metric_rows.BOOTSTRAP_ROUNDS} rounds)"


def _section(task) -> dict[str, Any]:
    return task.section("generate")


def scorer_names(task) -> list[str]:
    return list(task.settings.get("scorers", []))


def evaluate_scorer(task, name: str):
    """A Hugging Face evaluate metric named in `scorers`, with its [scorer_args."evaluate:..."] table."""
    args = task.settings.get("scorer_args", {}).get(name, {})
    if not isinstance(args, dict):
        raise ConfigError(f"{task.path}: [scorer_args.\"{name}\"] must be a table of compute() arguments")
    return _evaluate_scorer(name, str(task.path), tuple(sorted(args.items())))


@functools.cache
def _evaluate_scorer(name: str, where: str, args: tuple):
    return evaluate_metrics.scorer(name, dict(args), where)


def contrast_metrics(task) -> list[str]:
    return list(_section(task).get("contrast", []))


def validate(task) -> None:
    section = _section(task)
    check_keys(section, SECTION_KEYS, str(task.path), prefix="generate.")
    for key in ("prompt", "target"):
        if not isinstance(section.get(key), str) or not section[key]:
            raise ConfigError(f"{task.path}: [generate] needs `{key}`, a template such as \"{{{{ question }}}}\"")
    for key in ("description", "prompt", "target", "fewshot_target", "prediction", "system"):
        if key in section:
            _check_template(task, key, section[key])
    _check_scorers(task)
    _check_generation(task, section)
    fewshot.settings(task)


def _check_template(task, key: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ConfigError(f"{task.path}: [generate].{key} must be a string, got {value!r}")
    try:
        compile_template(value)
    except Exception as err:
        raise ConfigError(f"{task.path}: [generate].{key} is not a valid template: {err}") from None


def _check_contrast(task) -> None:
    section = _section(task)
    chosen = section.get("contrast", [])
    if not isinstance(chosen, list) or not set(chosen) <= set(contrast.CONTRAST_METRICS):
        raise ConfigError(f"{task.path}: [generate].contrast = {chosen!r}; use a list of "
                          f"{', '.join(contrast.CONTRAST_METRICS)}")
    for key in ("true_references", "false_references"):
        if chosen and (not isinstance(section.get(key), str) or not section[key].strip()):
            raise ConfigError(f"{task.path}: [generate].contrast needs `{key}`, an expression giving a list "
                              f"of answers, e.g. {key} = \"correct_answers\"")


def _check_scorers(task) -> None:
    _check_contrast(task)
    names = task.settings.get("scorers", [])
    known = sorted([n for n, k in scoring.SCORER_KINDS.items() if k == "generate"] + list(scoring.CORPUS_METRICS))
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not (names or contrast_metrics(task)):
        raise ConfigError(f"{task.path}: `scorers` must be a non-empty list of names, e.g. [\"exact_match\"]; "
                          f"known: {', '.join(known)}")
    for name in names:
        if evaluate_metrics.is_evaluate(name):
            evaluate_scorer(task, name)("test", "test")  # loads the metric and finds its score now, not after generating
        elif name not in known:
            raise ConfigError(f"{task.path}: unknown scorer {name!r}; known: {', '.join(known)}, or "
                              f"\"evaluate:NAME_OR_PATH\" for a Hugging Face evaluate metric")
    args = task.settings.get("scorer_args", {})
    if not isinstance(args, dict):
        raise ConfigError(f"{task.path}: [scorer_args] must be a table of [scorer_args.\"evaluate:NAME\"] tables")
    metrics = {n for n in names if evaluate_metrics.is_evaluate(n)}
    if args and not metrics:
        raise ConfigError(f"{task.path}: [scorer_args.\"{sorted(args)[0]}\"] is set but `scorers` names no "
                          f"\"evaluate:...\" metric to pass it to; add it to `scorers` or remove the table")
    check_keys(args, metrics, str(task.path), prefix="scorer_args.")
    produced = names + contrast.metric_names(contrast_metrics(task))
    primary = _section(task).get("primary", produced)
    if not isinstance(primary, list) or not set(primary) <= set(produced):
        raise ConfigError(f"{task.path}: [generate].primary = {primary!r} must list some of the metrics {produced}")


def _check_generation(task, section: dict[str, Any]) -> None:
    where = f"{task.path}: [generate]"
    stop = section.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError(f"{where}.stop must be a list of non-empty strings, got {stop!r}")
    tokens = section.get("max_new_tokens", 256)
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 32768:
        raise ConfigError(f"{where}.max_new_tokens = {tokens!r}; use a whole number 1..32768")
    temperature = section.get("temperature", 0.0)
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ConfigError(f"{where}.temperature = {temperature!r}; use 0 (greedy) or a positive number")
    top_p = section.get("top_p", 1.0)
    if not isinstance(top_p, (int, float)) or not 0 < top_p <= 1:
        raise ConfigError(f"{where}.top_p = {top_p!r}; use a number in (0, 1]")
    if not isinstance(section.get("chat", False), bool):
        raise ConfigError(f"{where}.chat must be true or false")


def reference(task, row: dict[str, Any]) -> str:
    return render(_section(task)["target"], row)


def check_sample(task, sample) -> None:
    section = _section(task)
    try:
        render(section.get("description", ""), sample.row)
        render(section["prompt"], sample.row)
        target = reference(task, sample.row)
    except Exception as err:
        raise DataError(f"{sample.origin}: {type(err).__name__}: {err}; fix the row or the task's [generate] "
                        f"prompt/target (row fields: {', '.join(sorted(sample.row))})") from None
    for name in scorer_names(task):
        check = REFERENCE_CHECKS.get(name)
        if check is None:
            continue
        try:
            check(target)
        except ValueError as err:
            raise DataError(f"{sample.origin}: the reference (target = {section['target']!r}) does not fit "
                            f"scorer {name}: {err}") from None
    if contrast_metrics(task):
        for key in ("true_references", "false_references"):
            try:
                _references(task, sample.row, key)
            except Exception as err:
                raise DataError(f"{sample.origin}: [generate].{key} = {section[key]!r} failed on this row: "
                                f"{type(err).__name__}: {err} (row fields: {', '.join(sorted(sample.row))})") from None


def _references(task, row: dict[str, Any], key: str) -> list[str]:
    refs = evaluate(_section(task)[key], row)
    if not isinstance(refs, (list, tuple)) or not refs or not all(isinstance(r, str) for r in refs):
        raise ValueError(f"expected a non-empty list of strings, got {refs!r}")
    return list(refs)


def prompt(task, sample, options: dict[str, Any]) -> str:
    """The prompt text; in a chat format (evalkit/kinds/formats.py) already rendered by the model's template."""
    section = _section(task)
    answer = section.get("fewshot_target", section["target"])
    parts = dict(description=render(section.get("description", ""), sample.row),
                 text_of=lambda row: render(section["prompt"], row), answer_of=lambda row: render(answer, row),
                 target_delimiter=section.get("target_delimiter", " "))
    fmt = formats.of(task)
    if fmt is not None and fmt.chat:
        return formats.chat_prompt(task, sample, options, fmt, **parts)
    return fewshot.build_prompt(task, sample, options, **parts)


def generation_settings(section: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """GenerationRequest fields from the task file, overridden by suite options of the same name."""
    merged = {**section, **{k: v for k, v in options.items() if k in ("max_new_tokens", "temperature", "top_p")}}
    return {"max_new_tokens": int(merged.get("max_new_tokens", 256)), "stop": tuple(merged.get("stop", ())),
            "temperature": float(merged.get("temperature", 0.0)), "top_p": float(merged.get("top_p", 1.0)),
            "chat": bool(merged.get("chat", False)), "system": merged.get("system")}


def requests(task, sample, options) -> list[GenerationRequest]:
    settings = generation_settings(_section(task), options)
    fmt = formats.of(task)
    if fmt is not None and fmt.chat:  # the prompt is rendered already: the backend must not wrap it again
        settings.update(chat=False, system=None)
    # Greedy output does not depend on the seed: leave it out of the cache key.
    seed = int(options.get("seed", 0)) if settings["temperature"] > 0 else 0
    return [GenerationRequest(prompt(task, sample, options), seed=seed, **settings)]


def score(task, samples, responses, options):
    names = scorer_names(task)
    records = []
    for sample, (response,) in zip(samples, responses):
        target = reference(task, sample.row)
        scores: dict[str, Any] = {"finish_reason": response.finish_reason, "tokens": response.n_tokens}
        predicted = prediction(task, sample.row, response.text)
        if predicted != response.text:
            scores["prediction"] = predicted
        if contrast_metrics(task):
            scores.update(contrast.contrast_scores(predicted, _references(task, sample.row, "true_references"),
                                                   _references(task, sample.row, "false_references"),
                                                   contrast_metrics(task)))
        for name in names:
            if name in scoring.CORPUS_METRICS:
                continue
            if evaluate_metrics.is_evaluate(name):
                scores[name], scores[f"{name}_valid"] = evaluate_scorer(task, name)(predicted, target), True
                continue
            result = scoring.get_scorer(name)(predicted, target)
            scores[name] = result.value
            if result.extracted is not None or not result.valid:
                scores[f"{name}_extracted"] = result.extracted
            scores[f"{name}_valid"] = result.valid
        records.append({"sample_id": sample.id, "prompt": prompt(task, sample, options),
                        "response": response.text, "target": target, "scores": scores})
    return records, _metrics(task, records, options)


def _metrics(task, records: list[dict[str, Any]], options) -> list[dict[str, Any]]:
    produced = contrast.metric_names(contrast_metrics(task))
    primary = set(_section(task).get("primary", scorer_names(task) + produced))
    shots = fewshot.describe(task, options)
    rows = [metric_rows.mean_row(name, [r["scores"][name] for r in records], primary=name in primary,
                                 fewshot=shots) for name in produced]
    for name in scorer_names(task):
        if name in scoring.CORPUS_METRICS:
            table, score_of = _corpus_table(name, records)
            estimate = stats.bootstrap_ci(table, score_of, rounds=metric_rows.BOOTSTRAP_ROUNDS,
                                          seed=int(options.get("seed", 0)))
            rows.append(metric_rows.row(name, estimate, BOOTSTRAP_INTERVAL, primary=name in primary, fewshot=shots))
        else:
            unscored = sum(not r["scores"][f"{name}_valid"] for r in records)
            rows.append(metric_rows.mean_row(name, [r["scores"][name] for r in records], unscored=unscored,
                                             primary=name in primary, fewshot=shots))
    return rows


def prediction(task, row: dict[str, Any], response: str) -> str:
    template = _section(task).get("prediction")
    return response if template is None else render(template, {**row, "response": response})


def _corpus_table(name: str, records: list[dict[str, Any]]):
    predictions = [r["scores"].get("prediction", r["response"]) for r in records]
    return scoring.corpus_statistics(name, predictions, [r["target"] for r in records])


def compare(metric, records_a, records_b, seed=0) -> stats.Comparison:
    """McNemar for 0/1 scores (exact match), paired bootstrap for ROUGE; BLEU and chrF
    by a paired bootstrap that recomputes the corpus score of each resample."""
    if metric in scoring.CORPUS_METRICS:
        table_a, score_of = _corpus_table(metric, records_a)
        table_b, _ = _corpus_table(metric, records_b)
        return stats.paired_bootstrap(table_a, table_b, rounds=metric_rows.BOOTSTRAP_ROUNDS, seed=seed,
                                      statistic=score_of)
    if not records_a or metric not in records_a[0]["scores"]:
        # a metric this task's scorers do not produce (asked for by an older store's default primary)
        return stats.Comparison(math.nan, math.nan, math.nan, math.nan, len(records_a), "not scored by this task")
    return stats.compare([r["scores"][metric] for r in records_a], [r["scores"][metric] for r in records_b],
                         seed=seed)


def reported_metrics(task) -> list[str]:
    """Its scorers' metrics, then the contrast metrics (TruthfulQA's BLEU/ROUGE against true vs false)."""
    return scorer_names(task) + contrast.metric_names(contrast_metrics(task))


class GenerateKind(TaskKind):
    name = "generate"
    task_keys = frozenset({"generate", "scorers", "scorer_args"})
    health = "output"
    default_primary = ("gsm8k_strict", "gsm8k_flexible")
    reported_metrics = staticmethod(reported_metrics)
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)
