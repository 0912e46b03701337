"""The rows evalkit's benchmark tasks read, written back in the layout of the hub data set that
lm-eval's task of the same name reads, and a local lm-eval task YAML over that file which
`include:`s lm-eval's own task definition (its prompt, choices, filters and metrics, not a copy).

One entry per task: the lm-eval task it includes, the split name its YAML evaluates, overrides
(no train/validation split: the file holds only the items), and row(evalkit row) -> hub row.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def _arc(row: dict) -> dict:
    labels = [chr(ord("A") + i) for i in range(len(row["choices"]))]
    return {"question": row["query"].removeprefix("Question: "), "choices": {"text": row["choices"], "label": labels},
            "answerKey": labels[row["gold"]]}


def _piqa(row: dict) -> dict:
    return {"goal": row["query"].removeprefix("Question: ").removesuffix("\n"), "sol1": row["choices"][0],
            "sol2": row["choices"][1], "label": row["gold"]}


def _winogrande(row: dict) -> dict:
    """Back to sentence-with-blank: the contexts share the sentence up to the blank."""
    first, second = row["context_options"]
    prefix = os.path.commonprefix([first, second])
    return {"sentence": prefix + "_ " + row["continuation"], "option1": first[len(prefix):],
            "option2": second[len(prefix):], "answer": str(row["gold"] + 1)}


def _lambada(row: dict) -> dict:
    return {"text": row["context"] + " " + row["continuation"]}


def _truthfulqa_mc(row: dict) -> dict:
    # both MC tasks read one file: mc1 and mc2 targets side by side (see bench_tasks.truthfulqa_rows)
    return {"question": row["question"], "mc1_targets": row["mc1_targets"], "mc2_targets": row["mc2_targets"]}


def _truthfulqa_gen(row: dict) -> dict:
    """The hub's generation config: the CSV's answers split on ";" (lm-eval's process_docs closes
    them with periods and adds "I have no comment." itself)."""
    def split(text: str) -> list[str]:
        return [part.strip() for part in text.strip().split(";") if part.strip()]

    return {"question": row["Question"], "best_answer": row["Best Answer"],
            "correct_answers": split(row["Correct Answers"]), "incorrect_answers": split(row["Incorrect Answers"])}


def _mbpp(row: dict) -> dict:
    return {key: row[key] for key in ("task_id", "text", "code", "test_list", "test_setup_code", "challenge_test_list")}


NO_SPLITS = {"training_split": None, "validation_split": None}
LAYOUTS = {
    "arc_easy": ("arc/arc_easy.yaml", "test", NO_SPLITS, _arc),
    "arc_challenge": ("arc/arc_challenge.yaml", "test", NO_SPLITS, _arc),
    "piqa": ("piqa/piqa.yaml", "test", {**NO_SPLITS, "test_split": "test"}, _piqa),
    "winogrande": ("winogrande/default.yaml", "test", {**NO_SPLITS, "test_split": "test"}, _winogrande),
    "lambada": ("lambada/lambada_openai.yaml", "test", {}, _lambada),
    "truthfulqa_mc1": ("truthfulqa/truthfulqa_mc1.yaml", "validation", {}, _truthfulqa_mc),
    "truthfulqa_mc2": ("truthfulqa/truthfulqa_mc2.yaml", "validation", {}, _truthfulqa_mc),
    "truthfulqa_gen": ("truthfulqa/truthfulqa_gen.yaml", "validation", {}, _truthfulqa_gen),
    "mbpp": ("mbpp/mbpp.yaml", "test", {}, _mbpp),
}


def write_lmeval_task(task: str, name: str, rows: list[dict], folder: Path, lmeval_root: Path,
                      extra: dict | None = None) -> str:
    """Rows in the hub layout + a YAML `evalkit_<name>` over them; returns the lm-eval task name."""
    include, split, overrides, convert = LAYOUTS[task]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / f"{name}.jsonl"
    data.write_text("".join(json.dumps(convert(r)) + "\n" for r in rows))
    settings = {"include": str(lmeval_root / "tasks" / include), "task": f"evalkit_{name}", "dataset_path": "json",
                "dataset_name": None, "dataset_kwargs": {"data_files": {split: str(data)}}, **overrides,
                **(extra or {})}
    # JSON is YAML: every value here is plain data, so json.dumps writes valid YAML for it
    (folder / f"evalkit_{name}.yaml").write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()))
    return f"evalkit_{name}"
