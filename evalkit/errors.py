"""One exception type for problems the user can fix: the CLI prints its message
as a single line (no traceback unless --debug) and exits non-zero.

`doing("...")` names what evalkit is busy with, so that an exception from a library that is not an
EvalkitError can still be reported as one line saying what failed (see `explain`)."""

from __future__ import annotations

import contextvars
import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager


class EvalkitError(Exception):
    """A user-facing error. The message names the offending value and the fix."""


class ConfigError(EvalkitError):
    pass


class DataError(EvalkitError):
    pass


class ModelError(EvalkitError):
    pass


class StoreError(EvalkitError):
    """The store file cannot be used as it is (written by a newer evalkit, not a database, ...)."""


_ACTIVITY: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("evalkit_activity", default=())


@contextmanager
def doing(what: str) -> Iterator[None]:
    """Name the work in progress ("opening the store x.db") for the one-line report of an unexpected error."""
    token = _ACTIVITY.set(_ACTIVITY.get() + (what,))
    try:
        yield
    except BaseException as err:
        # the innermost activity is the one that failed; remember it before the stack unwinds
        if not hasattr(err, "evalkit_activity"):
            try:
                err.evalkit_activity = what  # type: ignore[attr-defined]
            except AttributeError:  # some C exceptions take no attributes; the outer activity then names it
                pass
        raise
    finally:
        _ACTIVITY.reset(token)


def activity_of(err: BaseException, default: str) -> str:
    return getattr(err, "evalkit_activity", None) or default


def explain(err: BaseException) -> str | None:
    """A sentence and a fix for a library failure that users meet (SQLite, weights files, ports, encodings,
    a full disk, memory); None for anything else, which is then reported by its type and message."""
    for rule in (_disk_full, _sqlite, _weights, _port, _encoding, _filesystem):
        message = rule(err)
        if message:
            return message
    return None


def _disk_full(err: BaseException) -> str | None:
    full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)
    if full or isinstance(err, sqlite3.DatabaseError) and "disk is full" in str(err):
        where = f" ({err.filename})" if isinstance(err, OSError) and err.filename else ""
        return (f"the disk is full{where}: nothing more could be written; what was committed before stays "
                f"in the store, so free some space and rerun to continue from there")
    return None


def _sqlite(err: BaseException) -> str | None:
    if not isinstance(err, sqlite3.Error):
        return None
    text = str(err)
    if "not a database" in text or "malformed" in text:
        return ("the store is not a readable SQLite database (not a database, or damaged); point [project] store "
                "at another file, or move this one away")
    if "readonly" in text or "read-only" in text:
        return "the store cannot be written (read-only file or folder); make it writable or point store elsewhere"
    if "locked" in text or "busy" in text:
        return "the store is locked by another process; wait for it to finish (`evalkit runs`), then rerun"
    if "unable to open" in text:
        return "the store file cannot be opened; check that its folder exists, is a folder and is writable"
    return f"the store answered an SQLite error ({text}); rerun, and with --debug if it repeats"


def _weights(err: BaseException) -> str | None:
    module, name = type(err).__module__ or "", type(err).__name__
    if "safetensors" in module or name == "SafetensorError" or "deserializing header" in str(err):
        return (f"a weights file cannot be read ({err}); it is damaged or incomplete: download, copy or "
                f"train it again")
    return None


def _port(err: BaseException) -> str | None:
    if isinstance(err, OSError) and err.errno == errno.EADDRINUSE:
        return "the port is already in use; pick another with --port (0 picks a free one) or stop what listens there"
    if isinstance(err, OverflowError) and "port" in str(err):
        return "the port is out of range; use --port 1..65535 (0 picks a free one)"
    if isinstance(err, OSError) and err.errno == errno.EACCES and "bind" in str(err).lower():
        return "the port needs privileges (below 1024); use --port 1024..65535"
    return None


def _encoding(err: BaseException) -> str | None:
    if isinstance(err, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8"
    return None


def _filesystem(err: BaseException) -> str | None:
    if isinstance(err, PermissionError):
        return f"permission denied on {err.filename or 'a file'}; make it readable/writable or use another path"
    if isinstance(err, FileNotFoundError):
        return f"{err.filename or 'a file'} does not exist; check the path"
    if isinstance(err, MemoryError):
        return "out of memory; lower batch_size or max_length, or use a smaller model"
    return None
