"""Who may vote through the web page: annotators named by the owner, each with a secret token.

The tokens live beside the store (STORE.annotators.json, readable by its owner only), kept as
SHA-256 hashes: the file tells nobody a working link. Adding a name again gives it a new token and
the old link stops working.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from pathlib import Path

from evalkit.errors import ConfigError, DataError


def tokens_file(store_path: Path) -> Path:
    return store_path.with_name(store_path.name + ".annotators.json")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _read(path: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not the annotators file evalkit writes ({err}); move it away and add the "
                        "annotators again with `evalkit view --add-annotator NAME`") from None
    if not isinstance(found, dict):
        raise DataError(f"{path} is not the annotators file evalkit writes; move it away and add the annotators "
                        "again with `evalkit view --add-annotator NAME`")
    return found


def add(store_path: Path, name: str) -> str:
    """A new token for `name` (replacing any earlier one); returns the token, which is shown once."""
    name = name.strip()
    if not name or len(name) > 100 or any(c in name for c in "\n\r\t"):
        raise ConfigError(f"--add-annotator {name!r}: give a name of 1..100 characters on one line")
    path = tokens_file(store_path)
    known = _read(path)
    token = secrets.token_urlsafe(18)
    known[name] = {"sha256": _hash(token), "created": time.time()}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(known, indent=1), encoding="utf-8")
    os.chmod(temporary, 0o600)
    temporary.replace(path)
    return token


def annotator(store_path: Path, token: str) -> str | None:
    """The name a token belongs to; None for a missing or unknown token."""
    if not token:
        return None
    digest = _hash(token)
    for name, entry in _read(tokens_file(store_path)).items():
        if hmac.compare_digest(str(entry.get("sha256", "")), digest):
            return name
    return None


def names(store_path: Path) -> list[str]:
    return sorted(_read(tokens_file(store_path)))
