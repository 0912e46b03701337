"""Where a page lives: a query URL on the server, a flat file name in a static bundle.

Every page sits at the top level in both, so links are relative and the same templates serve both.
A bundle has no server to filter, so its links drop the filter and keep the page number.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import urlencode

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def slug(value: object) -> str:
    """A file-name-safe form of a name; names that needed changing get a short hash, so two never meet."""
    text = str(value)
    safe = _UNSAFE.sub("_", text)[:40]
    if safe == text:
        return safe
    return f"{safe}~{hashlib.sha256(text.encode('utf-8')).hexdigest()[:6]}"


@dataclass(frozen=True)
class Links:
    bundle: bool = False

    def page(self, name: str, filter_query: str = "", **params: object) -> str:
        """A page by name with its identifying params (run, task, model ...) in a fixed order."""
        kept = {k: v for k, v in params.items() if v not in (None, "")}
        if self.bundle:
            if name == "runs":
                return "index.html"
            return "-".join([name] + [slug(v) for v in kept.values()]) + ".html"
        query = urlencode(kept)
        if filter_query:
            query = f"{query}&{filter_query}" if query else filter_query
        target = "./" if name == "runs" else name
        return f"{target}?{query}" if query else target

    def static(self, name: str) -> str:
        return f"static/{name}"

    def plot(self, run_id: int, name: str) -> str:
        if self.bundle:
            return f"plots/run-{run_id}-{slug(name)}"
        return f"plot?{urlencode({'run': run_id, 'name': name})}"
