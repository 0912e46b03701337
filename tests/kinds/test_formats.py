"""Prompt formats: parsing --formats, a task's declared formulations, the requests each format makes,
lm-eval's chat layout of few-shot examples, and lighteval's acc_norm_nospace."""

import json

import pytest
from kinds.test_choice import TASK, write_task

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError
from evalkit.kinds import formats
from evalkit.scoring import metrics as scoring
from evalkit.tasks import formats as task_formats
from evalkit.tasks.loading import Sample, load_task

DECLARED = TASK.replace("[fewshot]", """[formats]
native = "mc"
[formats.cloze]
prompt = "Q: {{ q }}\\nA:"
choices = "options"
[formats.cloze-smollm2]
prompt = "Q: {{ q }}\\nA:"
choices = "options"

[fewshot]""").replace('choices = "options"\ngold', 'choices = "[\'A\', \'B\']"\ngold')


def as_json(messages):
    """A stand-in renderer that shows the messages it was given (the run passes the model's template)."""
    return json.dumps(messages)


@pytest.fixture
def quiz(tmp_path):
    return load_task(str(write_task(tmp_path, DECLARED)))


def variant(task, name):
    return task_formats.variant(task, formats.parse(name))


def test_unknown_and_clashing_formats_are_one_line():
    with pytest.raises(ConfigError, match=r"unknown format 'clozze'; known: mc, cloze, cloze-norm"):
        formats.parse_list("mc,clozze")
    with pytest.raises(ConfigError, match="mc and cloze both say how the options are put"):
        formats.parse("mc+cloze")
    combined = formats.parse("cloze+chat")
    assert (combined.formulation, combined.headline, combined.chat, combined.kinds) == ("cloze", "acc", True,
                                                                                       frozenset({"choice"}))
    assert [f.name for f in formats.parse_list("chat, mc,chat")] == ["chat", "mc"]


def test_each_formulation_puts_the_same_item_its_own_way(quiz):
    sample = quiz.load_samples(TaskOptions())[0]
    mc = quiz.handler.requests(quiz, sample, {})
    cloze = variant(quiz, "cloze")
    assert [(r.context, r.continuation) for r in mc] == [("Questions about maths.\n\n2 + 2?\nAnswer:", " A"),
                                                          ("Questions about maths.\n\n2 + 2?\nAnswer:", " B")]
    assert [(r.context, r.continuation) for r in cloze.handler.requests(cloze, sample, {})] == [
        ("Questions about maths.\n\nQ: 2 + 2?\nA:", " 4"), ("Questions about maths.\n\nQ: 2 + 2?\nA:", " five")]
    assert cloze.name == "quiz@cloze" and cloze.content_hash != quiz.content_hash
    assert task_formats.is_native(quiz, formats.parse("mc")) and not task_formats.is_native(quiz, formats.parse("cloze"))
    smollm = variant(quiz, "cloze-norm")
    assert smollm.section("choice")["primary"] == ["acc_norm"]


def test_chat_formats_lay_out_examples_as_lm_eval_does(quiz):
    sample = quiz.load_samples(TaskOptions())[0]
    options = {"num_fewshot": 2, "chat_template": as_json}
    chat = variant(quiz, "chat")
    (first, second) = chat.handler.requests(chat, sample, options)
    assert (first.continuation, second.continuation) == ("A", "B")  # nothing between the assistant header and it
    assert json.loads(first.context) == [
        {"role": "system", "content": "Questions about maths.\n\n"},
        {"role": "user", "content": "1 + 1?\nAnswer: B\n\n5 - 1?\nAnswer: A\n\n2 + 2?\nAnswer:"}]
    turns = variant(quiz, "fewshot-multiturn")
    assert json.loads(turns.handler.requests(turns, sample, options)[0].context) == [
        {"role": "system", "content": "Questions about maths.\n\n"},
        {"role": "user", "content": "1 + 1?\nAnswer:"}, {"role": "assistant", "content": "B"},
        {"role": "user", "content": "5 - 1?\nAnswer:"}, {"role": "assistant", "content": "A"},
        {"role": "user", "content": "2 + 2?\nAnswer:"}]
    with pytest.raises(ConfigError, match="a chat format needs the model's chat template"):
        chat.handler.requests(chat, sample, {"num_fewshot": 0})


def test_what_a_task_cannot_take_says_why(quiz, tmp_path):
    plain = load_task(str(write_task(tmp_path, TASK)))
    assert task_formats.cannot_take(plain, formats.parse("cloze"), 0).endswith(
        "declares no [formats.cloze], the [choice] keys that put its questions as cloze")
    assert task_formats.cannot_take(quiz, formats.parse("fewshot-multiturn"), 0).startswith("quiz runs 0-shot here")
    assert task_formats.cannot_take(quiz, formats.parse("fewshot-multiturn"), 2) is None
    assert task_formats.cannot_take(quiz, formats.parse("chat"), 0) is None
    ppl = load_task("wikitext")
    assert task_formats.cannot_take(ppl, formats.parse("chat"), 0) == (
        "for choice/generate tasks, and wikitext is a perplexity task")


@pytest.mark.parametrize("edit, message", [
    ('[formats]\nnative = "letters"\n', "formats.native = 'letters'; use one of cloze, cloze-smollm2, mc"),
    ('[formats.clozed]\nprompt = "x"\n', "formats.clozed"),
    ('[formats.cloze]\nprompt = "{{ q"\n', r"\[choice\].prompt is not a valid template"),
    ('[formats.cloze]\npromt = "x"\n', "choice.promt"),
])
def test_a_bad_formats_table_names_file_and_key(tmp_path, edit, message):
    path = write_task(tmp_path, TASK.replace("[fewshot]", edit + "\n[fewshot]"))
    with pytest.raises(ConfigError, match=message):
        load_task(str(path))


def test_acc_norm_nospace_does_not_count_the_leading_space():
    # counting the space would flip this pick: -9/5 > -8/4 but -9/4 < -8/4
    assert scoring.acc_norm_nospace([-9.0, -8.0], 1, [" abcd", "efgh"]) == 1.0
    assert scoring.acc_norm([-9.0, -8.0], 0, [" abcd", "efgh"]) == 1.0
    with pytest.raises(ValueError, match="empty continuation"):
        scoring.acc_norm_nospace([-1.0, -2.0], 0, [" ", "x"])


def test_builtin_tasks_declare_their_formulations():
    mmlu, arc = load_task("mmlu"), load_task("arc_easy")
    assert task_formats.native(mmlu) == "mc" and task_formats.native(arc) == "cloze"
    for task, name in ((mmlu, "cloze"), (mmlu, "cloze-smollm2"), (arc, "mc"), (arc, "cloze-smollm2")):
        assert task_formats.cannot_take(task, formats.parse(name), 0) is None
    row = {"question": " Why? ", "choices": ["a", "b", "c", "d"], "answer": 2, "subject": "anatomy"}
    smollm = variant(mmlu, "cloze-smollm2")
    (first, *_) = smollm.handler.requests(smollm, Sample("s", row, "x"), {})
    assert (first.context, first.continuation) == (
        "The following are questions about anatomy.\nQuestion:  Why? \nAnswer:", " a")
    assert smollm.section("choice")["primary"] == ["acc_norm_nospace"]


def test_the_pick_follows_the_format_s_headline_metric(quiz):
    from evalkit.types import Loglikelihood

    sample = quiz.load_samples(TaskOptions())[0]  # cloze options "4" and "five"
    answers = [[Loglikelihood(-3.0, False, 1), Loglikelihood(-4.0, False, 2)]]  # per character "five" wins
    picks = {}
    for name in ("cloze", "cloze-norm", "cloze-smollm2"):
        task = variant(quiz, name)
        (record,), _ = task.handler.score(task, [sample], answers, {})
        picks[name] = (record["response"], record["scores"]["chosen"])
    assert picks == {"cloze": ("4", 0), "cloze-norm": ("five", 1), "cloze-smollm2": ("five", 1)}


def test_evalkit_tasks_lists_the_formats_each_task_takes():
    assert task_formats.takes(load_task("mmlu")) == ["mc (own)", "cloze", "cloze-norm", "cloze-smollm2", "chat",
                                                     "fewshot-multiturn"]
    assert task_formats.takes(load_task("gsm8k")) == ["chat", "fewshot-multiturn"]
    assert task_formats.takes(load_task("truthfulqa_gen")) == ["chat"]  # zero-shot only: no turns to make
    assert task_formats.takes(load_task("winogrande")) == []  # partial scoring, no declared formulation
    assert task_formats.takes(load_task("wikitext")) == []
