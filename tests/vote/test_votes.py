"""The votes table: cast, undo, read; durable under SIGKILL; nothing lost with two writers."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evalkit.errors import DataError
from evalkit.store.db import Store
from evalkit.vote.votes import Matchup, cast, undo_last, votes

REPO = Path(__file__).resolve().parents[2]


def matchup(prompt_id: str = "p1", left: str = "sft", right: str = "base") -> Matchup:
    return Matchup("chat", prompt_id, "Why is the sky blue?", left, right, f"answer of {left}", f"answer of {right}")


def test_cast_is_read_back_with_the_order_shown(tmp_path):
    store = Store(tmp_path / "s.db")
    cast(store, "alice", matchup(left="sft", right="base"), "left")
    cast(store, "alice", matchup("p2", left="base", right="sft"), "tie")
    found = votes(store)
    assert [(v.prompt_id, v.model_left, v.model_right, v.winner, v.shown_order) for v in found] == [
        ("p1", "sft", "base", "left", "ba"), ("p2", "base", "sft", "tie", "ab")]
    assert found[0].pair == found[1].pair[:1] + ("p1", "base", "sft")


def test_skips_are_stored_but_are_not_votes(tmp_path):
    store = Store(tmp_path / "s.db")
    cast(store, "alice", matchup(), "skip")
    assert votes(store) == []
    assert [v.winner for v in votes(store, include_skips=True)] == ["skip"]


def test_unknown_vote_and_missing_annotator_are_rejected(tmp_path):
    store = Store(tmp_path / "s.db")
    with pytest.raises(DataError, match="unknown vote 'A'"):
        cast(store, "alice", matchup(), "A")
    with pytest.raises(DataError, match="--annotator"):
        cast(store, "", matchup(), "left")


def test_undo_marks_only_the_annotators_latest_vote(tmp_path):
    store = Store(tmp_path / "s.db")
    first = cast(store, "alice", matchup("p1"), "left")
    cast(store, "bob", matchup("p1"), "right")
    second = cast(store, "alice", matchup("p2"), "skip")
    assert undo_last(store, "alice").id == second
    assert undo_last(store, "alice").id == first
    assert undo_last(store, "alice") is None
    assert [(v.annotator, v.winner) for v in votes(store, include_skips=True)] == [("bob", "right")]
    undone = store.db.execute("SELECT COUNT(*) FROM votes WHERE undone=1").fetchone()[0]
    assert undone == 2  # undo keeps the rows: the history stays auditable


def test_votes_filter_by_annotator_and_prompt_set(tmp_path):
    store = Store(tmp_path / "s.db")
    cast(store, "alice", matchup("p1"), "left")
    cast(store, "bob", Matchup("code", "p1", "q", "sft", "base", "x", "y"), "right")
    assert [v.annotator for v in votes(store, annotator="bob")] == ["bob"]
    assert [v.prompt_set for v in votes(store, prompt_set="chat")] == ["chat"]


def test_reading_votes_from_a_store_written_before_votes_existed(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db")  # a store of an evalkit without votes: no table, no schema version
    old.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, "
                "request TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)")
    old.commit()
    old.close()
    assert votes(Store(tmp_path / "s.db")) == []


VOTER = textwrap.dedent("""
    import sys
    import time
    from pathlib import Path
    from evalkit.store.db import Store
    from evalkit.vote.votes import Matchup, cast
    path, annotator, n, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
    store = Store(path)
    (start.parent / f"ready-{annotator}").touch()
    while not start.exists():  # both writers start together, so their writes interleave
        pass
    for i in range(n):
        cast(store, annotator, Matchup("chat", f"p{i}", "q", "sft", "base", "a", "b"), "left")
        time.sleep(0.003)  # a (very fast) human's pace; back to back, one writer would hold the lock
    if len(sys.argv) > 5:
        import os, signal
        os.kill(os.getpid(), signal.SIGKILL)  # die without closing the store
""")


def _voter(tmp_path: Path, annotator: str, n: int, *extra: str) -> subprocess.Popen:
    script = tmp_path / "voter.py"
    script.write_text(VOTER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / "s.db"), annotator, str(n),
                             str(tmp_path / "go"), *extra], env=env)


def test_two_annotators_voting_at_once_lose_nothing(tmp_path):
    Store(tmp_path / "s.db").close()
    writers = [_voter(tmp_path, name, 150) for name in ("alice", "bob")]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in ("alice", "bob")):
        assert time.monotonic() < deadline, "voter processes did not start within 60 s"
        time.sleep(0.02)
    (tmp_path / "go").touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    store = Store(tmp_path / "s.db")
    found = votes(store)
    assert len(found) == 300
    for name in ("alice", "bob"):
        assert sorted(v.prompt_id for v in found if v.annotator == name) == sorted(f"p{i}" for i in range(150))
    # Interleaved, not one writer after the other: the test really had them compete.
    order = [v.annotator for v in found]
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches > 1, "the two writers never interleaved; the test did not exercise concurrent writes"


def test_votes_survive_sigkill(tmp_path):
    Store(tmp_path / "s.db").close()
    (tmp_path / "go").touch()
    writer = _voter(tmp_path, "alice", 25, "kill")
    assert writer.wait(timeout=60) == -signal.SIGKILL
    assert len(votes(Store(tmp_path / "s.db"))) == 25
