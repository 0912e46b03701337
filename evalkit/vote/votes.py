"""The votes table: every vote (and skip) is one row, committed the moment it is cast.

Each write is its own short `BEGIN IMMEDIATE` transaction on the WAL store, so
killing the app (even with SIGKILL) loses nothing already cast, and two annotators
voting on the same database at once simply take turns at the write lock.
Undo never deletes: it marks the row `undone`, so the history stays auditable.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from evalkit.errors import DataError
from evalkit.store import Store

# 'skip' rows are kept so a skipped pair is not shown again straight away; they
# never count as votes in ratings or agreement.
WINNERS = ("left", "right", "tie", "both_bad")
SKIP = "skip"



@dataclass(frozen=True)
class Matchup:
    """One prompt and two models' answers, in the left/right order shown.

    shown_order is 'ab' when the left model is the first of the two by name,
    'ba' when the order was swapped; answers are hashed into the vote so a vote
    stays tied to the exact texts the annotator read.
    """

    prompt_set: str
    prompt_id: str
    prompt: str
    model_left: str
    model_right: str
    answer_left: str
    answer_right: str

    @property
    def shown_order(self) -> str:
        return "ab" if self.model_left < self.model_right else "ba"

    @property
    def pair(self) -> tuple[str, str, str, str]:
        """The order-free identity of what is compared: (set, prompt id, model, model)."""
        first, second = sorted((self.model_left, self.model_right))
        return (self.prompt_set, self.prompt_id, first, second)


@dataclass(frozen=True)
class Vote:
    id: int
    annotator: str
    prompt_set: str
    prompt_id: str
    model_left: str
    model_right: str
    winner: str
    shown_order: str
    created: float
    answer_left_sha: str
    answer_right_sha: str

    @property
    def pair(self) -> tuple[str, str, str, str]:
        first, second = sorted((self.model_left, self.model_right))
        return (self.prompt_set, self.prompt_id, first, second)

    def answer_sha(self, model: str) -> str:
        return self.answer_left_sha if model == self.model_left else self.answer_right_sha




def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


AnswerHashes = dict[tuple[str, str, str], str]  # (prompt set, prompt id, model) → text_sha of the stored answer


def answer_hashes(answers) -> AnswerHashes:
    """Hashes of the answers stored now, to tell current votes from stale ones."""
    return {(a.prompt_set, a.prompt_id, a.model): text_sha(a.answer) for a in answers}


def is_current(vote: Vote, hashes: AnswerHashes) -> bool:
    """False when an answer the vote was cast on has since been regenerated (a retrained model):
    the vote judged texts that no longer stand for that model. A vote whose answers are no longer
    stored at all is kept, since nothing says it is stale."""
    for model in (vote.model_left, vote.model_right):
        now = hashes.get((vote.prompt_set, vote.prompt_id, model))
        if now is not None and now != vote.answer_sha(model):
            return False
    return True


def cast(store: Store, annotator: str, matchup: Matchup, winner: str) -> int:
    """Commit one vote (or 'skip') now; returns its row id."""
    _check(annotator, winner)
    with store.transaction() as db:
        return _insert(db, annotator, matchup, winner)


def cast_once(store: Store, annotator: str, matchup: Matchup, winner: str) -> int | None:
    """Commit a vote unless this annotator already has one on the same pair of the same answers; None
    then. Two windows of one annotator (the web page twice, or beside the terminal app) can show the
    same pair; the check and the write are one transaction, so the second vote never lands."""
    _check(annotator, winner)
    with store.transaction() as db:
        if winner != SKIP and _already_voted(db, annotator, matchup):
            return None
        return _insert(db, annotator, matchup, winner)


def _check(annotator: str, winner: str) -> None:
    if winner not in WINNERS + (SKIP,):
        raise DataError(f"unknown vote {winner!r}; expected one of {', '.join(WINNERS + (SKIP,))}")
    if not annotator:
        raise DataError("a vote needs an annotator name; pass --annotator NAME")


def _insert(db, annotator: str, matchup: Matchup, winner: str) -> int:
    row = (annotator, matchup.prompt_set, matchup.prompt_id, matchup.model_left, matchup.model_right, winner,
           matchup.shown_order, text_sha(matchup.answer_left), text_sha(matchup.answer_right), time.time())
    cursor = db.execute(
        "INSERT INTO votes (annotator, prompt_set, prompt_id, model_left, model_right, winner, shown_order, "
        "answer_left_sha, answer_right_sha, created) VALUES (?,?,?,?,?,?,?,?,?,?)", row)
    return int(cursor.lastrowid)


def _already_voted(db, annotator: str, matchup: Matchup) -> bool:
    sha = {matchup.model_left: text_sha(matchup.answer_left), matchup.model_right: text_sha(matchup.answer_right)}
    (first, sha_first), (second, sha_second) = sorted(sha.items())
    found = db.execute(
        "SELECT 1 FROM votes WHERE annotator=? AND undone=0 AND winner != 'skip' AND prompt_set=? AND prompt_id=? "
        "AND ((model_left=? AND model_right=? AND answer_left_sha=? AND answer_right_sha=?) "
        "OR (model_left=? AND model_right=? AND answer_left_sha=? AND answer_right_sha=?)) LIMIT 1",
        (annotator, matchup.prompt_set, matchup.prompt_id, first, second, sha_first, sha_second,
         second, first, sha_second, sha_first)).fetchone()
    return found is not None


def undo_last(store: Store, annotator: str) -> Vote | None:
    """Mark the annotator's latest vote or skip as undone; None when there is nothing to undo."""
    with store.transaction() as db:
        found = db.execute(f"SELECT {_COLUMNS} FROM votes WHERE annotator=? AND undone=0 ORDER BY id DESC LIMIT 1",
                           (annotator,)).fetchone()
        if found is None:
            return None
        db.execute("UPDATE votes SET undone=1 WHERE id=?", (found[0],))
    return Vote(*found)


def by_id(store: Store, vote_id: int) -> Vote | None:
    """One row of the table, undone or not."""
    found = store.db.execute(f"SELECT {_COLUMNS} FROM votes WHERE id=?", (vote_id,)).fetchone()
    return Vote(*found) if found else None


def votes(store: Store, annotator: str | None = None, prompt_set: str | None = None,
          include_skips: bool = False) -> list[Vote]:
    """Votes not undone, oldest first (online Elo reads them in this order)."""
    query, args = f"SELECT {_COLUMNS} FROM votes WHERE undone=0", []
    if not include_skips:
        query += " AND winner != 'skip'"
    if annotator is not None:
        query, args = query + " AND annotator=?", args + [annotator]
    if prompt_set is not None:
        query, args = query + " AND prompt_set=?", args + [prompt_set]
    return [Vote(*row) for row in store.db.execute(query + " ORDER BY id", args)]


_COLUMNS = ("id, annotator, prompt_set, prompt_id, model_left, model_right, winner, shown_order, created, "
            "answer_left_sha, answer_right_sha")
