"""Rare vs common tokens: each document's log-likelihood split by how often each token occurs in the
task's own documents (the ones this run scores, under the model's tokenizer).

Token types are cut into three buckets of about equal share of the text's tokens, rarest first, so
"rare" is the least frequent third of what the model read, labelled by the counts it holds. A model
whose gain is all in common tokens has learnt the style more than the content.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

BUCKETS = 3
NAMES = ("rare", "middle", "common")


def bucket_labels(documents: Sequence[Sequence[int]]) -> dict[int, str]:
    """token id → its bucket's label, e.g. "rare (count 1–3)", from the counts over all documents.

    Token types in order of count fill the buckets a third of the occurrences at a time; all types of
    one count stay together, in the bucket where their occurrences end (so a bucket can stay empty)."""
    counts = Counter(token for tokens in documents for token in tokens)
    total = sum(counts.values())
    by_count: dict[int, list[int]] = {}
    for token, count in counts.items():
        by_count.setdefault(count, []).append(token)
    bucket, held, ended = {}, {}, 0
    for count in sorted(by_count):
        ended += count * len(by_count[count])
        index = -(-ended * BUCKETS // total) - 1  # ceil(share × BUCKETS) − 1, in integers
        held.setdefault(index, []).append(count)
        bucket.update((token, index) for token in by_count[count])
    text = {i: f"{NAMES[i]} (count {_span(min(c), max(c))})" for i, c in held.items()}
    return {token: text[i] for token, i in bucket.items()}


def split(token_ids: Sequence[int], token_logprobs: Sequence[float], labels: dict[int, str]) -> dict[str, list[float]]:
    """A document's [summed log-likelihood, tokens] per bucket (every bucket, zeros where it has none)."""
    if len(token_ids) != len(token_logprobs):
        raise ValueError(f"{len(token_ids)} tokens but {len(token_logprobs)} token log-probabilities")
    parts = {label: [0.0, 0] for label in ordered(labels)}
    for token, logprob in zip(token_ids, token_logprobs):
        part = parts[labels[token]]
        part[0] += logprob
        part[1] += 1
    return parts


def ordered(labels: dict[int, str]) -> list[str]:
    """The bucket labels rarest first."""
    return sorted(set(labels.values()), key=lambda label: int(label.split("count ")[1].split("–")[0].rstrip(")")))


def _span(low: int, high: int) -> str:
    return f"{low}" if low == high else f"{low}–{high}"
