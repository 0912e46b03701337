"""`evalkit report` and `evalkit export` on a store: missing runs are named, every kind's scored text exported."""

import json

from evalkit.cli import main
from evalkit.store.db import Store

from tests.report.test_board import add_run


def project(tmp_path):
    (tmp_path / "evalkit.toml").write_text('[project]\nstore = "s.db"\n')
    store = Store(tmp_path / "s.db")
    add_run(store, ["base", "sft"], "toyppl")
    return tmp_path / "evalkit.toml"


def test_report_for_a_missing_run_names_the_runs_there(tmp_path, capsys):
    config = project(tmp_path)
    assert main(["--config", str(config), "report", "--run", "99"]) != 0
    assert "no run 99 in the store; runs there: 1" in capsys.readouterr().err.replace("\n", "")


def test_export_carries_the_perplexity_document_and_its_counts(tmp_path, capsys):
    config = project(tmp_path)
    out = tmp_path / "samples.jsonl"
    assert main(["--config", str(config), "export", "--out", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 6
    first = records[0]
    assert first["kind"] == "perplexity" and first["run"] == 1
    assert first["document"] == "document 0" and first["counts"] == {"tokens": 10, "words": 8, "bytes": 40}
    assert main(["--config", str(config), "export", "--run", "7", "--out", str(out)]) != 0
    assert "runs there: 1" in capsys.readouterr().err
