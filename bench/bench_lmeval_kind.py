"""The lm_eval kind (`--tasks lm_eval:...`) against a plain `lm_eval` run, on local data files.

    python bench/bench_lmeval_kind.py [--limit 20] [--gsm8k-limit 5]

Three of lm-eval's own tasks, each pointed at the files in $EVALKIT_DATA_DIR by the same lm-eval
config overrides on both sides: `arc_challenge` (llm-foundry JSONL, its fields mapped), 5-shot
`mmlu_abstract_algebra` (the upstream CSVs, dev split for the examples) and 5-shot `gsm8k`
(the upstream JSONL). evalkit runs its command line with task files of kind `lm_eval` whose
[lm_eval] table holds the overrides; lm-eval runs its command line with local YAMLs that
`include:` its own task YAML and set the same keys. Compared item by item: every option's
log-likelihood (tolerance 1e-3 nats), acc / acc_norm, the generated text and both extracted
answers (strict-match, flexible-extract). Exit status 1 on any disagreement.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import benchlib as bl

TOLERANCE = 1e-3
ARC = {"dataset_path": "json", "dataset_name": None, "training_split": None, "validation_split": None,
       "dataset_kwargs": {"data_files": {"test": "$EVALKIT_DATA_DIR/llm-foundry/arc_challenge.jsonl"}},
       "doc_to_text": "{{query}}\nAnswer:", "doc_to_choice": "{{choices}}", "doc_to_target": "{{gold}}"}
MMLU = {"dataset_path": "csv", "dataset_name": None, "num_fewshot": 5,
        "dataset_kwargs": {"data_files": {"test": "$EVALKIT_DATA_DIR/mmlu/test/abstract_algebra_test.csv",
                                          "dev": "$EVALKIT_DATA_DIR/mmlu/dev/abstract_algebra_dev.csv"}},
        # the upstream CSV has choice0..choice3 where the hub copy has a `choices` list; same prompt text
        "doc_to_text": "{{question.strip()}}\nA. {{choice0}}\nB. {{choice1}}\nC. {{choice2}}\nD. {{choice3}}\nAnswer:"}
GSM8K = {"dataset_path": "json", "dataset_name": None,
         "dataset_kwargs": {"data_files": {"test": "$EVALKIT_DATA_DIR/gsm8k/test.jsonl",
                                           "train": "$EVALKIT_DATA_DIR/gsm8k/train.jsonl"}}}
# bench name -> (lm-eval task, its YAML under lm_eval/tasks, overrides)
TASKS = {"arc_challenge": ("arc_challenge", "arc/arc_challenge.yaml", ARC),
         "mmlu_abstract_algebra": ("mmlu_abstract_algebra", "mmlu/default/mmlu_abstract_algebra.yaml", MMLU),
         "gsm8k": ("gsm8k", "gsm8k/gsm8k.yaml", GSM8K)}
GENERATION = {"gsm8k"}


def toml_value(value) -> str:
    """TOML for an override: "" unsets a key (TOML has no null); JSON strings are TOML basic strings."""
    if value is None:
        return '""'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def write_tasks(folder: Path, lm_root: Path, data: Path) -> None:
    """An evalkit task file (kind lm_eval) and a plain lm-eval YAML per task, with the same overrides."""
    for name, (task, include, overrides) in TASKS.items():
        lines = [f'name = "lmk_{name}"', "version = 1", 'kind = "lm_eval"', f'task = "{task}"', "[lm_eval]"]
        lines += [f"{key} = {toml_value(value)}" for key, value in overrides.items()]
        (folder / "evalkit" / f"lmk_{name}.toml").write_text("\n".join(lines) + "\n")
        files = json.loads(json.dumps(overrides).replace("$EVALKIT_DATA_DIR", str(data)))
        plain = {"include": str(lm_root / "tasks" / include), "task": f"lmk_{name}", "tag": [], **files}
        (folder / "lmeval" / f"lmk_{name}.yaml").write_text(json.dumps(plain, indent=1) + "\n")


def run_both(folder: Path, names: list[str], limit: int, model: Path, batch_size: int) -> tuple[dict, dict]:
    """evalkit's and lm-eval's command lines on the same tasks and limit; (records by task, samples by task)."""
    env = bl.offline_env()
    files = [str(folder / "evalkit" / f"lmk_{n}.toml") for n in names]
    config = bl.write_evalkit_config(folder / "evalkit", "bench", dict.fromkeys(files, {}), "float32", batch_size)
    bl.fresh_store(config)
    tasks = ",".join(files)
    command = [sys.executable, "-m", "evalkit", "--config", str(config), "run", "--models", "base",
               "--tasks", tasks, "--limit", str(limit), "--quiet"]
    print("evalkit:", " ".join(command), flush=True)
    bl.timed(command, env, folder / f"evalkit-{names[0]}.log")
    records, _ = bl.evalkit_outcome(config)
    ours: dict[str, list] = {}
    for record in records:
        ours.setdefault(record["task"].removeprefix("lmk_"), []).append(record)
    output = folder / f"out-{names[0]}"
    command = bl.lmeval_command(bl.DEFAULT_VENV / "bin" / "lm_eval", model, ",".join(f"lmk_{n}" for n in names),
                                folder / "lmeval", output, "float32", batch_size, ["--limit", str(limit)])
    print("lm-eval:", " ".join(command), flush=True)
    bl.timed(command, env, folder / f"lmeval-{names[0]}.log")
    _, samples = bl.lmeval_outputs(output)
    return ours, {k.removeprefix("lmk_"): v for k, v in samples.items()}


def compare_choice(name: str, ours: list[dict], theirs: list[dict]) -> tuple[list[str], list[str]]:
    theirs = sorted(theirs, key=lambda s: s["doc_id"])
    ours = sorted(ours, key=lambda r: int(r["sample_id"]))
    if len(ours) != len(theirs):
        return [f"{name}: evalkit scored {len(ours)} items, lm-eval {len(theirs)}"], []
    problems, worst = [], 0.0
    for mine, sample in zip(ours, theirs):
        lls = [float(r[0]) for r in sample["filtered_resps"]]
        worst = max(worst, *(abs(a - b) for a, b in zip(mine["scores"]["loglikelihoods"], lls)))
    lines = []
    for metric in ("acc", "acc_norm"):
        if metric not in theirs[0]:
            continue
        a, b = [float(r["scores"][metric]) for r in ours], [float(s[metric]) for s in theirs]
        differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        if differ:
            problems.append(f"{name}: {metric} differs on items {differ}")
        lines.append(f"| {name} | {len(a)} | {metric} | {sum(a) / len(a):.4f} | {sum(b) / len(b):.4f} | "
                     f"{len(a) - len(differ)} of {len(a)} | {worst:.1e} nats |")
    if worst > TOLERANCE:
        problems.append(f"{name}: largest log-likelihood difference {worst:.2e} nats > {TOLERANCE}")
    return problems, lines


def compare_generation(name: str, ours: list[dict], theirs: list[dict]) -> tuple[list[str], list[str]]:
    by_filter = {(s["doc_id"], s["filter"]): s for s in theirs}
    ours = sorted(ours, key=lambda r: int(r["sample_id"]))
    problems, lines = [], []
    same_text = sum(r["response"] == by_filter[(i, "strict-match")]["resps"][0][0] for i, r in enumerate(ours))
    if same_text != len(ours) or len(theirs) != 2 * len(ours):
        problems.append(f"{name}: generated text identical on {same_text} of {len(ours)} (lm-eval {len(theirs) // 2})")
    for key in ("strict-match", "flexible-extract"):
        mine = [r["scores"]["filtered"][key] for r in ours]
        other = [str(by_filter[(i, key)]["filtered_resps"][0]) for i in range(len(ours))]
        same = sum(a == b for a, b in zip(mine, other))
        a = [float(r["scores"][f"exact_match,{key}"]) for r in ours]
        b = [float(by_filter[(i, key)]["exact_match"]) for i in range(len(ours))]
        if same != len(ours) or a != b:
            problems.append(f"{name} {key}: extracted answers identical on {same} of {len(ours)}")
        lines.append(f"| {name} | {len(ours)} | exact_match,{key} | {sum(a) / len(a):.4f} | {sum(b) / len(b):.4f} | "
                     f"{same} of {len(ours)} extracted answers | text identical {same_text} of {len(ours)} |")
    return problems, lines


def measure(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20, help="items per log-likelihood task")
    parser.add_argument("--gsm8k-limit", type=int, default=5, help="GSM8K problems (generation, 256 tokens)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--no-append", action="store_true", help="do not append the report to bench/RESULTS.md")
    args = parser.parse_args(argv)
    data, model = bl.data_dir(), bl.model_folder()
    folder = bl.clean(bl.WORK / "lmeval_kind")
    (folder / "evalkit").mkdir()
    (folder / "lmeval").mkdir()
    write_tasks(folder, bl.lmeval_site_packages(bl.DEFAULT_VENV), data)
    names = args.tasks.split(",")
    failures, lines = [], []
    for group, limit in (([n for n in names if n not in GENERATION], args.limit),
                         ([n for n in names if n in GENERATION], args.gsm8k_limit)):
        if not group:
            continue
        ours, theirs = run_both(folder, group, limit, model, args.batch_size)
        for name in group:
            check = compare_generation if name in GENERATION else compare_choice
            problems, shown = check(name, ours.get(name, []), theirs.get(name, []))
            failures, lines = failures + problems, lines + shown
    print("\n| lm-eval task | items | metric | evalkit | lm-eval | same per item | largest log-likelihood difference |")
    print("|---|---:|---|---:|---:|---:|---:|")
    print("\n".join(lines))
    print("\n" + ("\n".join(failures) if failures else "every log-likelihood, score and extracted answer agrees"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(bl.printed_report(measure, None, "lm_eval kind against a plain lm_eval run",
                               "SmolLM2-135M-Instruct float32, CPU"))
