import json
import os
from pathlib import Path

import pytest
from train_helpers import tiny_recipe, write_jsonl

from evalkit.errors import DataError
from evalkit.train.data import load_examples
from evalkit.train.formats import preference_example, sft_example, split_dialogue
from evalkit.train.recipe import DataSettings


def test_every_sft_format_becomes_the_same_chat_example():
    expected = {"messages": [{"role": "user", "content": "Say hi"}, {"role": "assistant", "content": "Hi!"}]}
    settings = DataSettings()
    assert sft_example(expected, settings, "f:1") == expected
    assert sft_example({"prompt": "Say hi", "completion": "Hi!"}, settings, "f:1") == expected
    assert sft_example({"instruction": "Say hi", "input": "", "output": "Hi!"}, settings, "f:1") == expected
    renamed = DataSettings(columns={"prompt": "q.text", "completion": "a"})
    assert sft_example({"q": {"text": "Say hi"}, "a": "Hi!"}, renamed, "f:1") == expected


def test_alpaca_input_is_appended_and_a_template_builds_the_prompt():
    row = {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"}
    assert sft_example(row, DataSettings(), "f:1")["messages"][0]["content"] == "Add the numbers.\n\n2 and 3"
    templated = DataSettings(format="prompt_completion", prompt_template="{{ passage }} {{ question }}",
                             columns={"completion": "answer"})
    example = sft_example({"passage": "Ann has 2.", "question": "How many?", "answer": "2"}, templated, "f:1")
    assert example["messages"] == [{"role": "user", "content": "Ann has 2. How many?"},
                                   {"role": "assistant", "content": "2"}]


def test_system_message_is_added_once():
    example = sft_example({"prompt": "a", "completion": "b"}, DataSettings(system="Be brief."), "f:1")
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]


def test_preference_text_and_chat_forms_agree():
    text = preference_example({"prompt": "Q?", "chosen": "good", "rejected": "bad"}, DataSettings(), "f:1")
    chat = preference_example({"prompt": [{"role": "user", "content": "Q?"}],
                               "chosen": [{"role": "assistant", "content": "good"}],
                               "rejected": [{"role": "assistant", "content": "bad"}]}, DataSettings(), "f:1")
    assert text == chat == {"prompt": [{"role": "user", "content": "Q?"}],
                            "chosen": [{"role": "assistant", "content": "good"}],
                            "rejected": [{"role": "assistant", "content": "bad"}]}


def test_whole_dialogues_split_into_a_shared_prompt():
    row = {"chosen": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Help?\n\nAssistant: Sure.",
           "rejected": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Help?\n\nAssistant: No."}
    example = preference_example(row, DataSettings(), "f:1")
    assert [m["role"] for m in example["prompt"]] == ["user", "assistant", "user"]
    assert example["chosen"] == [{"role": "assistant", "content": "Sure."}]
    assert example["rejected"] == [{"role": "assistant", "content": "No."}]
    with pytest.raises(DataError, match="f:9: chosen and rejected dialogues do not share"):
        preference_example({"chosen": row["chosen"], "rejected": "\n\nHuman: Other\n\nAssistant: No."},
                           DataSettings(), "f:9")
    assert split_dialogue("\n\nHuman: a\n\nAssistant: b", "x", "f:1")[1] == {"role": "assistant", "content": "b"}


@pytest.mark.parametrize("row, reason", [
    ({"prompt": "a", "completion": ""}, "completion must be non-empty text"),
    ({"messages": [{"role": "user", "content": "a"}]}, "no assistant turn"),
    ({"messages": [{"role": "robot", "content": "a"}]}, "messages[0] needs a role"),
    ({"text": "a"}, "cannot tell the format"),
])
def test_bad_sft_rows_name_file_line_and_reason(tmp_path, row, reason):
    rows = [{"prompt": "fine", "completion": "ok"}, {"prompt": "also", "completion": "fine"}, row]
    write_jsonl(tmp_path / "sft.jsonl", rows)
    recipe = tiny_recipe(tmp_path, "sft", data={"heldout": 0})
    with pytest.raises(DataError) as caught:
        load_examples(recipe, tmp_path)
    assert f"{tmp_path / 'sft.jsonl'}:3: " in str(caught.value) and reason in str(caught.value)


def test_bad_preference_row_and_broken_json_name_their_line(tmp_path):
    write_jsonl(tmp_path / "pref.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"},
                                          {"prompt": "p", "chosen": "same", "rejected": "same"}])
    with pytest.raises(DataError, match=r"pref.jsonl:2: chosen and rejected are identical"):
        load_examples(tiny_recipe(tmp_path, "dpo", data={"heldout": 0}), tmp_path)
    (tmp_path / "pref.jsonl").write_text('{"prompt": "p", "chosen": "a", "rejected": "b"}\n{"prompt": \n')
    with pytest.raises(DataError, match=r"pref.jsonl:2: not valid JSON"):
        load_examples(tiny_recipe(tmp_path, "dpo", data={"heldout": 0}), tmp_path)


def test_json_and_parquet_files_load_with_row_origins(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [{"instruction": f"Say {i}", "input": "", "output": str(i)} for i in range(5)]
    (tmp_path / "data.json").write_text(json.dumps(rows))
    pq.write_table(pa.Table.from_pylist(rows[:4] + [{"instruction": "x", "input": "", "output": ""}]),
                   tmp_path / "data.parquet")
    from_json = load_examples(tiny_recipe(tmp_path, "sft", data={"sources": [{"kind": "file", "path": "data.json"}],
                                                                 "heldout": 0}), tmp_path)
    assert len(from_json.items) == 5 and from_json.items[2].data["messages"][1]["content"] == "2"
    with pytest.raises(DataError, match=r"data.parquet:row 5: output must be non-empty"):
        load_examples(tiny_recipe(tmp_path, "sft", data={"sources": [{"kind": "file", "path": "data.parquet"}],
                                                         "heldout": 0}), tmp_path)


def test_missing_sources_say_where_they_looked(tmp_path):
    recipe = tiny_recipe(tmp_path, "sft", data={"sources": [{"kind": "file", "path": "nope.jsonl"},
                                                            {"kind": "package", "package": "no_such_pkg",
                                                             "path": "x.jsonl"}]})
    with pytest.raises(DataError, match="nope.jsonl.*no_such_pkg"):
        load_examples(recipe, tmp_path)


def test_heldout_rows_come_first_and_never_reach_training(data_files):
    examples = load_examples(tiny_recipe(data_files, "sft", data={"heldout": 8}), data_files)
    heldout, train = examples.split(8)
    assert [e.origin.rsplit(":", 1)[1] for e in heldout] == [str(i) for i in range(1, 9)]
    assert not {json.dumps(e.data) for e in heldout} & {json.dumps(e.data) for e in train}
    with pytest.raises(DataError, match="leaves no training rows"):
        examples.split(48)


def test_shared_orca_pairs_load_through_columns(data_dir):
    path = data_dir / "orca_dpo_pairs" / "validation.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    recipe = tiny_recipe(Path(os.getcwd()), "dpo", data={
        "sources": [{"kind": "file", "path": str(path)}], "heldout": 0,
        "columns": {"prompt": "input.messages", "chosen": "preferred_output", "rejected": "non_preferred_output"}})
    examples = load_examples(recipe, data_dir)
    assert len(examples.items) == sum(1 for line in path.open() if line.strip())
    assert examples.items[0].data["prompt"][0]["role"] == "system"
    assert examples.items[0].data["chosen"][0]["role"] == "assistant"


def test_shared_hh_rlhf_dialogues_load(data_dir):
    path = data_dir / "hh-rlhf" / "harmless-base-test.jsonl.gz"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    recipe = tiny_recipe(Path(os.getcwd()), "dpo", data={"sources": [{"kind": "file", "path": str(path),
                                                                      "format": "jsonl"}], "heldout": 0})
    try:
        examples = load_examples(recipe, data_dir)
    except DataError as err:  # the real data has a few malformed pairs: the error must still locate them
        assert "harmless-base-test.jsonl.gz:" in str(err)
        return
    assert len(examples.items) > 2000


def test_drop_mode_skips_bad_rows_and_names_them(tmp_path):
    write_jsonl(tmp_path / "pref.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"},
                                          {"prompt": "p", "chosen": "same", "rejected": "same"},
                                          {"prompt": "q", "chosen": "c", "rejected": "d"}])
    examples = load_examples(tiny_recipe(tmp_path, "dpo", data={"heldout": 0, "on_bad_row": "drop"}), tmp_path)
    assert [e.origin.rsplit(":", 1)[1] for e in examples.items] == ["1", "3"]
    assert len(examples.dropped) == 1 and "pref.jsonl:2: chosen and rejected are identical" in examples.dropped[0]
