"""Continued pretraining on plain documents: packed full-length rows, held-out document perplexity goes
down, .txt folders and JSONL both read, and a row without text is named."""

import pytest
from train_helpers import write_jsonl

from evalkit.errors import DataError

DOCUMENTS = [f"Reactor {i} report: the coolant loop {i % 5} ran at {300 + i} kelvin and pump {i % 3} "
             f"was inspected. The coolant loop stayed within limits." for i in range(40)]


def pretrain_recipe(folder, source, columns=None, **train):
    from evalkit.train.recipe import recipe_from_dict

    settings = {"learning_rate": 1e-2, "batch_size": 4, "max_steps": 6, "save_steps": 3, "max_length": 32,
                "eval_batch_size": 8, **train}
    return recipe_from_dict({"stage": "pretrain", "data": {"sources": [source], "heldout": 6,
                                                                       "columns": columns or {}},
                             "model": {"method": "lora"}, "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
                             "train": settings}, folder / "pretrain.toml")


def test_pretraining_packs_documents_and_lowers_heldout_perplexity(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from evalkit.train import pretrain
    from evalkit.train.pipeline import make_plan, run_stage

    write_jsonl(tmp_path / "docs.jsonl", [{"body": d} for d in DOCUMENTS])
    recipe = pretrain_recipe(tmp_path, {"kind": "file", "path": "docs.jsonl"}, columns={"text": "body"})
    plan = make_plan(recipe, "tiny", tiny_model_dir, "fp")
    assert len(plan.train) == 34 and plan.train[0].data == {"text": DOCUMENTS[6]}
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    trainer = pretrain.build_trainer(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tokenizer,
                                     Dataset.from_list([e.data for e in plan.train]), plan.recipe,
                                     tmp_path / "ck", None, [])
    lengths = [len(row["input_ids"]) for row in trainer.train_dataset]
    assert sum(length == 32 for length in lengths) >= len(lengths) - 1  # packed: every row full but the last
    info = run_stage(plan, tmp_path / "out", tmp_path / "work", quiet=True)
    before, after = info["heldout_documents"]["before"], info["heldout_documents"]["after"]
    # measured: 436 -> 316 after six steps
    assert after["text_perplexity"] < 0.8 * before["text_perplexity"] and after["n"] == 6
    assert info["stage"] == "pretrain" and info["heldout"] == {} and info["merge"]["max_logit_difference"] < 1e-3


def test_a_folder_of_text_files_is_one_document_per_file(tmp_path):
    from evalkit.train.data import load_examples

    (tmp_path / "docs").mkdir()
    for i, text in enumerate(DOCUMENTS[:5]):
        (tmp_path / "docs" / f"{i}.txt").write_text(text)
    recipe = pretrain_recipe(tmp_path, {"kind": "file", "path": "docs", "files": ["*.txt"]})
    examples = load_examples(recipe, tmp_path)
    assert [e.data["text"] for e in examples.items] == DOCUMENTS[:5]


def test_a_row_without_text_names_its_line(tmp_path):
    from evalkit.train.data import load_examples

    write_jsonl(tmp_path / "docs.jsonl", [{"text": "fine"}, {"body": "no text field"}])
    with pytest.raises(DataError, match=r"docs.jsonl:2: pretraining needs a text field"):
        load_examples(pretrain_recipe(tmp_path, {"kind": "file", "path": "docs.jsonl"}), tmp_path)
