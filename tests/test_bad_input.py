"""Every malformed input of tests/bad_inputs.py, through the real command line in this process:
a non-zero exit, exactly one line on stderr, no traceback, the file or key named, and nothing the
store held before (responses, results, per-sample records, earlier runs) lost or changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from bad_inputs import CASES, ENVIRONMENT
from project import write_project

from evalkit.cli import main

TABLES = ("responses", "results", "samples", "answers", "trained_models")


def call(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse's own errors exit
        return exit_.code if isinstance(exit_.code, int) else 1


def snapshot(store: Path) -> dict[str, list]:
    db = sqlite3.connect(store)
    try:
        rows = {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in TABLES}
        rows["runs"] = db.execute("SELECT id, started, finished, status, config FROM runs ORDER BY id").fetchall()
    finally:
        db.close()
    return rows


@pytest.fixture(scope="module")
def project(tmp_path_factory, tiny_model_dir):
    """One tiny project with one finished run in its store, shared by every case."""
    root = tmp_path_factory.mktemp("bad-input")
    config = write_project(root, tiny_model_dir)
    assert call(["--config", str(config), "run", "--models", "tiny", "--quiet"]) == 0
    before = snapshot(root / "store.db")
    assert before["responses"] and before["results"] and before["samples"]
    return root, tiny_model_dir, before


def expand(text, root: Path, model: Path):
    if isinstance(text, bytes):
        return text
    return text.replace("{root}", str(root)).replace("{model}", str(model))


def test_the_table_is_large_and_covers_every_file_kind():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)
    written = {name.split("/")[0].split(".")[-1] for _, files, _, _ in CASES for name in files}
    assert {"toml", "tasks", "promptsets", "jsonl", "json", "csv"} <= written


@pytest.mark.parametrize("case_id, files, argv, fragments", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_one_line(project, case_id, files, argv, fragments, capsys, monkeypatch):
    root, model, before = project
    monkeypatch.chdir(root)
    for name, value in ENVIRONMENT.get(case_id, {}).items():
        monkeypatch.setenv(name, value)
    written = []
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = expand(text, root, model)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        written.append(path)
    capsys.readouterr()
    try:
        code = call([expand(arg, root, model) for arg in argv])
        err = capsys.readouterr().err
    finally:
        for path in written:
            path.unlink()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code != 0, f"{case_id}: exit 0 (silently accepted); stderr: {err}"
    assert "Traceback" not in err
    assert len(lines) == 1, f"{case_id}: expected one line on stderr, got {len(lines)}:\n{err}"
    message = lines[0]
    assert message.startswith("error: "), message
    for fragment in fragments:
        assert fragment in message, f"{case_id}: {fragment!r} not in: {message}"
    after = snapshot(root / "store.db")
    for table in TABLES:
        assert after[table] == before[table], f"{case_id} changed the store's {table}"
    assert after["runs"][: len(before["runs"])] == before["runs"], f"{case_id} changed an earlier run"


def _store_config(root: Path, model: Path, store: str) -> Path:
    path = root / "store-case.toml"
    path.write_text(f'[project]\nstore = "{store}"\n[models.tiny]\nsource = "{model}"\n[suites.default]\ntasks = ["toyppl"]\n')
    return path


def _newer(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO store_info VALUES ('schema_written_by', '7.2.0')")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()


STORE_CASES = [  # (id, how the store path is made bad, fragments)
    ("store-is-folder", lambda p: p.mkdir(), ["is a folder"]),
    ("store-not-database", lambda p: p.write_text("these are my notes\n" * 200), ["is not an evalkit store"]),
    ("store-parent-is-file", lambda p: (p.parent.rmdir(), p.parent.write_text("x")), ["is a file, not a folder"]),
    ("store-newer-schema", _newer, ["schema version 99", "written by evalkit 7.2.0", "upgrade evalkit to 7.2.0"]),
]


@pytest.mark.parametrize("case_id, spoil, fragments", STORE_CASES, ids=[c[0] for c in STORE_CASES])
def test_a_bad_store_is_one_line(project, tmp_path, case_id, spoil, fragments, capsys):
    root, model, before = project
    store = tmp_path / "sub" / "store.db"
    store.parent.mkdir()
    spoil(store)
    config = _store_config(root, model, str(store))
    for argv in (["run", "--models", "tiny", "--quiet"], ["runs"]):
        capsys.readouterr()
        assert call(["--config", str(config), *argv]) != 0
        lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in lines[0], lines
        assert str(store) in lines[0] and all(f in lines[0] for f in fragments), lines[0]
    assert snapshot(root / "store.db") == before


def test_a_store_locked_by_another_writer_waits_its_bound_and_says_so(project, tmp_path, capsys, monkeypatch):
    root, model, _ = project
    store = tmp_path / "locked.db"
    config = _store_config(root, model, str(store))
    assert call(["--config", str(config), "runs"]) == 0  # creates the store
    holder = sqlite3.connect(store, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    monkeypatch.setenv("EVALKIT_STORE_WAIT", "0.5")
    try:
        capsys.readouterr()
        assert call(["--config", str(config), "run", "--models", "tiny", "--quiet"]) != 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and "is locked" in lines[0] and "0.5 s" in lines[0] and "EVALKIT_STORE_WAIT" in lines[0]


def test_unexpected_library_errors_are_one_line_naming_the_work(monkeypatch, capsys, tmp_path):
    """What is not an EvalkitError still reads as one line: what was being done, the cause, --debug."""
    from evalkit.report import cli as report_cli

    def broken(args):
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(report_cli, "cmd_runs", broken)
    monkeypatch.chdir(tmp_path)
    code = call(["runs"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith("error: running `evalkit runs` failed: the port is already in use")
    assert lines[0].endswith("run with --debug for the traceback")


def test_the_recipe_rules_mirror_the_pinned_libraries():
    from transformers.trainer_utils import SchedulerType

    from evalkit.train.recipe_rules import LR_SCHEDULERS

    assert set(LR_SCHEDULERS) == {s.value for s in SchedulerType}
