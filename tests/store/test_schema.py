"""The store creates and migrates its one schema itself, and refuses a store from a newer evalkit."""

import sqlite3

import pytest

from evalkit.errors import StoreError
from evalkit.store import Store
from evalkit import __version__
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


def test_a_store_from_a_newer_evalkit_names_the_version_that_wrote_it(tmp_path):
    new = sqlite3.connect(tmp_path / "s.db")
    new.execute("CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    new.execute("INSERT INTO store_info VALUES ('schema_written_by', '9.4.0')")
    new.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    new.commit()
    new.close()
    with pytest.raises(StoreError, match=rf"written by evalkit 9\.4\.0; this is evalkit {__version__} .*"
                                         r"upgrade evalkit to 9\.4\.0 or later"):
        Store(tmp_path / "s.db")


def test_a_store_records_the_evalkit_that_wrote_its_schema_also_when_migrated(tmp_path):
    Store(tmp_path / "new.db").close()
    old = sqlite3.connect(tmp_path / "old.db")
    for statement in TABLES:
        if "store_info" not in statement:
            old.execute(statement)
    old.execute("PRAGMA user_version = 3")
    old.close()
    Store(tmp_path / "old.db").close()
    for name in ("new.db", "old.db"):
        db = sqlite3.connect(tmp_path / name)
        assert db.execute("SELECT value FROM store_info").fetchall() == [(__version__,)]
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


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
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
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


def test_a_version_3_store_gains_row_fields_on_its_samples_and_keeps_them(tmp_path):
    old = sqlite3.connect(tmp_path / "s.db")
    for statement in TABLES:
        old.execute(statement.replace("fields TEXT NOT NULL DEFAULT '{}',", ""))  # samples as schema 3 had it
    old.execute("INSERT INTO samples VALUES (1, 'base', 'toy', 'q1', 'p', 'r', 't', '{\"acc\": 1.0}')")
    old.execute("PRAGMA user_version = 3")
    old.commit()
    old.close()
    store = Store(tmp_path / "s.db")
    [record] = store.samples(1)
    assert record["scores"] == {"acc": 1.0} and record["fields"] == {}
    store.put_samples(1, "base", "toy", [{**record, "fields": {"subject": "anatomy"}}])
    assert store.samples(1)[0]["fields"] == {"subject": "anatomy"}
    assert sqlite3.connect(tmp_path / "s.db").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
