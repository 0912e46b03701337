"""The one SQLite database: response cache, runs, results, per-sample records.

Every finished model response is committed at once (WAL mode), so a run killed
at any point resumes where it stopped and a second run of the same work costs
only lookups. Judgments, human votes and trained candidates live in the same file; its
one schema, with a version, is in schema.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evalkit.store.schema import prepare
from evalkit.types import Request, Response, response_from_json


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we commit explicitly, one short transaction per write.
        self.db = sqlite3.connect(str(self.path), timeout=60, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=60000")
        prepare(self.db, self.path)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- response cache -------------------------------------------------------------
    def cached_responses(self, keys: Iterable[str]) -> dict[str, Response]:
        found: dict[str, Response] = {}
        keys = list(keys)
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT key, kind, response FROM responses WHERE key IN ({marks})", chunk)
            for key, kind, blob in rows:
                found[key] = response_from_json(kind, json.loads(blob))
        return found

    def put_responses(self, model: str, items: Iterable[tuple[str, Request, Response]]) -> None:
        """Commit a batch of finished responses; a key already there is kept, never duplicated."""
        now = time.time()
        rows = [
            (key, model, req.kind, json.dumps(asdict(req)), json.dumps(asdict(resp)), now)
            for key, req, resp in items
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO responses VALUES (?,?,?,?,?,?)", rows)

    def count_responses(self, model: str | None = None) -> int:
        if model is None:
            return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM responses WHERE model=?", (model,)).fetchone()[0]

    # -- runs -----------------------------------------------------------------------
    def start_run(self, config: dict[str, Any], provenance: dict[str, Any]) -> int:
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO runs (started, status, config, provenance) VALUES (?, 'running', ?, ?)",
                (time.time(), json.dumps(config, default=str), json.dumps(provenance, default=str)),
            )
            return int(cur.lastrowid)

    def finish_run(self, run_id: int, provenance: dict[str, Any], status: str = "finished") -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET finished=?, status=?, provenance=? WHERE id=?",
                (time.time(), status, json.dumps(provenance, default=str), run_id),
            )

    def run(self, run_id: int | None = None) -> dict[str, Any] | None:
        """A run by id, or the latest finished one."""
        if run_id is None:
            row = self.db.execute(
                "SELECT id, started, finished, status, config, provenance FROM runs "
                "WHERE status='finished' ORDER BY id DESC LIMIT 1"
            ).fetchone()
        else:
            row = self.db.execute(
                "SELECT id, started, finished, status, config, provenance FROM runs WHERE id=?", (run_id,)
            ).fetchone()
        if row is None:
            return None
        keys = ("id", "started", "finished", "status", "config", "provenance")
        run = dict(zip(keys, row))
        run["config"], run["provenance"] = json.loads(run["config"]), json.loads(run["provenance"])
        return run

    # -- results and per-sample records ---------------------------------------------
    def put_samples(self, run_id: int, model: str, task: str, records: Iterable[dict[str, Any]]) -> None:
        rows = [
            (run_id, model, task, str(r["sample_id"]), r["prompt"], r["response"], str(r["target"]),
             json.dumps(r["scores"]))
            for r in records
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO samples VALUES (?,?,?,?,?,?,?,?)", rows)

    def samples(self, run_id: int, model: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT model, task, sample_id, prompt, response, target, scores FROM samples WHERE run_id=?"
        args: list[Any] = [run_id]
        if model is not None:
            query, args = query + " AND model=?", args + [model]
        if task is not None:
            query, args = query + " AND task=?", args + [task]
        keys = ("model", "task", "sample_id", "prompt", "response", "target", "scores")
        out = []
        for row in self.db.execute(query + " ORDER BY model, task, rowid", args):
            record = dict(zip(keys, row))
            record["scores"] = json.loads(record["scores"])
            out.append(record)
        return out

    def put_results(self, run_id: int, model: str, task: str, results: Iterable[dict[str, Any]]) -> None:
        rows = [
            (run_id, model, task, r["metric"], r["value"], r["n"], r.get("ci_low"), r.get("ci_high"),
             r.get("unscored", 0), json.dumps(r.get("info", {})))
            for r in results
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?,?)", rows)

    def results(self, run_id: int) -> list[dict[str, Any]]:
        keys = ("model", "task", "metric", "value", "n", "ci_low", "ci_high", "unscored", "info")
        rows = self.db.execute(
            "SELECT model, task, metric, value, n, ci_low, ci_high, unscored, info FROM results "
            "WHERE run_id=? ORDER BY rowid",
            (run_id,),
        )
        out = []
        for row in rows:
            record = dict(zip(keys, row))
            record["info"] = json.loads(record["info"])
            out.append(record)
        return out

    # -- file hash memo (fingerprinting large weight files once) --------------------
    def file_hash(self, path: Path, compute) -> str:
        stat = path.stat()
        row = self.db.execute("SELECT size, mtime, sha256 FROM file_hashes WHERE path=?", (str(path),)).fetchone()
        if row and row[0] == stat.st_size and row[1] == stat.st_mtime:
            return row[2]
        digest = compute(path)
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO file_hashes VALUES (?,?,?,?)", (str(path), stat.st_size, stat.st_mtime, digest))
        return digest
