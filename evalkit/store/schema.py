"""The store's one schema: every table evalkit writes, created and migrated here and nowhere else.

`PRAGMA user_version` holds the schema version. A store from an older evalkit is migrated in place
(each step below is idempotent); a store written by a newer evalkit is refused before any work,
so it is never half-read or half-written.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evalkit import __version__
from evalkit.errors import StoreError

TABLES = [
    # the response cache: one row per (model fingerprint, request, settings) content key
    """CREATE TABLE IF NOT EXISTS responses (
        key TEXT PRIMARY KEY, model TEXT NOT NULL, kind TEXT NOT NULL,
        request TEXT NOT NULL, response TEXT NOT NULL, created REAL NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, finished REAL,
        status TEXT NOT NULL, config TEXT NOT NULL, provenance TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS results (
        run_id INTEGER NOT NULL, model TEXT NOT NULL, task TEXT NOT NULL,
        metric TEXT NOT NULL, value REAL, n INTEGER NOT NULL, ci_low REAL, ci_high REAL,
        unscored INTEGER NOT NULL DEFAULT 0, info TEXT NOT NULL DEFAULT '{}',
        PRIMARY KEY (run_id, model, task, metric))""",
    """CREATE TABLE IF NOT EXISTS samples (
        run_id INTEGER NOT NULL, model TEXT NOT NULL, task TEXT NOT NULL,
        sample_id TEXT NOT NULL, prompt TEXT NOT NULL, response TEXT NOT NULL,
        target TEXT NOT NULL, scores TEXT NOT NULL,
        fields TEXT NOT NULL DEFAULT '{}',  -- the row's short scalar fields, for slicing (evalkit/report/slices.py)
        PRIMARY KEY (run_id, model, task, sample_id))""",
    # fingerprinting large weight files once: a file is re-hashed only when its size or mtime changes
    """CREATE TABLE IF NOT EXISTS file_hashes (
        path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime REAL NOT NULL, sha256 TEXT NOT NULL)""",
    # the models' answers to prompt sets (judged pairwise, voted on)
    """CREATE TABLE IF NOT EXISTS answers (
        model TEXT NOT NULL, fingerprint TEXT NOT NULL, prompt_set TEXT NOT NULL, prompt_id TEXT NOT NULL,
        prompt TEXT NOT NULL, answer TEXT NOT NULL, created REAL NOT NULL,
        PRIMARY KEY (model, prompt_set, prompt_id))""",
    """CREATE TABLE IF NOT EXISTS judgments (
        judge TEXT NOT NULL, prompt_set TEXT NOT NULL, prompt_id TEXT NOT NULL,
        model_a TEXT NOT NULL, model_b TEXT NOT NULL,
        position TEXT NOT NULL,          -- "ab": model_a shown first (as assistant A); "ba": model_b shown first
        key TEXT NOT NULL,               -- content hash of judge, prompt file and both answers: a changed input re-judges
        template TEXT NOT NULL, judge_fingerprint TEXT NOT NULL,
        fingerprint_a TEXT NOT NULL, fingerprint_b TEXT NOT NULL,
        len_a INTEGER NOT NULL, len_b INTEGER NOT NULL,  -- answer lengths in characters (length-controlled win rate)
        raw TEXT NOT NULL,               -- the judge's reply as it came
        shown TEXT,                      -- "A" | "B" | "tie" as the judge saw them; NULL: unscored
        verdict TEXT,                    -- "a" | "b" | "tie" for model_a/model_b; NULL: unscored
        error TEXT, created REAL NOT NULL,
        PRIMARY KEY (judge, prompt_set, prompt_id, model_a, model_b, position))""",
    # verdict probabilities of the judgments whose method gives them (verdict-token probabilities, reward
    # scores), for position calibration; `key` is the judgment's key, so a re-judged row's old ones are ignored
    """CREATE TABLE IF NOT EXISTS judgment_probs (
        judge TEXT NOT NULL, prompt_set TEXT NOT NULL, prompt_id TEXT NOT NULL,
        model_a TEXT NOT NULL, model_b TEXT NOT NULL, position TEXT NOT NULL, key TEXT NOT NULL,
        p_first REAL NOT NULL, p_second REAL NOT NULL, p_tie REAL NOT NULL,  -- "A", "B", "tie" as shown; sum to 1
        PRIMARY KEY (judge, prompt_set, prompt_id, model_a, model_b, position))""",
    """CREATE TABLE IF NOT EXISTS judge_info (
        judge TEXT NOT NULL, prompt_set TEXT NOT NULL, info TEXT NOT NULL, updated REAL NOT NULL,
        PRIMARY KEY (judge, prompt_set))""",
    # human votes; 'skip' rows are kept so a skipped pair is not shown again straight away,
    # and never count as votes in ratings or agreement
    """CREATE TABLE IF NOT EXISTS votes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        annotator TEXT NOT NULL,
        prompt_set TEXT NOT NULL,
        prompt_id TEXT NOT NULL,
        model_left TEXT NOT NULL,
        model_right TEXT NOT NULL,
        winner TEXT NOT NULL CHECK (winner IN ('left', 'right', 'tie', 'both_bad', 'skip')),
        shown_order TEXT NOT NULL CHECK (shown_order IN ('ab', 'ba')),
        answer_left_sha TEXT NOT NULL,
        answer_right_sha TEXT NOT NULL,
        created REAL NOT NULL,
        undone INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS votes_by_annotator ON votes (annotator, undone)",
    # the process that runs (or ran) each run, so a run whose process died reads as interrupted, and the
    # content key of its command, so a rerun of the same command continues it (evalkit/store/runs.py)
    """CREATE TABLE IF NOT EXISTS run_processes (
        run_id INTEGER PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL, ticks TEXT NOT NULL,
        command_key TEXT NOT NULL, resumed INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX IF NOT EXISTS run_processes_by_command ON run_processes (command_key)",
    # facts about the store itself; `schema_written_by`: the evalkit version that brought it to its schema
    # version, so an older evalkit can say which version to upgrade to
    """CREATE TABLE IF NOT EXISTS store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
    # candidates built from recipes, keyed by parent + recipe + data hash
    """CREATE TABLE IF NOT EXISTS trained_models (
        key TEXT PRIMARY KEY, folder TEXT NOT NULL, stage TEXT NOT NULL, parent TEXT NOT NULL,
        created REAL NOT NULL, provenance TEXT NOT NULL)""",
]

# Version 1: the tables above but judgment_probs. Stores written before versions existed (user_version 0)
# hold a subset of them with the same columns, so creating the missing ones migrates them.
# Version 2: judgment_probs, a new table, so creating it is the whole migration (step 1 may already have).
# Version 3: run_processes (a new table and its index; runs from before it have no process row and
# keep the status they were stored with).
# Version 4: samples.fields, the row fields a report slices by; records stored before it keep '{}'
# (sliceable by the lengths of their prompt and target, not by row fields, until rerun).
# Version 5: store_info (a new table), holding the evalkit version that wrote the schema.
SCHEMA_VERSION = 5


def add_column(table: str, column: str, declaration: str):
    """A migration step adding a column, idempotent as the others are: step 1 of a store from before
    versions creates `table` with the column already, and ALTER TABLE would then fail."""
    def step(db: sqlite3.Connection) -> None:
        if column not in {row[1] for row in db.execute(f"PRAGMA table_info({table})")}:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
    return step


MIGRATIONS: dict[int, list] = {1: TABLES, 2: [s for s in TABLES if "judgment_probs" in s],
                               3: [s for s in TABLES if "run_processes" in s],
                               4: [add_column("samples", "fields", "TEXT NOT NULL DEFAULT '{}'")],
                               5: [s for s in TABLES if "store_info" in s]}
WRITTEN_BY = "schema_written_by"


def prepare(db: sqlite3.Connection, path: Path, begin=None) -> None:
    """Bring the database at `path` to SCHEMA_VERSION, or refuse it with the reason and the fix.
    `begin` opens a write transaction (the store's, which waits a bounded time for other writers)."""
    found = db.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        writer = written_by(db)
        by = f"evalkit {writer}" if writer else "a newer evalkit"
        upgrade = f"upgrade evalkit to {writer} or later" if writer else "upgrade evalkit"
        raise StoreError(f"store {path} has schema version {found}, written by {by}; this is evalkit {__version__} "
                         f"(schema {SCHEMA_VERSION}): {upgrade}, or point `store` at another file")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        begin() if begin else db.execute("BEGIN IMMEDIATE")
        try:
            for statement in MIGRATIONS[version]:
                statement(db) if callable(statement) else db.execute(statement)
            if version == SCHEMA_VERSION:
                db.execute("INSERT OR REPLACE INTO store_info VALUES (?, ?)", (WRITTEN_BY, __version__))
            db.execute(f"PRAGMA user_version = {version}")
            db.execute("COMMIT")
        except BaseException:  # a step is all or nothing: the store stays at the last whole version
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
    # a store at the current version may lack nothing; the statements are idempotent, so a store
    # whose tables were removed by hand is repaired too
    if found == SCHEMA_VERSION:
        for statement in TABLES:
            db.execute(statement)


def written_by(db: sqlite3.Connection) -> str | None:
    """The evalkit version that wrote the store's schema; None for a store from before it was recorded."""
    try:
        row = db.execute("SELECT value FROM store_info WHERE key=?", (WRITTEN_BY,)).fetchone()
    except sqlite3.Error:  # no store_info table: a store from before version 5
        return None
    return str(row[0])[:40] if row else None
