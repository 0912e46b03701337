"""`--formats` with the tiny model: each choice and generation task runs in each format on the same items,
the chat formats go through the model's own template, every format's requests have their own cache keys
(a rerun computes nothing), the leaderboard gains a Format sensitivity section, and bad input is one line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from project import write_project

from evalkit.api import Results
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
[fewshot]
num_fewshot = 2
sampler = "first_n"
"""
SUMS = """name = "sums"
version = 1
kind = "generate"
id_field = "id"
scorers = ["exact_match"]
[[sources]]
kind = "file"
path = "../sums.jsonl"
[generate]
prompt = "{{ q }} ="
target = "{{ a }}"
max_new_tokens = 4
stop = ["\\n"]
[fewshot]
num_fewshot = 1
sampler = "first_n"
"""
FORMATS = "mc,cloze,cloze-norm,chat,fewshot-multiturn"


def write_tasks(root) -> None:
    quiz = [{"id": f"q{i}", "q": f"{i} + {i}?", "options": [str(2 * i), str(2 * i + 1)][:: 1 if i % 2 else -1],
             "label": 0 if i % 2 else 1} for i in range(8)]
    sums = [{"id": f"s{i}", "q": f"{i} + 1", "a": str(i + 1)} for i in range(4)]
    (root / "quiz.jsonl").write_text("".join(json.dumps(r) + "\n" for r in quiz))
    (root / "sums.jsonl").write_text("".join(json.dumps(r) + "\n" for r in sums))
    (root / "tasks" / "quiz.toml").write_text(QUIZ)
    (root / "tasks" / "sums.toml").write_text(SUMS)


def evalkit(*args, cwd):
    return subprocess.run([sys.executable, "-m", "evalkit", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def responses(root) -> int:
    return sqlite3.connect(root / "store.db").execute("SELECT COUNT(*) FROM responses").fetchone()[0]


def test_each_task_runs_in_each_format_on_the_same_items_and_is_cached(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    write_tasks(tmp_path)
    request = RunRequest(config=config, models="tiny,tiny16", tasks="quiz,sums,toyppl", formats=FORMATS, quiet=True)
    _, store, run_id, _ = run_request(request)
    tasks = store.run(run_id)["provenance"]["tasks"]
    assert tasks["quiz"]["formats"] == {"rows": {"mc": "quiz", "cloze": "quiz@cloze", "cloze-norm": "quiz@cloze-norm",
                                                 "chat": "quiz@chat", "fewshot-multiturn": "quiz@fewshot-multiturn"},
                                        "skipped": {}}
    assert tasks["sums"]["formats"]["rows"] == {"default": "sums", "chat": "sums@chat",
                                                "fewshot-multiturn": "sums@fewshot-multiturn"}
    assert set(tasks["sums"]["formats"]["skipped"]) == {"mc", "cloze", "cloze-norm"}
    assert set(tasks["toyppl"]["formats"]["skipped"]) == set(FORMATS.split(","))
    assert tasks["quiz@cloze"]["format_of"] == "quiz" and tasks["quiz@cloze"]["data_hash"] == tasks["quiz"]["data_hash"]
    ids = {t: [r["sample_id"] for r in store.samples(run_id, "tiny", t)] for t in ("quiz", "quiz@cloze", "quiz@chat")}
    assert ids["quiz"] == ids["quiz@cloze"] == ids["quiz@chat"] == [f"q{i}" for i in range(8)]
    chat = store.samples(run_id, "tiny", "quiz@fewshot-multiturn")[0]["prompt"]
    assert chat.count("<|im_start|>assistant\n") == 3 and chat.endswith("<|im_start|>assistant\n")  # 2 shots + reply
    generated = store.samples(run_id, "tiny", "sums@chat")[0]["prompt"]
    assert generated.startswith("<|im_start|>user\n") and "0 + 1 =" in generated
    # every format with its own prompts asks its own requests: 2 models × (4 choice prompt formats × 8 items ×
    # 2 options + 3 × 4 generations + 24 documents); cloze-norm reads cloze's requests, so it adds none
    assert responses(tmp_path) == 2 * (4 * 8 * 2 + 3 * 4 + 24)
    results = Results(store, run_id)
    metrics, compared = results.formats()
    assert set(metrics["format"]) == {"mc", "cloze", "cloze-norm", "chat", "fewshot-multiturn", "default"}
    assert (metrics[metrics["task"] == "quiz"]["n"] == 8).all() and metrics["spread"].notna().all()
    assert set(compared["model_a"]) == {"tiny16"} and len(compared) == 5 + 3 and "sign_depends" in compared
    text = leaderboard.render(store, run_id, tmp_path / "reports")
    main = text.split("## Results")[1].split("##")[0]
    assert "quiz · acc" in main and "quiz@" not in main  # the formats stay out of the main table
    section = text.split("## Format sensitivity")[1].split("## All metrics")[0]
    assert "| mc (as defined) | acc ↑ |" in section and "| cloze | acc ↑ |" in section
    assert "| spread (max − min) |" in section and "tiny16 − tiny" in section
    assert "- not run: mc (for choice tasks, and sums is a generate task)" in section
    # a second run with the same formats asks the backend for nothing
    again = RunRequest(config=config, models="tiny,tiny16", tasks="quiz,sums,toyppl", formats=FORMATS, quiet=True)
    _, _, second, _ = run_request(again)
    assert responses(tmp_path) == 2 * (4 * 8 * 2 + 3 * 4 + 24)
    assert store.run(second)["provenance"]["tasks"]["quiz@chat"]["format"] == "chat"


def test_unknown_format_and_one_no_task_takes_are_one_line(tmp_path, tiny_model_dir):
    config = write_project(tmp_path, tiny_model_dir)
    write_tasks(tmp_path)
    for formats, expected in (("mc,chatt", "--formats: unknown format 'chatt'; known: mc, cloze"),
                              ("cloze-smollm2", "--formats cloze-smollm2: no task of this run can take it (quiz: "),
                              ("mc", "--formats mc: no task of this run can take it (sums: for choice tasks, and sums is a generate task")):
        tasks = "quiz" if formats == "cloze-smollm2" else "sums" if formats == "mc" else "quiz"
        result = evalkit("--config", str(config), "run", "--models", "tiny", "--tasks", tasks, "--formats", formats,
                         "--quiet", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert expected in " ".join(result.stderr.split()), result.stderr
    assert responses(tmp_path) == 0


def test_a_suite_opts_into_formats_and_the_flag_wins(tmp_path, tiny_model_dir):
    suite = '\n[suites.quiz]\ntasks = ["quiz"]\nformats = ["cloze"]\n'
    config = write_project(tmp_path, tiny_model_dir, extra_toml=suite)
    write_tasks(tmp_path)
    _, store, run_id, _ = run_request(RunRequest(config=config, models="tiny", suite="quiz", quiet=True))
    assert store.run(run_id)["provenance"]["tasks"]["quiz"]["formats"]["rows"] == {"mc": "quiz", "cloze": "quiz@cloze"}
    _, store, run_id, _ = run_request(RunRequest(config=config, models="tiny", suite="quiz", formats="chat", quiet=True))
    tasks = store.run(run_id)["provenance"]["tasks"]
    assert tasks["quiz"]["formats"]["rows"] == {"mc": "quiz", "chat": "quiz@chat"} and "quiz@cloze" not in tasks
    import evalkit  # the Python API takes the same formats, served here from the two runs' cache

    metrics, _ = evalkit.evaluate(models="tiny", tasks=["quiz"], formats=["cloze", "chat"], config=config).formats()
    assert list(metrics["format"]) == ["mc", "cloze", "chat"] and (metrics["n"] == 8).all()
