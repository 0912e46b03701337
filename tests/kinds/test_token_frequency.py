"""Token-frequency buckets from the task's own documents, and the perplexity kind's split by them."""

from collections import Counter
from pathlib import Path

import pytest

from evalkit.kinds import KINDS, token_frequency
from evalkit.tasks.loading import Sample, Task
from evalkit.types import RollingLoglikelihood

# token 7 is a third of the text, token 8 another third, the rest is spread over rare tokens
DOCS = [[7, 7, 8, 8, 1, 2], [7, 7, 8, 8, 3, 4], [7, 7, 8, 8, 5, 6]]


def test_buckets_hold_about_a_third_of_the_tokens_each_rarest_first():
    labels = token_frequency.bucket_labels(DOCS)
    assert token_frequency.ordered(labels) == ["rare (count 1)", "common (count 6)"]  # 7 and 8 tie at 6
    shares = Counter(labels[t] for doc in DOCS for t in doc)
    assert shares == {"rare (count 1)": 6, "common (count 6)": 12}
    three = token_frequency.bucket_labels([[9] * 9 + [8] * 3 + [1, 2, 3]])
    assert token_frequency.ordered(three) == ["rare (count 1)", "middle (count 3)", "common (count 9)"]


def test_a_document_split_sums_to_its_log_likelihood():
    labels = token_frequency.bucket_labels(DOCS)
    parts = token_frequency.split(DOCS[0], [-1.0, -1.0, -2.0, -2.0, -5.0, -6.0], labels)
    assert parts == {"rare (count 1)": [-11.0, 2], "common (count 6)": [-6.0, 4]}
    with pytest.raises(ValueError, match="6 tokens but 2 token log-probabilities"):
        token_frequency.split(DOCS[0], [-1.0, -1.0], labels)


def perplexity_task():
    settings = {"perplexity": {"text": "{{ text }}"}}
    return Task("toyppl", 1, "perplexity", Path("toyppl.toml"), "", (), settings)


def test_the_perplexity_kind_records_the_split_only_when_every_document_has_per_token_values():
    task, kind = perplexity_task(), KINDS["perplexity"]
    samples = [Sample(f"d{i}", {"text": f"document {i}"}, f"docs.jsonl:{i}") for i in range(3)]
    per_token = [(RollingLoglikelihood(-float(len(d)), len(d), tuple(d), tuple([-1.0] * len(d))),) for d in DOCS]
    records, _ = kind.score(task, samples, per_token, {"seed": 0})
    assert [r["scores"]["by_frequency"] for r in records] == [{"rare (count 1)": [-2.0, 2],
                                                               "common (count 6)": [-4.0, 4]}] * 3
    totals = [(RollingLoglikelihood(-6.0, 6),) for _ in DOCS]  # a backend without per-token values
    records, _ = kind.score(task, samples, totals, {"seed": 0})
    assert all("by_frequency" not in r["scores"] for r in records)
