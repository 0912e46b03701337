"""Pairwise judging end to end against a scripted local endpoint (127.0.0.1): candidates and
judge are both served by it, so each scenario controls every answer and every verdict."""

import json
import re
import socket
import sqlite3

import pytest
from fake_endpoint import FakeEndpoint, prompt_of

from evalkit.backends.endpoint_calls import RequestRunner
from evalkit.errors import ConfigError
from evalkit.judge import run_judge
from evalkit.judge.stats import position_bias
from evalkit.judge.verdicts import judged_pairs, judgment_rows
from evalkit.progress.console import ConsoleUI
from evalkit.project import load_project
from evalkit.report.judge import judge_section
from evalkit.store.db import Store

SECRET = "sk-judge-SECRET-4242"
PROMPTS = [{"id": "p1", "prompt": "Name a colour."}, {"id": "p2", "prompt": "Name a fruit."},
           {"id": "p3", "prompt": "Name a city."},
           {"id": "m1", "prompt": "What is 2 + 3?", "category": "math", "reference": "REFERENCE-FIVE"}]
ANSWERS = {"short": "Red.", "mid": "It is red, I think.", "long": "Red is a colour; so are blue, green and yellow."}


def shown_answers(text: str) -> tuple[str, str]:
    a = re.search(r"Assistant A's Answer\]\n(.*)\n\[The End of Assistant A", text, re.S).group(1)
    b = re.search(r"Assistant B's Answer\]\n(.*)\n\[The End of Assistant B", text, re.S).group(1)
    return a, b


class Script:
    """What the endpoint does: candidates answer by model; the judge follows `policy`."""

    def __init__(self):
        self.policy, self.garble, self.fail, self.malformed = "longer", set(), set(), set()
        self.judge_calls = 0

    def __call__(self, n, body):
        model, text = body["model"], prompt_of(body)
        if model != "judge":
            return ("ok", ANSWERS[model] + " " + text[:12])
        self.judge_calls += 1
        if any(marker in text for marker in self.fail):
            return ("status", 503, None)
        if any(marker in text for marker in self.malformed):
            return ("malformed",)
        if any(marker in text for marker in self.garble):
            return ("ok", "Both answers are fine, I cannot decide.")
        if self.policy == "first":
            return ("ok", "Explanation... [[A]]")
        a, b = shown_answers(text)
        return ("ok", "Quoting the format [[C]] first. Verdict: " + ("[[A]]" if len(a) > len(b) else "[[B]]"))


@pytest.fixture
def script():
    return Script()


@pytest.fixture
def endpoint(script, monkeypatch):
    monkeypatch.setattr(RequestRunner, "retry_base_s", 0.01)
    monkeypatch.setenv("EVALKIT_TEST_JUDGE_KEY", SECRET)
    with FakeEndpoint(script) as server:
        yield server


def write_project(folder, url, judge_url=None, judge_settings=""):
    (folder / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    models = "".join(f'[models.{m}]\nsource = "openai:{m}"\nbase_url = "{url}"\nmax_retries = 1\n\n' for m in ANSWERS)
    (folder / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
reports = "reports"
seed = 7

{models}
[judges.fake]
prompt = "mtbench-pairwise"
model = {{ source = "openai:judge", base_url = "{judge_url or url}", api_key_env = "EVALKIT_TEST_JUDGE_KEY", max_retries = 1 }}
prompt_set = "prompts.jsonl"
description = "a scripted judge for tests"
{judge_settings}
[suites.default]
tasks = ["news"]
""")
    return load_project(folder / "evalkit.toml")


def judge(config, models=("short", "long")):
    store = Store(config.store)
    summary = run_judge(config, list(models), "fake", None, store, ConsoleUI(quiet=True))
    return store, summary


def test_both_orders_are_judged_stored_and_mapped_back(tmp_path, endpoint, script):
    store, summary = judge(write_project(tmp_path, endpoint.url))
    rows = judgment_rows(store)
    assert (summary.wanted, summary.judged, summary.unscored, summary.missing) == (8, 8, 0, 0)
    assert {(r["model_a"], r["model_b"]) for r in rows} == {("long", "short")}  # pairs in name order
    for row in rows:  # the longer answer (model_a's) is shown first in "ab", second in "ba"
        assert row["shown"] == ("A" if row["position"] == "ab" else "B") and row["verdict"] == "a"
        assert row["raw"].endswith("[[A]]" if row["position"] == "ab" else "[[B]]")
        assert row["template"] == ("mtbench-pairwise-ref" if row["prompt_id"] == "m1" else "mtbench-pairwise")
    assert all(p.verdict_ab == p.verdict_ba == p.final == "a" for p in judged_pairs(store))
    judge_prompts = [prompt_of(body) for _, body, _ in endpoint.requests if body["model"] == "judge"]
    assert sum("REFERENCE-FIVE" in p for p in judge_prompts) == 2  # the math prompt, in both orders only


def test_a_position_biased_judge_yields_ties_not_wins(tmp_path, endpoint, script):
    script.policy = "first"
    store, _ = judge(write_project(tmp_path, endpoint.url))
    pairs = judged_pairs(store)
    assert all((p.verdict_ab, p.verdict_ba, p.final) == ("a", "b", "tie") for p in pairs)
    bias = position_bias(judgment_rows(store), pairs)
    assert (bias.both_orders, bias.flips, bias.decisive, bias.first_wins) == (4, 4, 8, 8)


def test_unreadable_verdicts_are_stored_unscored_and_reported(tmp_path, endpoint, script):
    script.garble = {"Name a fruit."}
    store, summary = judge(write_project(tmp_path, endpoint.url))
    unscored = [r for r in judgment_rows(store) if r["shown"] is None]
    assert summary.unscored == 2 and len(unscored) == 2
    assert all(r["raw"].startswith("Both answers are fine") and "no verdict" in r["error"] for r in unscored)
    fruit = [p for p in judged_pairs(store) if p.prompt_id == "p2"][0]
    assert fruit.final is None and fruit.verdict_ab is None
    section = "\n".join(judge_section(store, {}, tmp_path / "reports"))
    assert "Unscored: 2 of 8" in section and "| long vs short | strict | 3 / 0 / 0 | 1 |" in section


def test_a_rerun_costs_nothing_and_redoes_only_what_is_missing(tmp_path, endpoint, script):
    config = write_project(tmp_path, endpoint.url)
    judge(config, ("short", "long", "mid"))
    calls = len(endpoint.requests)
    store, summary = judge(config, ("short", "long", "mid"))
    assert len(endpoint.requests) == calls and (summary.cached, summary.judged) == (24, 0)
    with store.transaction() as db:
        db.execute("DELETE FROM judgments WHERE prompt_id='p3' AND model_a='long' AND model_b='mid'")
        db.execute("DELETE FROM responses WHERE model=?", (store.db.execute(
            "SELECT judge_fingerprint FROM judgments LIMIT 1").fetchone()[0],))
    _, summary = judge(config, ("short", "long", "mid"))
    assert summary.judged == 2 and len(endpoint.requests) == calls + 2


def test_failed_requests_lose_nothing_and_a_rerun_completes_them(tmp_path, endpoint, script):
    config = write_project(tmp_path, endpoint.url)
    script.fail, script.malformed = {"Name a city."}, {"Name a colour."}
    store, summary = judge(config)
    assert summary.failures == {"HTTP 503": 2, "malformed response": 2} and summary.missing == 4
    assert summary.judged == 4 and len(judgment_rows(store)) == 4
    assert "left 4 judgments missing" in "\n".join(judge_section(store, {}, tmp_path / "reports"))
    script.fail, script.malformed, before = set(), set(), script.judge_calls
    _, summary = judge(config)
    assert summary.judged == 4 and summary.missing == 0 and script.judge_calls == before + 4


def test_a_judge_endpoint_that_is_down_is_reported_and_answers_are_kept(tmp_path, endpoint):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    store, summary = judge(write_project(tmp_path, endpoint.url, judge_url=dead))
    assert summary.judged == 0 and summary.missing == 8 and "connection error" in summary.failures
    assert store.db.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 8


def test_the_api_key_is_never_written(tmp_path, endpoint, capsys):
    from evalkit.cli import main

    config = write_project(tmp_path, endpoint.url)
    store = Store(config.store)
    run_id = store.start_run({"models": ["short", "long"], "suite": "default", "config": {}}, {"seed": 7})
    store.finish_run(run_id, {"seed": 7, "tasks": {}})
    assert main(["--config", str(config.path), "judge", "--models", "short,long", "--judge", "fake"]) == 0
    assert any(h.get("authorization") == f"Bearer {SECRET}" for _, _, h in endpoint.requests)
    leaderboard = (tmp_path / "reports" / "leaderboard.md").read_text()
    assert "## Pairwise judge" in leaderboard and "a scripted judge for tests" in leaderboard
    store.close()
    sqlite3.connect(config.store).execute("PRAGMA wal_checkpoint(TRUNCATE)").close()
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    output = capsys.readouterr()
    assert SECRET.encode() not in written and SECRET not in output.out + output.err


def test_the_judge_command_in_a_fresh_process(tmp_path, endpoint):
    """`evalkit judge` end to end in its own process, as a user runs it."""
    import os
    import subprocess
    import sys

    config = write_project(tmp_path, endpoint.url)
    result = subprocess.run([sys.executable, "-m", "evalkit", "--config", str(config.path), "judge",
                             "--models", "short,long", "--quiet"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "EVALKIT_TEST_JUDGE_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    assert "long vs short" in result.stderr and "8 judged now" in " ".join(result.stderr.split())
    assert len(judgment_rows(Store(config.store))) == 8


def test_an_empty_store_has_every_table_and_no_verdicts(tmp_path):
    """The store creates the judge's tables itself: a report on a store that never saw a judge is empty."""
    from evalkit.answers.generate import stored_answers

    store = Store(tmp_path / "store.db")
    assert judge_section(store, {}, tmp_path) == [] and judged_pairs(store) == []
    assert stored_answers(store) == [] and judgment_rows(store) == []


def test_a_judge_method_and_a_position_rule_registered_from_outside_run_end_to_end(tmp_path, endpoint, script):
    """A toy method (the longer answer shown wins, with probabilities) and a toy rule (the first order decides),
    registered here and removed after, go through judging, storage and the leaderboard with no other edit."""
    from evalkit.judge import calibration, methods

    def longer_wins(handle, jobs, store, seed, tie_margin, progress):
        outcomes = {}
        for job in jobs:
            first = len(job.first) > len(job.second)
            outcomes[job.key] = methods.Outcome("toy", "A" if first else "B",
                                                probs=(0.9, 0.1, 0.0) if first else (0.1, 0.9, 0.0))
        return outcomes, methods.Counter()

    methods.register_method(methods.JudgeMethod("toy", "verdict = the longer answer (a toy)", longer_wins,
                                                gives_probabilities=True))
    calibration.register_rule(calibration.PositionRule("first-order", "first-order rule (a toy): the verdict with "
                                                       "model_a shown first", lambda pair, band: pair.verdict_ab))
    try:
        config = write_project(tmp_path, endpoint.url, judge_settings='method = "toy"\nposition = "first-order"\n')
        store, _ = judge(config)
        assert script.judge_calls == 0  # the toy method asked the judge endpoint nothing
        pairs = judged_pairs(store)
        assert {p.final for p in pairs} == {"a"}  # "long" (model_a in name order) is the longer answer everywhere
        page = "\n".join(judge_section(store, None, tmp_path / "reports"))
        assert "verdict = the longer answer (a toy)" in page
        assert "Position rule: **first-order** (first-order rule (a toy)" in page
        assert "| strict vs calibrated |" in page and "| strict vs first-order |" in page
    finally:
        methods.METHODS.pop("toy")
        calibration.RULES.pop("first-order")
    with pytest.raises(ConfigError, match=r"judges.fake.method = 'toy'; choose one of generate, logprobs, reward"):
        write_project(tmp_path, endpoint.url, judge_settings='method = "toy"\n')  # unregistered: refused again
