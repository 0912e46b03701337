from evalkit.train.data import Example
from evalkit.train.decontam import (
    build_index,
    decontaminate,
    ngrams,
    suite_task_items,
    texts_in,
)

EVAL_ITEM = {"document": "The quick brown fox jumps over the lazy dog while the farmer watches from his old red tractor.",
             "id": "x1", "_file": "ignored words here"}


def chat(user: str, reply: str) -> Example:
    return Example({"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]},
                   f"train.jsonl:{abs(hash(user)) % 1000}")


def test_ngrams_ignore_case_and_punctuation():
    assert ngrams("A, b. C!", 3) == {("a", "b", "c")}
    assert ngrams("only two", 3) == set()


def test_a_planted_overlapping_row_is_dropped_and_counted():
    index = build_index({"news": [EVAL_ITEM]}, 13)
    clean = chat("Tell me about foxes.", "Foxes are small omnivores.")
    planted = chat("Continue:", "the QUICK brown fox jumps over the lazy dog, while the farmer watches from his old "
                                "tractor")  # 13 shared words in a row, different case and punctuation
    near_miss = chat("Go on:", "quick brown fox jumps over the lazy dog while the farmer watches")  # 12 words
    result = decontaminate([clean, planted, near_miss], index)
    assert result.kept == [clean, near_miss]
    assert result.report["dropped"] == 1 and result.report["checked"] == 3
    assert result.report["examples"][0]["origin"] == planted.origin
    assert result.report["tasks"] == ["news"] and result.report["eval_items"] == 1


def test_report_only_mode_keeps_rows_but_counts_them():
    index = build_index({"news": [EVAL_ITEM]}, 13)
    planted = chat("x", EVAL_ITEM["document"])
    result = decontaminate([planted], index, drop=False)
    assert result.kept == [planted] and result.report["overlapping"] == 1 and result.report["dropped"] == 0


def test_preference_examples_are_checked_in_every_field():
    index = build_index({"news": [EVAL_ITEM]}, 13)
    pair = Example({"prompt": [{"role": "user", "content": "Summarise"}],
                    "chosen": [{"role": "assistant", "content": "fine"}],
                    "rejected": [{"role": "assistant", "content": EVAL_ITEM["document"]}]}, "pref.jsonl:4")
    assert decontaminate([pair], index).report["dropped"] == 1


def test_short_items_are_counted_not_guessed_and_private_fields_skipped():
    index = build_index({"qa": [{"q": "How many?", "a": "Nine"}, EVAL_ITEM]}, 13)
    assert index.items == 2 and index.too_short == 1
    assert texts_in(EVAL_ITEM) == [EVAL_ITEM["document"], "x1"]


def test_suite_items_come_from_the_configs_tasks(tmp_path):
    from evalkit.config import load_config

    (tmp_path / "tasks").mkdir()
    (tmp_path / "docs.jsonl").write_text('{"id": "a", "text": "one two three"}\n{"id": "b", "text": "four"}\n')
    (tmp_path / "tasks" / "docs.toml").write_text(
        'name = "docs"\nversion = 1\nkind = "perplexity"\n[[sources]]\nkind = "file"\npath = "../docs.jsonl"\n'
        '[perplexity]\ntext = "{{ text }}"\n')
    (tmp_path / "evalkit.toml").write_text(
        '[project]\n[models.base]\nsource = "x"\n[suites.s]\ntasks = ["docs"]\n[suites.s.options.docs]\nlimit = 1\n'
        '[suites.t]\ntasks = ["missing_task"]\n')
    items, unavailable = suite_task_items(load_config(tmp_path / "evalkit.toml"))
    assert [row["text"] for row in items["docs"]] == ["one two three"]  # the suite's limit applies
    assert unavailable and unavailable[0].startswith("missing_task")
