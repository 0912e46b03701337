"""A task's progress counts its items, not its requests: a multiple-choice question is one item however many
options it scores (`--limit 10` on a 4-option task showed 0/40)."""

from evalkit.config import model_spec
from evalkit.models.handle import ModelHandle, fetch_responses
from evalkit.store.db import Store
from evalkit.types import LoglikelihoodRequest


def test_progress_counts_items_whose_every_request_is_answered(tmp_path, tiny_model_dir):
    spec = model_spec("tiny", {"source": str(tiny_model_dir), "batch_size": 2}, "test")
    handle = ModelHandle(spec, tiny_model_dir, "fp-tiny")
    questions = [f"Question {i}? Answer:" for i in range(3)]
    requests = [LoglikelihoodRequest(q, f" {option}") for q in questions for option in "ABCD"]
    item_of = [i for i in range(3) for _ in "ABCD"]
    seen = []
    store = Store(tmp_path / "s.db")
    fetch_responses(handle, requests, store, lambda done, total: seen.append((done, total)), items=item_of)
    assert seen[0] == (0, 3) and seen[-1] == (3, 3)
    assert {total for _, total in seen} == {3}
    again = []
    fetch_responses(handle, requests, store, lambda done, total: again.append((done, total)), items=item_of)
    assert again == [(3, 3)]  # all cached
