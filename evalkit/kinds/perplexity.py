"""Perplexity: rolling log-likelihood of whole documents.

Token, word and byte perplexity and bits per byte, defined as lm-evaluation-harness
defines them (corpus sums, not means of per-document ratios), so the numbers are
comparable with published ones. Words and bytes are counted on `count_text`,
which for WikiText is the original page before detokenisation, as in lm-eval.
"""

from __future__ import annotations

from evalkit.config import check_keys
from evalkit.data.templates import render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import token_frequency
from evalkit.kinds.base import TaskKind
from evalkit.scoring import stats
from evalkit.types import RollingRequest

SECTION_KEYS = {"text", "count_text", "stride"}


def validate(task) -> None:
    section = task.section("perplexity")
    check_keys(section, SECTION_KEYS, str(task.path), prefix="perplexity.")
    if not isinstance(section.get("text"), str):
        raise ConfigError(f"{task.path}: [perplexity] needs `text`, a template for the text to score, e.g. \"{{{{ text }}}}\"")
    stride = section.get("stride")
    if stride is not None and (not isinstance(stride, int) or stride < 1):
        raise ConfigError(f"{task.path}: [perplexity].stride must be a positive number of tokens, got {stride!r}")


def check_sample(task, sample) -> None:
    try:
        text = render(task.section("perplexity")["text"], sample.row)
    except Exception as err:
        raise DataError(f"{sample.origin}: cannot build the text to score ({err}); check the row's fields") from None
    if not text.strip():
        raise DataError(f"{sample.origin}: empty document; remove it or fix the task's text template")


def requests(task, sample, options) -> list[RollingRequest]:
    return [RollingRequest(document_text(task, sample), stride=task.section("perplexity").get("stride"))]


def document_text(task, sample) -> str:
    return render(task.section("perplexity")["text"], sample.row)


def _count_text(task, sample) -> str:
    section = task.section("perplexity")
    return render(section.get("count_text", section["text"]), sample.row)


def score(task, samples, responses, options):
    records, table = [], []
    for sample, (response,) in zip(samples, responses):
        counted = _count_text(task, sample)
        words, size = stats.count_words(counted), stats.count_bytes(counted)
        table.append((response.logprob, response.n_tokens, words, size))
        # the scored document as the record's prompt, so an export shows what each score is of
        records.append({"sample_id": sample.id, "prompt": document_text(task, sample), "response": "", "target": "",
                        "scores": {"loglikelihood": response.logprob, "tokens": response.n_tokens,
                                   "words": words, "bytes": size}})
    _split_by_frequency(records, [response for (response,) in responses])
    columns = list(zip(*table))
    estimates = stats.perplexity_cis(*columns, seed=options.get("seed", 0))
    metrics = [{"metric": name, "value": e.value, "n": e.n, "ci_low": e.ci_low, "ci_high": e.ci_high,
                "info": {"higher_is_better": False, "interval": "bootstrap over documents"}}
               for name, e in estimates.items()]
    return records, metrics


def _split_by_frequency(records, responses) -> None:
    """Each record's log-likelihood per token-frequency bucket (token_frequency.py), where the backend
    gave per-token log-probabilities for every document; the counts come from these documents."""
    if not responses or any(r.token_ids is None or r.token_logprobs is None for r in responses):
        return
    labels = token_frequency.bucket_labels([r.token_ids for r in responses])
    for record, response in zip(records, responses):
        record["scores"]["by_frequency"] = token_frequency.split(response.token_ids, response.token_logprobs, labels)


def compare(metric, records_a, records_b, seed=0):
    """Paired bootstrap over documents of the difference in a corpus perplexity."""
    import numpy as np

    unit = {"token_perplexity": "tokens", "word_perplexity": "words", "byte_perplexity": "bytes",
            "bits_per_byte": "bytes"}[metric]

    def table(records):
        return np.array([[r["scores"]["loglikelihood"], r["scores"][unit]] for r in records])

    def statistic(rows):
        nats = -rows[:, 0].sum() / rows[:, 1].sum()
        return nats / np.log(2) if metric == "bits_per_byte" else np.exp(nats)

    a, b = table(records_a), table(records_b)
    return stats.paired_bootstrap(a, b, seed=seed, statistic=statistic)


def estimate(metric, records, seed=0):
    """A corpus perplexity of a subset of documents, bootstrapped over them as score() does."""
    if metric not in stats.PERPLEXITY_UNITS or not records:
        return None
    columns = [[r["scores"][key] for r in records] for key in ("loglikelihood", "tokens", "words", "bytes")]
    e = stats.perplexity_cis(*columns, seed=seed)[metric]
    return {"metric": metric, "value": e.value, "n": e.n, "ci_low": e.ci_low, "ci_high": e.ci_high,
            "info": {"higher_is_better": False, "interval": "bootstrap over documents"}}


class PerplexityKind(TaskKind):
    name = "perplexity"
    task_keys = frozenset({"perplexity"})
    token_level = True
    default_primary = ("word_perplexity",)
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)
    estimate = staticmethod(estimate)

    def lower_is_better(self, metric: str) -> bool:
        return True  # every perplexity and bits per byte

    def export_fields(self, record):
        """The scored document (the text, or for a store written before the text was kept, the sample id)
        and its counts."""
        scores = record["scores"]
        return {"document": record["prompt"] or f"(text not stored; sample id {record['sample_id']})",
                "counts": {unit: scores.get(unit) for unit in ("tokens", "words", "bytes")}}
