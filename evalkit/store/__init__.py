"""The one SQLite store: response cache, runs and their provenance, results, per-sample records,
answers, judgments, votes and trained candidates.

    db.py          Store: the connection (WAL), transactions, reads and writes
    schema.py      every table, the schema version and its migrations
    provenance.py  what a run records about where its numbers came from
"""

from __future__ import annotations

from evalkit.store.db import Store

__all__ = ["Store"]
