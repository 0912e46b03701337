"""Generation tasks: GSM8K-style extraction with unscored outputs, reference metrics
equal to the libraries, seeded few-shot examples, comparison, bad input."""

import json
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import generate
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

MATH_TASK = """
name = "math"
version = 1
kind = "generate"
scorers = ["gsm8k_strict", "gsm8k_flexible"]

[[sources]]
kind = "file"
path = "math.jsonl"

[generate]
prompt = "Question: {{ question }}\\nAnswer:"
target = "{{ answer }}"
stop = ["Question:"]
max_new_tokens = 64

[fewshot]
num_fewshot = 2
sampler = "random"
"""

MATH = [{"question": f"What is {i} + {i}?", "answer": f"{i} + {i} = {2 * i}\n#### {2 * i}"} for i in range(1, 9)]

REFERENCE_TASK = """
name = "echo"
version = 1
kind = "generate"
scorers = ["rouge1", "rouge2", "rougeL", "rougeLsum", "bleu", "chrf"]

[[sources]]
kind = "file"
path = "echo.jsonl"

[generate]
prompt = "{{ instruction }}"
target = "{{ output }}"
chat = true
primary = ["rougeL", "bleu"]
"""

INSTRUCTIONS = [
    {"instruction": "Describe the sky.", "output": "The sky is blue on a clear day."},
    {"instruction": "Name a fruit.", "output": "An apple is a fruit."},
    {"instruction": "Say hello.", "output": "Hello there, nice to meet you."},
    {"instruction": "Count to three.", "output": "One, two, three."},
]
OUTPUTS = ["The sky is blue.", "A banana is a yellow fruit.", "Hello, nice to meet you.", "1 2 3"]


def write(folder: Path, name: str, task: str, rows) -> Path:
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / f"{name}.toml"
    path.write_text(task)
    return path


@pytest.fixture
def math_task(tmp_path):
    return load_task(str(write(tmp_path, "math", MATH_TASK, MATH)))


@pytest.fixture
def reference_task(tmp_path):
    return load_task(str(write(tmp_path, "echo", REFERENCE_TASK, INSTRUCTIONS)))


def generations(texts):
    return [[Generation(text, 10, "stop")] for text in texts]


def test_fewshot_prompt_in_lm_eval_gsm8k_layout(math_task):
    sample = math_task.load_samples(TaskOptions())[0]
    (request,) = generate.requests(math_task, sample, {"seed": 7})
    blocks = request.prompt.split("\n\n")
    assert len(blocks) == 3 and blocks[-1] == "Question: What is 1 + 1?\nAnswer:"
    for block in blocks[:2]:  # "Question: q\nAnswer: <worked answer>" of another problem
        question, answer = block.split("\nAnswer: ", 1)
        row = next(r for r in MATH if f"Question: {r['question']}" == question)
        assert answer == row["answer"] and row is not MATH[0]
    assert request.stop == ("Question:",) and request.max_new_tokens == 64 and request.temperature == 0.0
    assert request.seed == 0  # greedy: the seed stays out of the cache key


def test_fewshot_sample_is_seeded_per_question_never_itself(math_task):
    samples = math_task.load_samples(TaskOptions())
    def prompts(seed, options=None):
        return [generate.requests(math_task, s, {"seed": seed, **(options or {})})[0].prompt for s in samples]
    first = prompts(1)
    assert prompts(1) == first  # the same examples for every model and every rerun
    assert prompts(2) != first
    subset = math_task.load_samples(TaskOptions(limit=3, sample_seed=5))
    assert all(generate.requests(math_task, s, {"seed": 1})[0].prompt == first[samples.index(s)] for s in subset)
    for sample, prompt in zip(samples, prompts(3, {"num_fewshot": 7})):
        assert prompt.count(f"Question: {sample.row['question']}\n") == 1  # only as the question asked


def test_gsm8k_scores_strict_flexible_and_counts_unscored(math_task):
    samples = math_task.load_samples(TaskOptions(limit=4))
    texts = [
        " 1 + 1 = 2\n#### 2",              # both right
        " 2 + 2 = 4. The answer is 4.",    # no "####": strict unscored, flexible right
        " I do not know.",                 # no number at all: unscored by both
        " 3 + 3 = 7\n#### 7",              # both wrong
    ]
    records, metrics = generate.score(math_task, samples, generations(texts), {"seed": 0})
    by_name = {m["metric"]: m for m in metrics}
    assert [r["scores"]["gsm8k_strict"] for r in records] == [1.0, 0.0, 0.0, 0.0]
    assert [r["scores"]["gsm8k_flexible"] for r in records] == [1.0, 1.0, 0.0, 0.0]
    assert by_name["gsm8k_strict"]["unscored"] == 2 and by_name["gsm8k_flexible"]["unscored"] == 1
    assert by_name["gsm8k_strict"]["n"] == 4 and by_name["gsm8k_flexible"]["value"] == 0.5
    assert records[1]["scores"]["gsm8k_strict_valid"] is False
    assert records[1]["scores"]["gsm8k_flexible_extracted"] == "4."
    assert records[0]["target"] == MATH[0]["answer"] and records[0]["response"] == texts[0]
    assert by_name["gsm8k_strict"]["info"]["fewshot"] == {"num_fewshot": 2, "sampler": "random",
                                                           "origin": str(math_task.path.parent / "math.jsonl"),
                                                           "seed": 0}


def test_all_wrong_still_has_an_interval(math_task):
    samples = math_task.load_samples(TaskOptions(limit=5))
    _, metrics = generate.score(math_task, samples, generations(["#### 0"] * 5), {"seed": 0})
    strict = metrics[0]
    assert strict["value"] == 0.0 and strict["ci_low"] == 0.0 and 0.3 < strict["ci_high"] < 0.6
    assert strict["info"]["interval"].startswith("Wilson")


def test_compare_exact_match_is_mcnemar(math_task):
    samples = math_task.load_samples(TaskOptions(limit=4))
    a, _ = generate.score(math_task, samples, generations(["#### 2", "#### 4", "#### 6", "#### 8"]), {"seed": 0})
    b, _ = generate.score(math_task, samples, generations(["#### 2", "#### 0", "#### 0", "#### 0"]), {"seed": 0})
    result = generate.compare("gsm8k_strict", a, b)
    assert result.method == "mcnemar exact" and result.diff == pytest.approx(0.75)


def test_reference_metrics_equal_the_libraries(reference_task):
    import sacrebleu
    from rouge_score import rouge_scorer

    samples = reference_task.load_samples(TaskOptions())
    records, metrics = generate.score(reference_task, samples, generations(OUTPUTS), {"seed": 3})
    by_name = {m["metric"]: m for m in metrics}
    refs = [r["output"] for r in INSTRUCTIONS]
    assert by_name["bleu"]["value"] == sacrebleu.corpus_bleu(OUTPUTS, [refs]).score
    assert by_name["chrf"]["value"] == sacrebleu.corpus_chrf(OUTPUTS, [refs]).score
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    for name in ("rouge1", "rouge2", "rougeL", "rougeLsum"):
        expected = [scorer.score(ref, out)[name].fmeasure for ref, out in zip(refs, OUTPUTS)]
        assert [r["scores"][name] for r in records] == expected
        assert by_name[name]["value"] == pytest.approx(sum(expected) / len(expected), abs=1e-12)
    for row in metrics:
        assert row["n"] == 4 and row["ci_low"] <= row["value"] <= row["ci_high"]
    assert by_name["bleu"]["info"]["interval"].startswith("bootstrap")
    assert [m["metric"] for m in metrics if m["info"]["primary"]] == ["rougeL", "bleu"]


def test_compare_corpus_bleu_by_paired_bootstrap(reference_task):
    samples = reference_task.load_samples(TaskOptions())
    good, _ = generate.score(reference_task, samples, generations([r["output"] for r in INSTRUCTIONS]), {"seed": 0})
    poor, _ = generate.score(reference_task, samples, generations(OUTPUTS), {"seed": 0})
    result = generate.compare("bleu", good, poor, seed=1)
    assert result.method == "paired bootstrap" and result.diff > 0 and result.n == 4
    assert generate.compare("rougeL", good, poor).method == "paired bootstrap"
    absent = generate.compare("gsm8k_strict", good, poor)  # another task's metric: no number, no crash
    assert absent.method == "not scored by this task" and absent.diff != absent.diff


def test_chat_requests_for_instruction_tasks(reference_task):
    sample = reference_task.load_samples(TaskOptions())[0]
    (request,) = generate.requests(reference_task, sample, {"seed": 0, "max_new_tokens": 32})
    assert request.chat is True and request.prompt == "Describe the sky." and request.max_new_tokens == 32


def test_gsm8k_answer_without_marker_names_file_line(tmp_path):
    rows = MATH[:2] + [{"question": "What is 5 + 5?", "answer": "10"}]
    task = load_task(str(write(tmp_path, "math", MATH_TASK, rows)))
    with pytest.raises(DataError, match=r"math\.jsonl:3: the reference .*'#### '"):
        task.load_samples(TaskOptions())


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace('scorers = ["gsm8k_strict", "gsm8k_flexible"]', 'scorers = ["accuracy"]'),
     r"unknown scorer 'accuracy'; known: .*gsm8k_strict"),
    (lambda t: t.replace('target = "{{ answer }}"\n', ""), r"\[generate\] needs `target`"),
    (lambda t: t.replace("max_new_tokens = 64", "max_new_tokens = 0"), r"max_new_tokens = 0"),
    (lambda t: t.replace('stop = ["Question:"]', 'stop = "Question:"'), r"stop must be a list"),
    (lambda t: t.replace("num_fewshot = 2", "num_fewshot = 99"), r"num_fewshot = 99"),
])
def test_malformed_task_file_names_file_and_key(tmp_path, edit, message):
    path = write(tmp_path, "math", edit(MATH_TASK), MATH)
    with pytest.raises(ConfigError, match=message) as err:
        load_task(str(path))
    assert str(path) in str(err.value)


def test_tiny_model_generates_and_scores(math_task, tiny_model_dir):
    from dataclasses import replace

    from evalkit.backends.hf import HFBackend
    from evalkit.config import ModelSpec

    backend = HFBackend(replace(ModelSpec(name="tiny", source=str(tiny_model_dir)), batch_size=4), tiny_model_dir)
    samples = math_task.load_samples(TaskOptions(limit=3))
    options = {"seed": 0, "max_new_tokens": 12}
    requests = [generate.requests(math_task, s, options)[0] for s in samples]
    answers = dict(backend.generate(requests))
    records, metrics = generate.score(math_task, samples, [[answers[i]] for i in range(len(samples))], options)
    assert all(0 < r["scores"]["tokens"] <= 12 or r["scores"]["finish_reason"] == "stop" for r in records)
    assert all("Question:" not in r["response"] for r in records)  # cut at the stop string
    for row in metrics:
        assert 0.0 <= row["value"] <= 1.0 and row["n"] == 3 and 0 <= row["unscored"] <= 3


def test_prediction_template_post_processes_before_scoring(tmp_path):
    task_file = """
name = "capitals"
version = 1
kind = "generate"
scorers = ["exact_match", "bleu"]

[[sources]]
kind = "file"
path = "capitals.jsonl"

[generate]
prompt = "Q: capital of {{ country }}?\\nA:"
target = "{{ capital | lower }}"
prediction = "{{ response | trim | lower }}"
stop = ["\\n"]
"""
    rows = [{"country": "France", "capital": "Paris"}, {"country": "Italy", "capital": "Rome"}]
    task = load_task(str(write(tmp_path, "capitals", task_file, rows)))
    samples = task.load_samples(TaskOptions())
    records, metrics = generate.score(task, samples, generations([" Paris ", " Milan"]), {"seed": 0})
    assert [r["scores"]["exact_match"] for r in records] == [1.0, 0.0]
    assert records[0]["response"] == " Paris " and records[0]["scores"]["prediction"] == "paris"
    import sacrebleu

    bleu = next(m for m in metrics if m["metric"] == "bleu")
    assert bleu["value"] == sacrebleu.corpus_bleu(["paris", "milan"], [["paris", "rome"]]).score
