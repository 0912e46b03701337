"""The kinds registry: a kind registered from outside the package (a toy here) is read by the task loader,
the runner, the health checks, the leaderboard and the export with no other edit."""

from __future__ import annotations

import json

import pytest

import evalkit
from evalkit.config import check_keys
from evalkit.data.templates import render
from evalkit.errors import ConfigError
from evalkit.kinds import KINDS, TaskKind, metric_rows
from evalkit.report.cli import export_record
from evalkit.report.health import check
from evalkit.scoring import stats
from evalkit.types import LoglikelihoodRequest
from project import write_project


class GreedyShareKind(TaskKind):
    """How often each document's text is the model's greedy continuation of its first word."""

    name = "toy_greedy"
    task_keys = frozenset({"toy_greedy"})
    default_primary = ("greedy",)

    def validate(self, task):
        check_keys(task.section("toy_greedy"), {"text"}, str(task.path), prefix="toy_greedy.")

    def check_sample(self, task, sample):
        pass

    def _split(self, task, row):
        first, _, rest = render(task.section("toy_greedy")["text"], row).partition(" ")
        return first, " " + rest

    def requests(self, task, sample, options):
        return [LoglikelihoodRequest(*self._split(task, sample.row))]

    def score(self, task, samples, responses, options):
        records = [{"sample_id": s.id, "prompt": self._split(task, s.row)[0], "response": "", "target": "",
                    "scores": {"greedy": float(r.is_greedy)}} for s, (r,) in zip(samples, responses)]
        return records, [metric_rows.mean_row("greedy", [r["scores"]["greedy"] for r in records], primary=True)]

    def compare(self, metric, records_a, records_b, seed=0):
        return stats.compare([r["scores"][metric] for r in records_a], [r["scores"][metric] for r in records_b],
                             seed=seed)

    def export_fields(self, record):
        return {"first_word": record["prompt"]}


@pytest.fixture
def toy_kind():
    KINDS["toy_greedy"] = GreedyShareKind()
    yield KINDS["toy_greedy"]
    KINDS.pop("toy_greedy")


def write_toy_task(root, extra=""):
    (root / "tasks" / "greedy.toml").write_text(
        'name = "greedy"\nversion = 1\nkind = "toy_greedy"\nid_field = "id"\n'
        '[[sources]]\nkind = "file"\npath = "../docs.jsonl"\n'
        f'[toy_greedy]\ntext = "{{{{ text }}}}"\n{extra}')


def test_a_kind_registered_from_outside_runs_end_to_end(toy_kind, tiny_model_dir, tmp_path):
    config = write_project(tmp_path, tiny_model_dir, n_docs=6)
    write_toy_task(tmp_path)
    results = evalkit.evaluate(models=["tiny"], tasks=["greedy"], config=config)
    row = results.to_pandas().set_index("metric").loc["greedy"]
    assert row["n"] == 6 and 0 <= row["value"] <= 1
    records = results.store.samples(results.run_id, "tiny", "greedy")
    assert check("tiny", "greedy", "toy_greedy", records) is None  # a kind with no health checks declared
    line = export_record(results.run_id, "toy_greedy", records[0])
    assert line["first_word"] == "The" and json.dumps(line)
    page = results.leaderboard(tmp_path / "reports").read_text(encoding="utf-8")
    assert "| greedy |" in page or "greedy" in page.split("## ", 2)[1]


def test_the_task_loader_takes_a_registered_kinds_own_keys_and_refuses_others(toy_kind, tiny_model_dir, tmp_path):
    from evalkit.tasks.loading import load_task

    config = write_project(tmp_path, tiny_model_dir, n_docs=6)
    write_toy_task(tmp_path, extra='[toy_greedy_typo]\ntext = "x"\n')
    with pytest.raises(ConfigError, match="toy_greedy_typo"):
        load_task(str(tmp_path / "tasks" / "greedy.toml"))
