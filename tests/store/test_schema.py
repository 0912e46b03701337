"""The store creates and migrates its one schema itself, and refuses a store from a newer evalkit."""

import sqlite3

import pytest

from evalkit.errors import StoreError
from evalkit.store import Store
from evalkit.store.schema import SCHEMA_VERSION, TABLES


def tables(path) -> set[str]:
    db = sqlite3.connect(path)
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_a_new_store_has_every_table_and_the_current_version(tmp_path):
    Store(tmp_path / "s.db").close()
    expected = {statement.split("EXISTS ")[1].split()[0] for statement in TABLES if "CREATE TABLE" in statement}
    assert expected <= tables(tmp_path / "s.db")
    assert sqlite3.connect(tmp_path / "s.db").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_an_unversioned_store_is_migrated_and_keeps_its_rows(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db")
    old.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL, "
                "request TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)")
    old.execute("INSERT INTO responses VALUES ('k', 'm', 'generate', '{}', '{}', 0)")
    old.commit()
    old.close()
    store = Store(tmp_path / "s.db")
    assert store.count_responses() == 1
    assert {"answers", "judgments", "votes", "trained_models"} <= tables(tmp_path / "s.db")


def test_a_store_from_a_newer_evalkit_is_refused_untouched(tmp_path):
    new = sqlite3.connect(tmp_path / "s.db")
    new.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    new.close()
    with pytest.raises(StoreError, match=r"schema version \d+, written by a newer evalkit.*upgrade evalkit"):
        Store(tmp_path / "s.db")
    assert tables(tmp_path / "s.db") == set()


def test_a_version_1_store_gains_the_judgment_probabilities_table(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db")
    for statement in TABLES:
        if "judgment_probs" not in statement and "run_processes" not in statement:
            old.execute(statement)
    old.execute("INSERT INTO judge_info VALUES ('j', 'set', '{}', 0)")
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    Store(tmp_path / "s.db").close()
    assert "judgment_probs" in tables(tmp_path / "s.db")
    db = sqlite3.connect(tmp_path / "s.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    assert db.execute("SELECT COUNT(*) FROM judge_info").fetchone()[0] == 1


def test_a_version_2_store_gains_the_run_processes_table_and_keeps_its_runs(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db")
    for statement in TABLES:
        if "run_processes" not in statement:
            old.execute(statement)
    old.execute("INSERT INTO runs (started, status, config, provenance) VALUES (0, 'running', '{}', '{}')")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    store = Store(tmp_path / "s.db")
    assert "run_processes" in tables(tmp_path / "s.db")
    # a run from before processes were recorded keeps the state it was stored with
    assert [r["status"] for r in store.list_runs()] == ["running"]
