"""Bad input through the real command line: one clear line on stderr, exit 2, no traceback."""

import subprocess
import sys

from project import write_project


def evalkit(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def assert_clean_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    message = " ".join(result.stderr.split())
    for fragment in fragments:
        assert fragment in message, message


def test_help_is_fast_and_lists_commands():
    result = evalkit("--help")
    assert result.returncode == 0
    assert "run" in result.stdout and "report" in result.stdout
    check = subprocess.run([sys.executable, "-c", "import evalkit.cli, sys; "
                            "print(any(m in sys.modules for m in ('torch', 'transformers')))"],
                           capture_output=True, text=True)
    assert check.stdout.strip() == "False", "evalkit --help must not import torch or transformers"


def test_unknown_model(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    assert_clean_error(evalkit("--config", str(config), "run", "--models", "tiny,nope"),
                       "unknown model 'nope'", "[models.nope]")


def test_malformed_config(tmp_path):
    bad = tmp_path / "evalkit.toml"
    bad.write_text("[models.base\nsource = 'x'\n")
    assert_clean_error(evalkit("--config", str(bad), "run"), str(bad), "not valid TOML")


def test_out_of_range_option(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir, batch_size=0)
    assert_clean_error(evalkit("--config", str(config), "run"), "batch_size = 0 is out of range")


def test_missing_data_file_says_where_it_looked(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    (tmp_path / "docs.jsonl").unlink()
    assert_clean_error(evalkit("--config", str(config), "run"), "no data found", "docs.jsonl")


def test_malformed_data_row_names_file_and_line(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    lines = (tmp_path / "docs.jsonl").read_text().splitlines()
    lines[4] = '{"id": "d4", "text": "unterminated'
    (tmp_path / "docs.jsonl").write_text("\n".join(lines) + "\n")
    assert_clean_error(evalkit("--config", str(config), "run"), "docs.jsonl:5", "not valid JSON")


def test_missing_field_in_row_names_file_and_line(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    lines = (tmp_path / "docs.jsonl").read_text().splitlines()
    lines[2] = '{"id": "d2", "body": "no text field"}'
    (tmp_path / "docs.jsonl").write_text("\n".join(lines) + "\n")
    assert_clean_error(evalkit("--config", str(config), "run"), "docs.jsonl:3", "text")


def test_model_folder_without_weights(tmp_path, tiny_model_dir):
    empty = tmp_path / "empty_model"
    empty.mkdir()
    (empty / "config.json").write_text("{}")
    config = write_project(tmp_path, empty)
    assert_clean_error(evalkit("--config", str(config), "run", "--models", "tiny"), "has no weights", str(empty))


def test_unknown_source_is_neither_folder_nor_hub_id(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tmp_path / "does" / "not" / "exist")
    assert_clean_error(evalkit("--config", str(config), "run", "--models", "tiny"), "is not a folder")


def test_error_keeps_finished_work(tmp_path, tiny_model_dir):
    """A failing second model must not lose the first model's cached responses."""
    config = write_project(tmp_path, tiny_model_dir, extra_toml="")
    text = config.read_text().replace("[suites.default]", f'[models.broken]\nsource = "{tmp_path}/missing"\n\n[suites.default]')
    config.write_text(text)
    result = evalkit("--config", str(config), "run", "--models", "tiny,broken")
    assert_clean_error(result, "broken")
    import sqlite3

    # Models are prepared before any work starts, so the typo costs nothing; then the good model alone runs.
    ok = evalkit("--config", str(config), "run", "--models", "tiny", "--quiet")
    assert ok.returncode == 0, ok.stderr
    count = sqlite3.connect(tmp_path / "store.db").execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    assert count > 0


def test_debug_shows_traceback(tmp_path):
    bad = tmp_path / "evalkit.toml"
    bad.write_text("[models.base\n")
    result = evalkit("--config", str(bad), "--debug", "run")
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_report_and_export_after_a_run(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    assert evalkit("--config", str(config), "run", "--models", "tiny", "--quiet").returncode == 0
    board = tmp_path / "reports" / "leaderboard.md"
    first = board.read_text()
    board.unlink()
    result = evalkit("--config", str(config), "report")
    assert result.returncode == 0, result.stderr
    assert board.read_text() == first, "the report is a pure function of the store"
    out = tmp_path / "samples.jsonl"
    result = evalkit("--config", str(config), "export", "--out", str(out))
    assert result.returncode == 0, result.stderr
    import json

    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 24 and {"prompt", "response", "scores", "sample_id"} <= set(records[0])


def test_report_with_empty_store_says_what_to_do(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    assert_clean_error(evalkit("--config", str(config), "report"), "evalkit run")
