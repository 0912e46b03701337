"""Answers to a prompt set: generated through the response cache, stored per model, resumable."""

import json

import pytest
from fake_endpoint import FakeEndpoint, prompt_of

from evalkit.answers.generate import answer_request, generate_answers, stored_answers
from evalkit.answers.promptsets import load_prompt_set
from evalkit.backends.endpoint_calls import RequestRunner
from evalkit.config import load_config
from evalkit.progress.console import ConsoleUI
from evalkit.store.db import Store

PROMPTS = [{"id": f"p{i}", "prompt": f"Question number {i}?"} for i in range(5)]


def write_project(folder, source_a, source_b, extra=""):
    (folder / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in PROMPTS))
    (folder / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
[models.a]
source = "{source_a}"
{extra}
[models.b]
source = "{source_b}"
{extra}
[suites.default]
tasks = ["news"]
""")
    return load_config(folder / "evalkit.toml")


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setattr(RequestRunner, "retry_base_s", 0.01)
    state = {"fail": {"Question number 3?"}}

    def behave(n, body):
        if prompt_of(body) in state["fail"]:
            return ("status", 502, None)
        return ("ok", f"{body['model']} says: {prompt_of(body)}")

    with FakeEndpoint(behave) as server:
        yield server, state


def test_answers_are_stored_and_a_rerun_asks_only_for_the_missing_ones(tmp_path, flaky):
    server, state = flaky
    config = write_project(tmp_path, "openai:a", "openai:b", f'base_url = "{server.url}"\nmax_retries = 1')
    store = Store(config.store)
    answers = generate_answers(config, ["a", "b"], "prompts.jsonl", store, ConsoleUI(quiet=True))
    assert len(answers) == 8 and {a.prompt_id for a in answers} == {"p0", "p1", "p2", "p4"}
    assert answers[0].answer == "a says: Question number 0?"
    calls = len(server.requests)
    state["fail"] = set()
    answers = generate_answers(config, ["a", "b"], "prompts.jsonl", store, ConsoleUI(quiet=True))
    assert len(answers) == 10 and len(server.requests) == calls + 2  # only p3, for each model
    assert [a.prompt_id for a in stored_answers(store, "prompts", ["b"])] == [f"p{i}" for i in range(5)]
    assert stored_answers(store, "other") == [] and len(stored_answers(store)) == 10


def test_answers_are_what_the_backend_generates_with_the_prompt_sets_settings(tmp_path, tiny_model_dir):
    from evalkit.backends.hf import HFBackend

    config = write_project(tmp_path, tiny_model_dir, tiny_model_dir, "batch_size = 2")
    (tmp_path / "promptsets").mkdir()
    (tmp_path / "promptsets" / "few.toml").write_text(
        'name = "few"\nversion = 1\nprompt = "{{ prompt }}"\nid = "{{ id }}"\n'
        '[[sources]]\nkind = "file"\npath = "../prompts.jsonl"\n[generate]\nmax_new_tokens = 7\nsystem = "Be brief."\n')
    store = Store(config.store)
    answers = generate_answers(config, ["a"], "few", store, ConsoleUI(quiet=True))
    prompt_set = load_prompt_set("few", tmp_path)
    requests = [answer_request(prompt_set, p, config.seed) for p in prompt_set.prompts]
    assert requests[0].chat and requests[0].system == "Be brief." and requests[0].max_new_tokens == 7
    direct = dict(HFBackend(config.model("a"), tiny_model_dir).generate(requests))
    assert [a.answer for a in answers] == [direct[i].text for i in range(len(requests))]
    fingerprints = {row[0] for row in store.db.execute("SELECT fingerprint FROM answers")}
    assert len(fingerprints) == 1 and store.count_responses() == len(PROMPTS)
