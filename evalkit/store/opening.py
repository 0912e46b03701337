"""Opening the store file and waiting for other writers, with every way it can fail said in one line.

SQLite's own messages ("unable to open database file", "file is not a database") name neither the
file nor the fix, and a lock held by another process would otherwise block for an unbounded or
unexplained time; here each becomes a StoreError naming the store and what to do.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

from evalkit.errors import StoreError

WAIT_ENV = "EVALKIT_STORE_WAIT"
DEFAULT_WAIT_S = 60.0  # how long a write waits for another process's write to finish before giving up
QUIET_WAIT_S = 2.0  # shorter waits pass without a word; a longer one says what it waits for


def wait_seconds() -> float:
    text = os.environ.get(WAIT_ENV, "")
    try:
        value = float(text) if text else DEFAULT_WAIT_S
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86400:
        raise StoreError(f"{WAIT_ENV}={text!r}: give the seconds a write may wait for another writer (0..86400)")
    return value


def check_location(path: Path) -> None:
    """A store path that cannot be a database file, said before SQLite's vaguer message."""
    if path.is_dir():
        raise StoreError(f"store {path} is a folder; point [project] store at a file, e.g. {path / 'evalkit.db'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"store {path}: {parent} is a file, not a folder; move it away or point "
                                 f"[project] store at another path")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"store {path}: cannot create its folder {path.parent} ({err.strerror}); point "
                         f"[project] store at a writable place") from None


def connect(path: Path, wait_s: float) -> sqlite3.Connection:
    # isolation_level=None: we commit explicitly, one short transaction per write.
    db = sqlite3.connect(str(path), timeout=wait_s, isolation_level=None, check_same_thread=False)
    db.execute(f"PRAGMA busy_timeout={int(min(wait_s, QUIET_WAIT_S) * 1000)}")
    _use_wal(db, wait_s)
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _use_wal(db: sqlite3.Connection, wait_s: float) -> None:
    """Switch to write-ahead logging, retrying while another process holds the file: SQLite answers a
    journal-mode change "database is locked" at once, without its busy handler, so two processes that
    create the same store together (the ranks of `accelerate launch`) would otherwise fail half the time."""
    deadline, pause = time.monotonic() + wait_s, 0.01
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if not is_locked(err) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.5)


def begin(db: sqlite3.Connection, path: Path, wait_s: float) -> None:
    """BEGIN IMMEDIATE, waiting at most `wait_s` for another process's write lock, saying so when it is long."""
    try:
        db.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as err:
        if not is_locked(err) or wait_s <= QUIET_WAIT_S:
            raise
    print(f"note: another process is writing to the store {path}; waiting up to {wait_s:g} s for it",
          file=sys.stderr, flush=True)
    db.execute(f"PRAGMA busy_timeout={int((wait_s - QUIET_WAIT_S) * 1000)}")
    try:
        db.execute("BEGIN IMMEDIATE")
    finally:
        db.execute(f"PRAGMA busy_timeout={int(QUIET_WAIT_S * 1000)}")


def is_locked(err: sqlite3.Error) -> bool:
    text = str(err)
    return "locked" in text or "busy" in text


def store_error(err: sqlite3.Error, path: Path, wait_s: float, kept: str = "") -> StoreError | None:
    """The StoreError that says what `err` means for the store at `path`; None when it is no known case."""
    text = str(err)
    if "disk is full" in text or "disk I/O error" in text and _disk_full(path):
        return StoreError(f"store {path} could not be written: the disk is full{kept}; free some space and rerun "
                          f"the same command: it continues from what was kept")
    if "not a database" in text or "malformed" in text:
        return StoreError(f"store {path} is not an evalkit store (SQLite says: {text}); point [project] store at "
                          f"another file, or move this one away")
    if _on_read_only_filesystem(path):  # SQLite says only "unable to open" or "readonly" there
        return StoreError(f"store {path} is on a read-only file system (SQLite says: {text}); point [project] "
                          f"store at a writable place, or remount that file system read-write")
    if "readonly" in text or "read-only" in text:
        return StoreError(f"store {path} is read-only (SQLite says: {text}); make the file and its folder "
                          f"writable, or point [project] store at a writable place")
    if is_locked(err):
        return StoreError(f"store {path} is locked: another process has held its write lock for over {wait_s:g} s; "
                          f"wait for it to finish (`evalkit runs` lists running runs), or set {WAIT_ENV}=SECONDS "
                          f"to wait longer")
    if "unable to open" in text:
        return StoreError(f"store {path} cannot be opened (SQLite says: {text}); check that its folder is "
                          f"writable, or point [project] store elsewhere")
    return None


def _on_read_only_filesystem(path: Path) -> bool:
    folder = next((p for p in (path, *path.parents) if p.exists()), None)
    try:
        return folder is not None and bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _disk_full(path: Path) -> bool:
    try:
        stat = os.statvfs(path.parent)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < 1 << 20
