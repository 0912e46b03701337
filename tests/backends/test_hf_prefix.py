"""Contexts that share a long prefix (few-shot examples) are read once: the same numbers as reading each
context whole, at any batch size."""

import pytest
from backends.test_hf import backend, collect, reference_logprob

from evalkit.backends.tokens import MAX_BUNDLE, MIN_SHARED_PREFIX, context_bundles, prefix_families
from evalkit.types import LoglikelihoodRequest

EXAMPLES = "".join(f"Question: what comes after {w}?\nAnswer: the word after {w}.\n\n"
                   for w in "one two three".split())  # the tiny model reads 256 tokens: the whole prompt must fit
QUESTIONS = ["Question: what comes after nine?\nAnswer:", "Question: what is red?\nAnswer:",
             "Question: name a large animal that lives in the sea?\nAnswer:", "Question: a?\nAnswer:"]
CHOICES = [" ten", " a colour", " the blue whale, which eats krill", " b"]


def few_shot_requests(prefix=EXAMPLES):
    return [LoglikelihoodRequest(prefix + q, c) for q in QUESTIONS for c in CHOICES]


def test_families_group_shared_prefixes_and_leave_every_member_a_token():
    shared = tuple(range(100))
    contexts = [shared + (1, 2), shared + (3,), shared + (1, 2, 5), (7,) * 80, shared[:70] + (9,)]
    families, alone = prefix_families(contexts)
    # sorted, the 70-token sharer comes first and opens the family: the shared part is what all have in common
    assert families == [(70, sorted(contexts[:3] + [contexts[4]]))] and alone == [(7,) * 80]


def test_a_context_that_would_halve_the_shared_prefix_starts_its_own_family():
    shared = tuple(range(200))
    contexts = [shared + (1,), shared + (2,), shared[:80] + (999,), shared[:80] + (999, 1)]
    families, alone = prefix_families(contexts)
    assert families == [(200, contexts[:2]), (80, contexts[2:])] and alone == []  # 80: one own token each


def test_a_short_common_start_is_not_a_family():
    contexts = [tuple(range(MIN_SHARED_PREFIX - 1)) + (i,) for i in range(5)]
    assert prefix_families(contexts) == ([], contexts)


def test_contexts_that_differ_only_near_their_end_are_bundled():
    stem = (5, 6, 7, 8)
    winogrande = [stem + (1,), stem + (2, 3), stem + (4,)]
    subject_line = [(9, 9) + tuple(range(10 * i, 10 * i + 8)) for i in range(1, 3)]  # share 2 of 10 tokens
    assert context_bundles(winogrande + subject_line) == [sorted(winogrande)] + [[c] for c in subject_line]
    many = [stem + (i,) for i in range(MAX_BUNDLE + 1)]
    assert [len(b) for b in context_bundles(many)] == [MAX_BUNDLE, 1]


def test_identical_contexts_keep_one_own_token():
    contexts = [tuple(range(80)), tuple(range(80)) + (5,)]
    families, _ = prefix_families(contexts)
    assert families == [(79, contexts)]


@pytest.mark.parametrize("batch_size", [1, 8, 32])
def test_shared_prefix_scores_equal_whole_contexts(tiny_model_dir, batch_size):
    be = backend(tiny_model_dir, batch_size=batch_size)
    requests = few_shot_requests()
    contexts = {tuple(be.encode(r.context)) for r in requests}
    families, _ = prefix_families(list(contexts))
    assert families and families[0][0] >= MIN_SHARED_PREFIX, "the test must exercise the shared-prefix path"
    results = collect(be.loglikelihood(requests), len(requests))
    for request, result in zip(requests, results):
        assert result.logprob == pytest.approx(reference_logprob(be, request), abs=1e-4)


def test_greedy_flags_agree_with_and_without_a_shared_prefix(tiny_model_dir):
    be = backend(tiny_model_dir, batch_size=8)
    shared = collect(be.loglikelihood(few_shot_requests()), 16)
    # the same questions one at a time: no family forms, every context is read whole
    alone = [collect(be.loglikelihood([r]), 1)[0] for r in few_shot_requests()]
    assert [r.is_greedy for r in shared] == [r.is_greedy for r in alone]
    assert [r.logprob for r in shared] == pytest.approx([r.logprob for r in alone], abs=1e-4)
