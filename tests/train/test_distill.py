"""Distill recipes: a teacher (here an OpenAI-compatible endpoint over real HTTP) answers the recipe's prompts,
the tiny student is fine-tuned on the answers; a teacher failing half way keeps its answers and the rerun asks
only for the rest; teacher, prompts and answer hash in the provenance."""

from pathlib import Path

import pytest
from fake_endpoint import FakeEndpoint, prompt_of
from train_helpers import write_jsonl

from evalkit.errors import ConfigError, DataError, ModelError

PROMPTS = [{"id": f"q{i}", "question": f"What is {i} plus {i}?"} for i in range(16)]


def answer(prompt: str) -> str:
    return f"Teacher: {prompt} Twice {prompt.split()[2]}."


@pytest.fixture
def teacher(monkeypatch):
    from evalkit.backends.endpoint_calls import RequestRunner

    monkeypatch.setattr(RequestRunner, "retry_base_s", 0.01)
    state = {"fail_from": 6}  # the 7th prompt on fails, like an endpoint that goes down half way

    def behave(n, body):
        number = int(prompt_of(body).split()[2])
        return ("status", 503, None) if number >= state["fail_from"] else ("ok", answer(prompt_of(body)))

    with FakeEndpoint(behave) as server:
        yield server, state


def project(tmp_path: Path, tiny_model_dir: Path, url: str, teacher_name: str = "teacher") -> Path:
    write_jsonl(tmp_path / "prompts.jsonl", PROMPTS)
    (tmp_path / "distill.toml").write_text(f"""
stage = "distill"
[distill]
teacher = "{teacher_name}"
max_new_tokens = 32
[data]
sources = [{{ kind = "file", path = "prompts.jsonl" }}]
columns = {{ prompt = "question" }}
heldout = 4
[model]
method = "lora"
[lora]
r = 4
alpha = 8
[train]
max_steps = 2
save_steps = 2
batch_size = 4
max_length = 64
learning_rate = 1e-2
""")
    (tmp_path / "evalkit.toml").write_text(f"""
[project]
store = "store.db"
[models.base]
source = "{tiny_model_dir}"
[models.teacher]
source = "openai:teacher"
base_url = "{url}"
max_retries = 0
[models.student]
recipe = "distill.toml"
parent = "base"
""")
    return tmp_path / "evalkit.toml"


def prepared(config_path: Path, name: str = "student"):
    from evalkit.config import load_config
    from evalkit.store.db import Store
    from evalkit.train import prepare_model

    config = load_config(config_path)
    store = Store(config.store)
    return prepare_model(config, name, store), store


def test_a_teacher_failing_half_way_keeps_its_answers_and_the_rerun_trains_the_student(
        teacher, tiny_model_dir, tmp_path, cache, capsys):
    from evalkit.report.lineage import stage_cell
    from evalkit.train.build import trained_info
    from evalkit.train.data import Example, content_hash

    server, state = teacher
    config_path = project(tmp_path, tiny_model_dir, server.url)
    with pytest.raises(ModelError, match=r"distill\.toml: distill\.teacher = 'teacher' failed on 10 of 16 prompts"
                                         r".*the 6 answers it gave are kept"):
        prepared(config_path)
    asked = len(server.requests)
    state["fail_from"] = 99
    capsys.readouterr()
    student, store = prepared(config_path)
    assert "distill · teacher answers for base: 16/16 (100%)" in capsys.readouterr().err  # the teacher's progress
    assert len(server.requests) == asked + 10  # only the prompts that had failed
    info = trained_info(store, Path(student.folder).name)
    assert info["stage"] == "distill" and info["parent"]["name"] == "base" and info["training"]["steps"] == 2
    texts = [answer(f"What is {i} plus {i}?") for i in range(16)]
    expected = [Example({"messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                                      {"role": "assistant", "content": texts[i]}]}, "") for i in range(4, 16)]
    assert info["data"]["content_hash"] == content_hash(expected)  # the student trained on the teacher's answers
    distill = info["distill"]
    assert distill["teacher"] == "teacher" and distill["answers"] == 16 and distill["answered_now"] == 10
    assert distill["prompts"].endswith("prompts.jsonl") and len(distill["answers_hash"]) == 16
    assert stage_cell(info) == (f"distill · lora · teacher teacher (`{distill['teacher_fingerprint'][:12]}`), "
                                f"16 answers `{distill['answers_hash']}`")
    assert info["heldout"]["before"]["n"] == 4  # student perplexity on held-out teacher answers, before/after

    again, _ = prepared(config_path)
    assert again.folder == student.folder and len(server.requests) == asked + 10  # cached: no teacher call


def test_a_teacher_that_is_not_a_config_model_names_the_key(teacher, tiny_model_dir, tmp_path, cache):
    server, _ = teacher
    with pytest.raises(ConfigError, match=r"distill\.toml: distill\.teacher = 'nobody' is not a model in .*known"):
        prepared(project(tmp_path, tiny_model_dir, server.url, teacher_name="nobody"))


def test_a_row_without_a_prompt_names_file_and_line(teacher, tiny_model_dir, tmp_path, cache):
    server, _ = teacher
    config_path = project(tmp_path, tiny_model_dir, server.url)
    write_jsonl(tmp_path / "prompts.jsonl", PROMPTS[:3] + [{"id": "x", "text": "no question"}])
    with pytest.raises(DataError, match=r"prompts\.jsonl:4: missing field 'question'"):
        prepared(config_path)
    assert server.requests == []  # prompts are checked before the teacher is asked anything


def test_an_empty_teacher_is_one_line():
    from evalkit.train.recipe import recipe_from_dict

    with pytest.raises(ConfigError, match=r"r\.toml: distill\.teacher is empty"):
        recipe_from_dict({"stage": "distill", "data": {"sources": [{"kind": "file", "path": "p.jsonl"}]}},
                         Path("r.toml"))
