"""A suite's `format` option with the tiny model: the task's main row is scored in that prompt format (the
variant `task@format`), in the main table, the paired comparisons and the provenance; --formats puts the
task's own format beside it; a bad value or a format the task cannot take is one line."""

from __future__ import annotations

import json
import subprocess
import sys

from project import write_project

from evalkit.report import leaderboard
from evalkit.run.command import RunRequest, run_request

QUIZ = """name = "quiz"
version = 1
kind = "choice"
id_field = "id"
[[sources]]
kind = "file"
path = "../quiz.jsonl"
[choice]
prompt = "{{ q }}\\nA. {{ options[0] }}\\nB. {{ options[1] }}\\nAnswer:"
choices = '["A", "B"]'
gold = "label"
[formats]
native = "mc"
[formats.cloze]
prompt = "Question: {{ q }}\\nAnswer:"
choices = "options"
"""


def quiz_project(tmp_path, tiny_model_dir, chosen: str):
    suite = f'\n[suites.quiz]\ntasks = ["quiz", "toyppl"]\n[suites.quiz.options.quiz]\nformat = "{chosen}"\n'
    config = write_project(tmp_path, tiny_model_dir, extra_toml=suite)
    rows = [{"id": f"q{i}", "q": f"{i} + {i}?", "options": [str(2 * i), str(2 * i + 1)][:: 1 if i % 2 else -1],
             "label": 0 if i % 2 else 1} for i in range(8)]
    (tmp_path / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tasks" / "quiz.toml").write_text(QUIZ)
    return config


def test_the_main_row_is_scored_in_the_suites_format(tmp_path, tiny_model_dir):
    config = quiz_project(tmp_path, tiny_model_dir, "cloze-norm")
    _, store, run_id, _ = run_request(RunRequest(config=config, models="tiny,tiny16", suite="quiz", quiet=True))
    tasks = store.run(run_id)["provenance"]["tasks"]
    assert set(tasks) == {"quiz@cloze-norm", "toyppl"}  # the letter format is not run at all
    main = tasks["quiz@cloze-norm"]
    assert main["format"] == "cloze-norm" and main["format_chosen_by"] == "suite" and "format_of" not in main
    assert main["options"]["format"] == "cloze-norm" and "format" not in tasks["toyppl"]["options"]
    prompt = store.samples(run_id, "tiny", "quiz@cloze-norm")[0]["prompt"]
    assert prompt.startswith("Question: 0 + 0?")  # the cloze template, not the lettered options
    text = leaderboard.render(store, run_id, tmp_path / "reports")
    results = text.split("## Results")[1].split("\n## ")[0]
    assert "quiz@cloze-norm · acc_norm ↑ (n=8)" in results  # the format's headline, named in the column
    assert "quiz@cloze-norm` is scored in the prompt format cloze-norm, which its suite chooses" in results
    compared = text.split("## Paired comparisons")[1].split("\n## ")[0]
    assert "| quiz@cloze-norm · acc_norm ↑ | tiny16 − tiny |" in compared
    assert "## Format sensitivity" not in text


def test_formats_put_the_tasks_own_format_beside_the_suites(tmp_path, tiny_model_dir):
    config = quiz_project(tmp_path, tiny_model_dir, "cloze")
    request = RunRequest(config=config, models="tiny", suite="quiz", formats="mc,cloze,cloze-norm", quiet=True)
    _, store, run_id, _ = run_request(request)
    tasks = store.run(run_id)["provenance"]["tasks"]
    assert tasks["quiz@cloze"]["formats"]["rows"] == {"cloze": "quiz@cloze", "mc": "quiz",
                                                      "cloze-norm": "quiz@cloze-norm"}
    assert tasks["quiz"]["format"] == "mc" and tasks["quiz"]["format_of"] == "quiz@cloze"
    assert tasks["quiz@cloze-norm"]["format_of"] == "quiz@cloze"
    text = leaderboard.render(store, run_id, tmp_path / "reports")
    results = text.split("## Results")[1].split("\n## ")[0]
    assert "quiz@cloze · acc ↑" in results and "| quiz · " not in results and "cloze-norm ·" not in results
    section = text.split("## Format sensitivity")[1].split("## All metrics")[0]
    assert "| cloze (main row, the suite's format) | acc ↑ |" in section and "| mc (as defined) | acc ↑ |" in section


def test_a_format_the_tasks_own_is_the_plain_row(tmp_path, tiny_model_dir):
    config = quiz_project(tmp_path, tiny_model_dir, "mc")
    _, store, run_id, _ = run_request(RunRequest(config=config, models="tiny", suite="quiz", quiet=True))
    tasks = store.run(run_id)["provenance"]["tasks"]
    assert set(tasks) == {"quiz", "toyppl"} and "format_chosen_by" not in tasks["quiz"]


def test_a_bad_format_is_one_line(tmp_path, tiny_model_dir):
    for chosen, expected in (("clozee", "suites.quiz.options.quiz.format: unknown format 'clozee'; known: mc, cloze"),
                             ("cloze-smollm2", "suites.quiz.options.quiz.format = 'cloze-smollm2': quiz cannot take "
                                               "it (")):
        config = quiz_project(tmp_path, tiny_model_dir, chosen)
        result = subprocess.run([sys.executable, "-m", "evalkit", "--config", str(config), "run", "--models", "tiny",
                                 "--suite", "quiz", "--quiet"], capture_output=True, text=True, cwd=tmp_path,
                                timeout=600)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert expected in " ".join(result.stderr.split()), result.stderr
    config.write_text(config.read_text().replace('format = "cloze-smollm2"', "format = 3"))
    result = subprocess.run([sys.executable, "-m", "evalkit", "--config", str(config), "run", "--models", "tiny",
                             "--suite", "quiz", "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert result.returncode == 2 and "suites.quiz.options.quiz.format must be a prompt format name" in result.stderr
