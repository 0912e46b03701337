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

from evalkit.errors import doing
from evalkit.store import opening, runs
from evalkit.store.schema import prepare
from evalkit.types import Request, Response, response_from_json


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.wait_s = opening.wait_seconds()
        with doing(f"opening the store {self.path}"):
            opening.check_location(self.path)
            try:
                self.db = opening.connect(self.path, self.wait_s)
                prepare(self.db, self.path, self._begin)
            except sqlite3.Error as err:
                raise self._error(err) from None

    def close(self) -> None:
        self.db.close()

    def _begin(self) -> None:
        opening.begin(self.db, self.path, self.wait_s)

    def _error(self, err: sqlite3.Error) -> Exception:
        """The one-line StoreError for a failed write (or open), else the SQLite error itself."""
        kept = ""
        if "disk is full" in str(err):
            try:
                kept = f"; it keeps the {self.count_responses()} responses committed before"
            except sqlite3.Error:
                pass
        return opening.store_error(err, self.path, self.wait_s, kept) or err

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        try:
            self._begin()
        except sqlite3.Error as err:
            raise self._error(err) from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as err:
            if self.db.in_transaction:  # SQLite may have rolled back by itself (a full disk does)
                self.db.execute("ROLLBACK")
            if isinstance(err, sqlite3.Error):
                raise self._error(err) from None
            raise

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
        """A new run, or the interrupted run of the same command, continued under its id (its process
        died; its finished responses are cached, so continuing costs only what is missing)."""
        key = runs.command_key(config, provenance)
        with self.transaction() as db:
            run_id = runs.resumable(db, key)
            if run_id is None:
                cur = db.execute(
                    "INSERT INTO runs (started, status, config, provenance) VALUES (?, 'running', ?, ?)",
                    (time.time(), json.dumps(config, default=str), json.dumps(provenance, default=str)),
                )
                run_id = int(cur.lastrowid)
            else:
                provenance["resumed"] = runs.resumed_count(db, run_id) + 1  # how often it was continued
                db.execute("UPDATE runs SET status='running', finished=NULL, provenance=? WHERE id=?",
                           (json.dumps(provenance, default=str), run_id))
            runs.claim(db, run_id, key, resumed="resumed" in provenance)
            return run_id

    def run_status(self, run_id: int, stored: str) -> str:
        """A run's state now: `running` only while its process lives, `interrupted` once it has died."""
        return runs.status(stored, runs.owner(self.db, run_id))

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run, oldest first, with its state now (see run_status)."""
        rows = self.db.execute("SELECT id, started, finished, status, config FROM runs ORDER BY id").fetchall()
        return [{"id": run_id, "started": started, "finished": finished, "status": self.run_status(run_id, status),
                 "config": json.loads(config)} for run_id, started, finished, status, config in rows]

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
        run["status"] = self.run_status(run["id"], run["status"])
        run["config"], run["provenance"] = json.loads(run["config"]), json.loads(run["provenance"])
        return run

    # -- results and per-sample records ---------------------------------------------
    def put_samples(self, run_id: int, model: str, task: str, records: Iterable[dict[str, Any]]) -> None:
        rows = [
            (run_id, model, task, str(r["sample_id"]), r["prompt"], r["response"], str(r["target"]),
             json.dumps(r["scores"]), json.dumps(r.get("fields", {}), default=str))
            for r in records
        ]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO samples (run_id, model, task, sample_id, prompt, response, target, "
                           "scores, fields) VALUES (?,?,?,?,?,?,?,?,?)", rows)

    def samples(self, run_id: int, model: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT model, task, sample_id, prompt, response, target, scores, fields FROM samples WHERE run_id=?"
        args: list[Any] = [run_id]
        if model is not None:
            query, args = query + " AND model=?", args + [model]
        if task is not None:
            query, args = query + " AND task=?", args + [task]
        keys = ("model", "task", "sample_id", "prompt", "response", "target", "scores", "fields")
        out = []
        for row in self.db.execute(query + " ORDER BY model, task, rowid", args):
            record = dict(zip(keys, row))
            record["scores"], record["fields"] = json.loads(record["scores"]), json.loads(record["fields"])
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
