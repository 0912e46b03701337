"""`evalkit run` with a suite that names judges: answers, verdicts and the leaderboard section in one go."""

from project import write_project

from evalkit.config import load_config
from evalkit.judge.verdicts import judged_pairs
from evalkit.progress.console import ConsoleUI
from evalkit.report import leaderboard as report
from evalkit.run import pipeline as runner
from evalkit.store.db import Store

JUDGE = '''
[judges.local]
prompt = "mtbench-pairwise"
model = "tiny"
method = "logprobs"
prompt_set = "few"
description = "a random tiny model: numbers mean nothing"

[judges.local-calibrated]
prompt = "mtbench-pairwise"
model = "tiny"
method = "logprobs"
prompt_set = "few"
position = "calibrated"
tie_band = 0.01
description = "the same random tiny model, position-calibrated"

[models.plain]
source = "{model}"
chat_template = false
'''
PROMPT_SET = '''name = "few"
version = 1
id = "{{ id }}"
prompt = "{{ prompt }}"
[[sources]]
kind = "file"
path = "../few.jsonl"
[generate]
max_new_tokens = 4
'''


def project(tmp_path, tiny_model_dir):
    path = write_project(tmp_path, tiny_model_dir, n_docs=4)
    (tmp_path / "few.jsonl").write_text('{"id": "a", "prompt": "Hi"}\n{"id": "b", "prompt": "2+2?"}\n'
                                        '{"id": "c", "prompt": "Name a colour."}\n')
    (tmp_path / "promptsets").mkdir()
    (tmp_path / "promptsets" / "few.toml").write_text(PROMPT_SET)
    text = path.read_text().replace('tasks = ["toyppl"]', 'tasks = ["toyppl"]\njudge = ["local", "local-calibrated"]\nprompt_limit = 2')
    judge = JUDGE.replace("{model}", str(tiny_model_dir))
    path.write_text(text.replace("[suites.default]", judge + "\n[suites.default]"))
    return load_config(path)


def test_run_judges_when_the_suite_names_a_judge(tmp_path, tiny_model_dir):
    config = project(tmp_path, tiny_model_dir)
    store = Store(config.store)
    run_id = runner.run(config, ["tiny", "plain"], "default", store, ConsoleUI(quiet=True))
    judged = store.run(run_id)["provenance"]["judge"]
    assert list(judged) == ["local", "local-calibrated"]
    for name, summary in judged.items():
        assert (summary["judge"], summary["prompt_set"], summary["wanted"], summary["missing"]) == (name, "few", 4, 0)
        assert len(judged_pairs(store, "few", name)) == 2
    assert judged["local-calibrated"]["cached"] == 0 and judged["local-calibrated"]["judged"] == 4
    leaderboard = report.write(store, config.reports, run_id).read_text()
    assert "### Judge `local` on prompt set `few` (2 prompts, 2 models)" in leaderboard
    assert "a random tiny model: numbers mean nothing" in leaderboard and "| plain vs tiny | strict |" in leaderboard
    assert "Position rule: **calibrated**" in leaderboard and "| plain vs tiny | calibrated |" in leaderboard
    assert "### Judge–judge agreement" in leaderboard
    assert "| `local` (strict) vs `local-calibrated` (calibrated) | few |" in leaderboard


def test_run_with_one_model_skips_the_judge_and_says_why(tmp_path, tiny_model_dir):
    config = project(tmp_path, tiny_model_dir)
    store = Store(config.store)
    run_id = runner.run(config, ["tiny"], "default", store, ConsoleUI(quiet=True))
    assert store.run(run_id)["provenance"]["judge"]["local"] == {"judge": "local", "skipped": "needs two or more models"}
