"""The one-line form: any model, any task, from a folder without evalkit.toml; flags win and are recorded."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from project import write_project


def evalkit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def one_line(result) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return " ".join(result.stderr.split())


def test_a_model_folder_and_a_task_file_with_no_project_file(tmp_path, tiny_model_dir):
    write_project(tmp_path / "elsewhere", tiny_model_dir)  # a task file and its data, outside the run folder
    task = tmp_path / "elsewhere" / "tasks" / "toyppl.toml"
    here = tmp_path / "empty"
    here.mkdir()
    result = evalkit("run", "--models", f"{tiny_model_dir}:batch_size=2", "--tasks", str(task), "--limit", "5",
                     "--seed", "3", "--dtype", "float32", "--quiet", cwd=here)
    assert result.returncode == 0, result.stderr
    assert "built-in default config" in " ".join(result.stderr.split() + result.stdout.split())
    board = (here / "reports" / "leaderboard.md").read_text(encoding="utf-8")
    assert "toyppl · word_perplexity" in board and "(n=5)" in board and f"**{tiny_model_dir.name}**" in board
    (provenance,) = sqlite3.connect(here / ".evalkit" / "evalkit.db").execute("SELECT provenance FROM runs").fetchone()
    info = json.loads(provenance)
    assert info["command_line"] == {"models": f"{tiny_model_dir}:batch_size=2", "tasks": str(task), "limit": 5,
                                    "seed": 3, "dtype": "float32"}
    assert info["seed"] == 3 and info["models"][tiny_model_dir.name]["spec"]["batch_size"] == 2


def test_flags_win_over_the_suite_and_say_so(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir, extra_toml="[suites.default.options.toyppl]\nlimit = 8\n")
    result = evalkit("--config", str(config), "run", "--models", "tiny", "--limit", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--limit 3 wins over the suite's limit = 8 for toyppl" in " ".join((result.stdout + result.stderr).split())
    assert "(n=3)" in (tmp_path / "reports" / "leaderboard.md").read_text(encoding="utf-8")


def test_bad_command_lines_get_one_line_and_lose_nothing(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    assert evalkit("--config", str(config), "run", "--models", "tiny", "--quiet", cwd=tmp_path).returncode == 0
    store = tmp_path / "store.db"
    before = sqlite3.connect(store).execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    for args, fragment in [(("--limit", "0"), "--limit 0: give a positive number"),
                           (("--limit", "-3"), "--limit -3: give a positive number"),
                           (("--num-fewshot", "-1"), "--num-fewshot -1"),
                           (("--tasks", "toyppx"), "unknown task 'toyppx'; did you mean toyppl?"),
                           (("--tasks", "toyppl", "--suite", "default"), "give --tasks or --suite, not both"),
                           (("--models", "./nothere"), "--models ./nothere: no folder or .gguf file at"),
                           (("--models", "nothere"), "unknown model 'nothere' in --models"),
                           (("--models", "tiny", "--batch-size", "0"), "batch_size = 0 is out of range")]:
        message = one_line(evalkit("--config", str(config), "run", *(("--models", "tiny") if "--models" not in args
                                                                       else ()), *args, cwd=tmp_path))
        assert fragment in message, (args, message)
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM responses").fetchone()[0] == before


def test_tasks_and_models_describe_what_is_there(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    listed = evalkit("--config", str(config), "tasks", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    text = " ".join(listed.stdout.split())
    assert "toyppl" in text and "project" in text and "file: 24 items" in text and "mmlu" in text
    models = evalkit("--config", str(config), "models", cwd=tmp_path)
    assert models.returncode == 0 and "tiny16" in models.stdout and "local folder" in " ".join(models.stdout.split())


def test_init_writes_a_config_that_runs_from_its_folder(tmp_path):
    empty = evalkit("models", cwd=tmp_path)  # no evalkit.toml here: the table says it shows the built-in default
    assert empty.returncode == 0, empty.stderr
    title = " ".join(empty.stdout.split())
    assert "models of the built-in default config (no evalkit.toml here; `evalkit init` writes one)" in title
    assert str(Path(__file__).resolve().parents[2]) not in title
    assert evalkit("init", cwd=tmp_path).returncode == 0
    written = (tmp_path / "evalkit.toml").read_text(encoding="utf-8")
    assert "[models.base]" in written and "[suites.default]" in written
    recipes = [line.split('recipe = "')[1].split('"')[0] for line in written.splitlines() if 'recipe = "' in line]
    assert recipes and all(r.startswith("recipes/") for r in recipes)  # relative: the folder can move or be shared
    assert all((tmp_path / r).is_file() for r in recipes)  # beside it, to edit
    again = evalkit("init", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    shown = evalkit("models", cwd=tmp_path)  # now read from the written file, not the built-in default
    assert shown.returncode == 0, shown.stderr
    assert f"models of {tmp_path / 'evalkit.toml'}" in " ".join(shown.stdout.split())


def test_answers_take_the_same_model_entries_and_flags(tmp_path, tiny_model_dir):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": "p1", "prompt": "Say hi."}\n{"id": "p2", "prompt": "Count to two."}\n')
    assert "--limit -1: give a positive number" in one_line(
        evalkit("answers", "--models", str(tiny_model_dir), "--prompt-set", str(prompts), "--limit", "-1", cwd=tmp_path))
    done = evalkit("answers", "--models", f"{tiny_model_dir}:name=mine", "--prompt-set", str(prompts),
                   "--batch-size", "1", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "2 answers of mine to 2 prompts" in " ".join((done.stdout + done.stderr).split())
