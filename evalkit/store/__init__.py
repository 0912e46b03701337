"""The one SQLite store: response cache, runs and their provenance, results, per-sample records,
answers, judgments, votes and trained candidates.

    db.py          Store: the connection (WAL), transactions, reads and writes
    schema.py      every table, the schema version and its migrations
    provenance.py  what a run records about where its numbers came from
"""

from __future__ import annotations

from evalkit.config import Config, load_config
from evalkit.store.db import Store


def open_project(config_path) -> tuple[Config, Store]:
    """The config a command runs under and the store it names."""
    config = load_config(config_path)
    return config, Store(config.store)


__all__ = ["Store", "open_project"]
