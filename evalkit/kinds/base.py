"""What a task kind is: the methods the runner, the task loader and the report call.

A kind turns a sample into requests for a backend and the responses back into per-sample records
and metric rows; it says how two models are compared on the same items and which direction of a
metric is better. Adding a kind is writing one subclass and listing it in evalkit/kinds/__init__.py.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from evalkit.kinds import metric_rows
from evalkit.scoring import stats
from evalkit.types import Request


class TaskKind(ABC):
    name: ClassVar[str]
    # The main-table metrics of a task whose metric rows mark none as primary (older stores).
    default_primary: ClassVar[tuple[str, ...]]
    # True: the kind reads its samples and few-shot examples itself (lm_eval: lm-eval's datasets),
    # not from the task file's [[sources]]; it then implements load_samples.
    own_data: ClassVar[bool] = False
    # The task-file keys the kind reads besides those every task has (name, kind, sources, ...): the task
    # loader accepts the union over the registered kinds (a typo in any other key stops with the list).
    task_keys: ClassVar[frozenset[str]] = frozenset()
    # The health checks its records take (report/health.py): "choice" (option picks, the right answer's
    # position), "output" (empty, truncated, unscored text), or None (nothing to check per item).
    health: ClassVar[str | None] = None
    # Its records hold per-token log-likelihoods, so the token-frequency split applies (perplexity).
    token_level: ClassVar[bool] = False

    @abstractmethod
    def validate(self, task) -> None:
        """Raise ConfigError naming the task file and key on anything the kind cannot run."""

    @abstractmethod
    def check_sample(self, task, sample) -> None:
        """Raise DataError naming file:line on a row the kind cannot use."""

    @abstractmethod
    def requests(self, task, sample, options: dict[str, Any]) -> list[Request]:
        """The backend requests for one sample."""

    @abstractmethod
    def score(self, task, samples, responses, options: dict[str, Any]) -> tuple[list[dict], list[dict]]:
        """(per-sample records, metric rows); responses[i] answers requests(task, samples[i]) in order."""

    @abstractmethod
    def compare(self, metric: str, records_a: list[dict], records_b: list[dict], seed: int = 0) -> stats.Comparison:
        """The paired difference a − b on the same items, with its interval and p-value."""

    def estimate(self, metric: str, records: list[dict], seed: int = 0) -> dict[str, Any] | None:
        """A metric row (value, n, 95% interval) recomputed from per-sample records, for a subset of a
        task's items (a slice); None where the records do not hold the metric per item. The default
        serves metrics that are means of per-item scores (accuracy, exact match, pass@1, ROUGE)."""
        values = [r["scores"].get(metric) for r in records]
        if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return None
        return metric_rows.mean_row(metric, [float(v) for v in values], higher_is_better=not self.lower_is_better(metric))

    def load_samples(self, task, options) -> list[tuple[str, dict[str, Any], str]]:
        """(id, row, origin) per sample, for a kind with own_data."""
        raise NotImplementedError(f"kind {self.name!r} reads its samples from the task's [[sources]]")

    def lower_is_better(self, metric: str) -> bool:
        return False

    def health_of(self, records: list[dict[str, Any]]) -> str | None:
        """The health checks these records take; a kind whose records differ by task (lm_eval) overrides it."""
        return self.health

    def export_fields(self, record: dict[str, Any]) -> dict[str, Any]:
        """Fields `evalkit export` adds to a record's JSONL line beside the record itself."""
        return {}

    def reported_metrics(self, task) -> list[str]:
        """The metrics a task of this kind reports, before any run (what `evalkit tasks` lists)."""
        return list(self.default_primary)

    def primary_metrics(self, results: list[dict[str, Any]]) -> list[str]:
        """The metrics of one task × model set shown in the leaderboard's main table: those the
        task's own metric rows mark primary (a generation task's validated [generate].primary),
        else the kind's default."""
        marked = [r["metric"] for r in results if r.get("info", {}).get("primary")]
        return list(dict.fromkeys(marked)) or list(self.default_primary)
