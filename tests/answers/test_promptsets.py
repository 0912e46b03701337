"""Prompt sets: the offline default, MT-Bench and AlpacaEval from the local data folder, a user's JSONL."""

import json
from pathlib import Path

import pytest

from evalkit.answers.promptsets import load_prompt_set
from evalkit.errors import ConfigError, DataError

ROOT = Path(__file__).resolve().parents[2]


def test_the_offline_default_has_unique_varied_prompts_and_references():
    prompts = load_prompt_set("default", ROOT)
    assert 20 <= len(prompts.prompts) <= 30 and prompts.max_new_tokens <= 128
    assert len({p.id for p in prompts.prompts}) == len(prompts.prompts)
    assert len({p.category for p in prompts.prompts}) >= 6
    with_reference = {p.category for p in prompts.prompts if p.reference}
    assert with_reference == {"math", "coding"}


def test_mtbench_first_turns_with_gpt4_references_for_math_reasoning_coding(data_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    mtbench = load_prompt_set("mtbench", ROOT)
    first = json.loads((data_dir / "mtbench" / "question.jsonl").read_text().splitlines()[0])
    assert len(mtbench.prompts) == 80 and mtbench.prompts[0].text == first["turns"][0]
    assert mtbench.prompts[0].id == str(first["question_id"])
    referenced = [p for p in mtbench.prompts if p.reference]
    assert len(referenced) == 30 and {p.category for p in referenced} == {"math", "reasoning", "coding"}


def test_alpaca_eval_instructions(data_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    alpaca = load_prompt_set("alpaca_eval", ROOT, limit=10, seed=3)
    assert len(alpaca.prompts) == 10 and all(p.text and p.category for p in alpaca.prompts)
    assert [p.id for p in alpaca.prompts] == [p.id for p in load_prompt_set("alpaca_eval", ROOT, limit=10, seed=3).prompts]
    assert [p.id for p in alpaca.prompts] != [str(i) for i in range(1, 11)]  # a seeded sample, not the first 10


def test_a_users_jsonl_with_any_of_the_usual_fields(tmp_path):
    rows = [{"id": "a", "prompt": "Say hi."}, {"instruction": "Translate", "input": "bonjour"},
            {"question": "Why?", "category": "reasoning", "reference": "Because."}, {"turns": ["First turn", "Second"]}]
    (tmp_path / "mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    prompts = load_prompt_set("mine.jsonl", tmp_path)
    assert prompts.name == "mine" and [p.id for p in prompts.prompts] == ["a", "2", "3", "4"]
    assert [p.text for p in prompts.prompts] == ["Say hi.", "Translate\n\nbonjour", "Why?", "First turn"]
    assert prompts.prompts[2].reference == "Because." and prompts.prompts[2].category == "reasoning"
    assert [p.id for p in load_prompt_set("mine.jsonl", tmp_path, limit=2).prompts] == ["a", "2"]


@pytest.mark.parametrize("rows, message", [
    ([{"text": "no prompt field"}], "no prompt; give one of the fields"),
    ([{"id": 1, "prompt": "x"}, {"id": 1, "prompt": "y"}], "appears twice"),
])
def test_bad_user_files_say_what_is_wrong(tmp_path, rows, message):
    (tmp_path / "bad.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(DataError, match=message):
        load_prompt_set("bad.jsonl", tmp_path)


def test_unknown_prompt_sets_list_the_known_ones(tmp_path):
    with pytest.raises(ConfigError, match="default.*mtbench|alpaca_eval.*default"):
        load_prompt_set("nope", tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        load_prompt_set("missing.jsonl", tmp_path)
