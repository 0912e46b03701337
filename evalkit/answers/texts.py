"""The stored answers' texts behind judged or voted pairs, for features read from the texts
themselves (style control). A pair whose answer is no longer stored cannot be featurised: one
error line names it and how to get it back."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evalkit.answers.generate import stored_answers
from evalkit.errors import DataError
from evalkit.store import Store

AnswerKey = tuple[str, str, str]  # (prompt set, prompt id, model)
PairItem = tuple[str, str, str, str]  # (prompt set, prompt id, model_a, model_b)


class MissingAnswersError(DataError):
    """Pairs whose answer texts the store no longer holds."""


def answer_texts(store: Store, prompt_set: str | None = None) -> dict[AnswerKey, str]:
    return {(a.prompt_set, a.prompt_id, a.model): a.answer for a in stored_answers(store, prompt_set=prompt_set)}


def pair_texts(items: Sequence[PairItem], texts: dict[AnswerKey, str], what: str,
               store_path: Path) -> tuple[list[str], list[str]]:
    """(model_a's answers, model_b's answers) of every item, or MissingAnswersError naming the first gap."""
    missing = [(s, p, m) for s, p, a, b in items for m in (a, b) if (s, p, m) not in texts]
    if missing:
        prompt_set, prompt_id, model = missing[0]
        items_missing = sum(any((s, p, m) not in texts for m in (a, b)) for s, p, a, b in items)
        raise MissingAnswersError(
            f"style control reads both answers of every {what}, but {items_missing} of {len(items)} {what}s have an "
            f"answer missing from the store {store_path} (first: model {model!r}, prompt set {prompt_set!r}, prompt "
            f"{prompt_id!r}); store them again with `evalkit answers --models {model} --prompt-set {prompt_set}`, "
            f"or rate without style control (`evalkit ratings --no-style`)")
    return [texts[(s, p, a)] for s, p, a, _ in items], [texts[(s, p, b)] for s, p, _, b in items]
