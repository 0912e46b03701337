"""One continuation per item, scored by its log-likelihood (lm-eval's `loglikelihood` output
type, LAMBADA): is the continuation the model's greedy choice, and how likely is it.

The task file's [loglikelihood] table:

    context        template of what the model reads (lm-eval's doc_to_text)
    continuation   template of what is scored after it, with its own leading space when the
                   task wants one (doc_to_target; lm-eval's target_delimiter is then "")

Metrics, as lm-eval defines them: `acc`, the share of items whose whole continuation is the
greedy decoding of the context (is_greedy), and `perplexity` = exp(−mean log-likelihood per
item) — a mean over items, not per token. Zero-shot only: there are no examples to show.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from evalkit.config import check_keys
from evalkit.data.templates import compile_template, render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import metric_rows
from evalkit.kinds.base import TaskKind
from evalkit.scoring import stats
from evalkit.types import LoglikelihoodRequest

SECTION_KEYS = {"context", "continuation"}
PERPLEXITY_INTERVAL = f"bootstrap over items ({metric_rows.BOOTSTRAP_ROUNDS} rounds)"


def _section(task) -> dict[str, Any]:
    return task.section("loglikelihood")


def validate(task) -> None:
    section, where = _section(task), f"{task.path}: [loglikelihood]"
    check_keys(section, SECTION_KEYS, str(task.path), prefix="loglikelihood.")
    for key in ("context", "continuation"):
        if not isinstance(section.get(key), str) or not section[key]:
            raise ConfigError(f"{where} needs `{key}`, a template such as \"{{{{ {key} }}}}\"")
        try:
            compile_template(section[key])
        except Exception as err:
            raise ConfigError(f"{where}.{key} is not a valid template: {err}") from None
    if "fewshot" in task.settings:
        raise ConfigError(f"{task.path}: loglikelihood tasks are zero-shot; remove the [fewshot] table")


def _texts(task, row: dict[str, Any]) -> tuple[str, str]:
    section = _section(task)
    return render(section["context"], row), render(section["continuation"], row)


def check_sample(task, sample) -> None:
    try:
        context, continuation = _texts(task, sample.row)
    except Exception as err:
        raise DataError(f"{sample.origin}: [loglikelihood] templates failed on this row: {type(err).__name__}: "
                        f"{err} (row fields: {', '.join(sorted(sample.row))})") from None
    for name, text in (("context", context), ("continuation", continuation)):
        if not text.strip():
            raise DataError(f"{sample.origin}: the {name} renders empty for this row; fix or remove the row")


def requests(task, sample, options) -> list[LoglikelihoodRequest]:
    if options.get("num_fewshot"):
        raise ConfigError(f"task {task.name!r} is zero-shot only (a loglikelihood task shows no examples); "
                          f"remove num_fewshot = {options['num_fewshot']} from the suite")
    return [LoglikelihoodRequest(*_texts(task, sample.row))]


def _perplexity(lls: np.ndarray) -> np.ndarray:
    """exp(−mean) over the last axis: rows are bootstrap resamples."""
    return np.exp(-lls.mean(axis=-1))


def score(task, samples, responses, options):
    records = []
    for sample, (answer,) in zip(samples, responses):
        context, continuation = _texts(task, sample.row)
        records.append({"sample_id": sample.id, "prompt": context, "response": "", "target": continuation,
                        "scores": {"acc": 1.0 if answer.is_greedy else 0.0, "loglikelihood": answer.logprob,
                                   "tokens": answer.n_tokens}})
    lls = np.array([r["scores"]["loglikelihood"] for r in records])
    estimate = stats.bootstrap_ci(lls, _perplexity, rounds=metric_rows.BOOTSTRAP_ROUNDS,
                                  seed=int(options.get("seed", 0)), vectorized=True)
    metrics = [metric_rows.mean_row("acc", [r["scores"]["acc"] for r in records], primary=True),
               metric_rows.row("perplexity", estimate, PERPLEXITY_INTERVAL, primary=True, higher_is_better=False)]
    return records, metrics


def compare(metric, records_a, records_b, seed=0) -> stats.Comparison:
    """McNemar for acc; a paired bootstrap over items of the perplexity difference."""
    if metric == "acc":
        return stats.compare([r["scores"]["acc"] for r in records_a], [r["scores"]["acc"] for r in records_b],
                             seed=seed)
    if metric != "perplexity":
        raise ValueError(f"loglikelihood tasks report acc and perplexity, not {metric!r}")
    a = np.array([r["scores"]["loglikelihood"] for r in records_a])
    b = np.array([r["scores"]["loglikelihood"] for r in records_b])
    return stats.paired_bootstrap(a, b, rounds=metric_rows.BOOTSTRAP_ROUNDS, seed=seed,
                                  statistic=lambda rows: float(_perplexity(rows)))


class LoglikelihoodKind(TaskKind):
    name = "loglikelihood"
    task_keys = frozenset({"loglikelihood"})
    default_primary = ("acc", "perplexity")
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)

    def lower_is_better(self, metric: str) -> bool:
        return metric == "perplexity"
