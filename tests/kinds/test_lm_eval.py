"""lm-eval's own tasks on evalkit's engine, checked against a plain lm-eval run on the tiny model.

The tasks include lm-eval's arc_easy.yaml and gsm8k.yaml (its prompts, filters and metrics) and
point them at small local files, so nothing needs the hub and only the local folder is indexed.
"""

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("lm_eval")

import evalkit  # noqa: E402
from evalkit.config import TaskOptions  # noqa: E402
from evalkit.errors import ConfigError  # noqa: E402
from evalkit.kinds import KINDS, lm_eval_scores  # noqa: E402
from evalkit.tasks.loading import load_task  # noqa: E402
from project import write_project  # noqa: E402

LM_EVAL_TASKS = Path(__import__("lm_eval").__file__).parent / "tasks"
ARC = [{"id": f"q{i}", "question": q, "choices": {"text": c, "label": ["A", "B", "C", "D"]}, "answerKey": k}
       for i, (q, c, k) in enumerate([
           ("Which gas do plants take in?", ["oxygen", "carbon dioxide", "helium", "neon"], "B"),
           ("What is frozen water called?", ["steam", "ice", "fog", "dew"], "B"),
           ("Which is a mammal?", ["shark", "trout", "whale", "eel"], "C"),
           ("What pulls objects toward Earth?", ["gravity", "light", "sound", "heat"], "A"),
           ("Which planet is closest to the Sun?", ["Mars", "Venus", "Earth", "Mercury"], "D"),
           ("What do bees make?", ["milk", "honey", "silk", "wax paper"], "B")])]
GSM8K = [{"question": f"Tom has {a} apples and buys {b} more. How many apples does he have?",
          "answer": f"He has {a} + {b} = {a + b} apples.\n#### {a + b}"} for a, b in [(2, 3), (4, 5), (7, 1), (6, 6)]]


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def yamls(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lm_eval_tasks")
    arc, gsm = _jsonl(folder / "arc.jsonl", ARC), _jsonl(folder / "gsm8k.jsonl", GSM8K)
    (folder / "arc_local.yaml").write_text(
        f"include: {LM_EVAL_TASKS / 'arc' / 'arc_easy.yaml'}\ntask: arc_local\ntag: []\ndataset_path: json\n"
        f"dataset_name: null\ndataset_kwargs:\n  data_files:\n    test: {arc}\n    train: {arc}\n"
        "validation_split: null\n")
    (folder / "gsm8k_local.yaml").write_text(
        f"include: {LM_EVAL_TASKS / 'gsm8k' / 'gsm8k.yaml'}\ntask: gsm8k_local\ntag: []\ndataset_path: json\n"
        f"dataset_name: null\ndataset_kwargs:\n  data_files:\n    test: {gsm}\n    train: {gsm}\n"
        "num_fewshot: 2\ngeneration_kwargs:\n  until: ['Question:', '</s>', '<|im_end|>']\n  do_sample: false\n"
        "  max_gen_toks: 24\n")
    (folder / "tiny_group.yaml").write_text(
        "group: tiny_group\ntask: [arc_local, arc_local_b]\naggregate_metric_list:\n"
        "  - metric: acc\n    weight_by_size: true\n")
    (folder / "arc_local_b.yaml").write_text(f"include: arc_local.yaml\ntask: arc_local_b\n")
    # as lm-eval's mmlu: a group whose subtasks differ by dataset_name, one data file each
    (folder / "by_subject.yaml").write_text("group: by_subject\ntask: [subject_x, subject_y]\n")
    for subject in ("x", "y"):
        (folder / f"subject_{subject}.yaml").write_text(
            f"include: arc_local.yaml\ntask: subject_{subject}\ndataset_name: {subject}\n")
    return folder


@pytest.fixture(scope="module")
def plain_lm_eval(yamls, tiny_model_dir):
    """A plain lm-eval run (its hf model, its evaluator) on the same tasks and model."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(yamls), include_defaults=False)
    return simple_evaluate(model="hf", model_args={"pretrained": str(tiny_model_dir), "dtype": "float32"},
                           tasks=["arc_local", "gsm8k_local"], task_manager=manager, batch_size=4, device="cpu",
                           bootstrap_iters=0, log_samples=True)


@pytest.fixture(scope="module")
def evalkit_run(yamls, tiny_model_dir, tmp_path_factory):
    config = write_project(tmp_path_factory.mktemp("lm_eval_project"), tiny_model_dir)
    tasks = [f"lm_eval:{yamls / name}" for name in ("arc_local.yaml", "gsm8k_local.yaml", "tiny_group.yaml")]
    return evalkit.evaluate(models=["tiny", "tiny16"], tasks=tasks, config=config), tasks


def _samples(results, task, model="tiny") -> list[dict]:
    frame = results.samples()
    frame = frame[(frame.task == task) & (frame.model == model)]
    return sorted(frame.to_dict("records"), key=lambda r: int(r["sample_id"]))


def _rows(results, task, model="tiny"):
    frame = results.to_pandas()
    return {r.metric: r for r in frame[(frame.task == task) & (frame.model == model)].itertuples()}


def test_multiple_choice_equals_plain_lm_eval_item_by_item(evalkit_run, plain_lm_eval):
    results, (arc, _, _) = evalkit_run
    rows = _rows(results, arc)
    ours = results.samples()
    ours = _samples(results, arc)
    theirs = sorted(plain_lm_eval["samples"]["arc_local"], key=lambda s: s["doc_id"])
    assert len(ours) == len(theirs) == len(ARC) and rows["acc"].n == len(ARC)
    assert rows["acc"].value == plain_lm_eval["results"]["arc_local"]["acc,none"]
    assert rows["acc_norm"].value == plain_lm_eval["results"]["arc_local"]["acc_norm,none"]
    for mine, reference in zip(ours, theirs):
        lls = [r[0][0] for r in reference["resps"]]
        assert max(abs(a - b) for a, b in zip(mine["score.loglikelihoods"], lls)) < 1e-3
        assert mine["score.acc"] == reference["acc"]


def test_generation_gives_the_same_text_and_extracted_answers(evalkit_run, plain_lm_eval):
    results, (_, gsm, _) = evalkit_run
    rows = _rows(results, gsm)
    reference = plain_lm_eval["results"]["gsm8k_local"]
    assert rows["exact_match,strict-match"].value == reference["exact_match,strict-match"]
    assert rows["exact_match,flexible-extract"].value == reference["exact_match,flexible-extract"]
    theirs = {(s["doc_id"], s["filter"]): s for s in plain_lm_eval["samples"]["gsm8k_local"]}
    ours = _samples(results, gsm)
    assert len(ours) == len(GSM8K)
    for doc_id, mine in enumerate(ours):
        assert mine["response"] == theirs[(doc_id, "strict-match")]["resps"][0][0]
        for key in ("strict-match", "flexible-extract"):
            assert mine[f"score.filtered.{key}"] == str(theirs[(doc_id, key)]["filtered_resps"][0])


def test_every_row_has_n_and_an_interval_and_models_compare_paired(evalkit_run):
    results, (arc, gsm, _) = evalkit_run
    for row in results.to_pandas().itertuples():
        assert row.n > 0 and row.ci_low <= row.value <= row.ci_high, row
    diff = results.compare("tiny16", "tiny")
    assert {(arc, "acc"), (gsm, "exact_match,strict-match")} <= set(zip(diff.task, diff.metric))


def test_a_group_reports_its_aggregate_and_each_subtask(evalkit_run):
    results, (_, _, group) = evalkit_run
    rows = _rows(results, group)
    assert {"acc", "acc/arc_local", "acc/arc_local_b"} <= set(rows)
    assert rows["acc"].n == 2 * len(ARC)
    assert rows["acc"].value == pytest.approx((rows["acc/arc_local"].value + rows["acc/arc_local_b"].value) / 2)


def test_health_checks_read_lm_eval_records_as_choice_and_generation(evalkit_run):
    from evalkit.report import health

    results, (arc, gsm, group) = evalkit_run
    records = {t: results.store.samples(results.run_id, "tiny", t) for t in (arc, gsm, group)}
    choice = health.check("tiny", arc, "lm_eval", records[arc])
    assert choice.checks == "choice" and sum(choice.picks.values()) == len(ARC)
    assert choice.majority_baseline == 3 / len(ARC) and choice.accuracy == _rows(results, arc)["acc"].value
    assert health.check("tiny", group, "lm_eval", records[group]).n == 2 * len(ARC)
    generated = health.check("tiny", gsm, "lm_eval", records[gsm])
    assert generated.checks == "output" and len(generated.shares["truncated"]) == len(GSM8K)
    assert all(len(r["scores"]["finish_reasons"]) == 1 for r in records[gsm])
    # max_gen_toks = 24: an output cut at the limit is counted as truncated, one that stopped is not
    assert generated.shares["truncated"] == [float(r["scores"]["finish_reasons"] == ["length"]) for r in records[gsm]]
    assert KINDS["lm_eval"].health_of([{"scores": {"loglikelihood": -3.0}}]) is None  # rolling: nothing to check


def test_non_mean_aggregation_is_bootstrapped_as_itself():
    from lm_eval.api.metrics import perplexity

    items = [-1.0, -2.0, -3.0, -0.5]
    row = lm_eval_scores._interval_row("perplexity", items, perplexity, seed=0, primary=True)
    assert row["value"] == pytest.approx(math.exp(6.5 / 4)) and row["n"] == 4
    assert row["ci_low"] <= row["value"] <= row["ci_high"] and "bootstrap" in row["info"]["interval"]
    assert KINDS["lm_eval"].lower_is_better("perplexity") and not KINDS["lm_eval"].lower_is_better("acc/x")


def test_task_file_with_overrides_and_bad_input(tmp_path, yamls):
    data = _jsonl(tmp_path / "arc.jsonl", ARC[:3])
    toml = tmp_path / "arc.toml"
    toml.write_text(f'name = "arc_file"\nversion = 1\nkind = "lm_eval"\ntask = "arc_local"\n[lm_eval]\n'
                    f'include_path = "{yamls}"\ndataset_kwargs = {{ data_files = {{ test = "arc.jsonl", train = "arc.jsonl" }} }}\n')
    task = load_task(str(toml))
    samples = task.load_samples(TaskOptions(limit=2))
    assert [s.id for s in samples] == ["0", "1"] and samples[0].row["doc"]["question"] == ARC[0]["question"]
    assert [r.continuation for r in task.handler.requests(task, samples[0], {})] == [" " + c for c in ARC[0]["choices"]["text"]]
    data.unlink()
    with pytest.raises(ConfigError, match="data_files: .*arc.jsonl does not exist"):
        load_task(str(toml)).load_samples(TaskOptions())
    toml.write_text('name = "x"\nversion = 1\nkind = "lm_eval"\n')
    with pytest.raises(ConfigError, match="needs `task`"):
        load_task(str(toml))
    with pytest.raises(ConfigError, match="lm-eval task file .*missing.yaml does not exist"):
        load_task(f"lm_eval:{tmp_path / 'missing.yaml'}").load_samples(TaskOptions())
    with pytest.raises(ConfigError, match="name an lm-eval task after the prefix"):
        load_task("lm_eval:")


def test_a_group_reads_one_local_file_per_subtask_by_its_dataset_name(tmp_path, yamls):
    _jsonl(tmp_path / "x_test.jsonl", ARC[:2])
    _jsonl(tmp_path / "y_test.jsonl", ARC[2:5])

    def group_task(name):
        toml = tmp_path / f"{name}.toml"
        toml.write_text(f'name = "{name}"\nversion = 1\nkind = "lm_eval"\ntask = "by_subject"\n[lm_eval]\n'
                        f'include_path = "{yamls}"\ndataset_name = ""\ntraining_split = ""\n'
                        'dataset_kwargs = { data_files = { test = "{dataset_name}_test.jsonl" } }\n')
        return load_task(str(toml))

    samples = group_task("by_subject_files").load_samples(TaskOptions())
    questions = {(s.row["subtask"], s.row["doc"]["question"]) for s in samples}
    assert questions == {("subject_x", r["question"]) for r in ARC[:2]} | {("subject_y", r["question"]) for r in ARC[2:5]}
    (tmp_path / "y_test.jsonl").unlink()
    with pytest.raises(ConfigError, match=r"lm-eval task 'subject_y'.*y_test.jsonl does not exist"):
        group_task("by_subject_missing").load_samples(TaskOptions())


def test_catalogue_says_what_runs_from_the_config_alone():
    from evalkit.kinds.lm_eval_tasks import runnable

    assert runnable({"output_type": "multiple_choice", "dataset_path": "json"}, False) == "yes"
    assert runnable({"output_type": "generate_until", "dataset_path": "openai/gsm8k"}, False).startswith("yes, data from the hub")
    assert runnable({"output_type": "generate_until", "doc_to_image": "image"}, False) == "no: needs images or audio"
    assert runnable({"output_type": "ranking"}, False) == "no: output_type 'ranking'"
