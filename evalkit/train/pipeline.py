"""One training stage, start to finish: plan (data, decontamination, content key) → measure the parent on
held-out data → train (resuming from the last checkpoint) → merge into a fresh full-precision parent →
measure again → save a plain HF folder with its provenance and loss curve.

Planning loads no model, so `evalkit run` can tell in a second whether a recipe model already exists.
"""

from __future__ import annotations

import gc
import json
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evalkit.errors import DataError
from evalkit.models.parallel import accelerate_state
from evalkit.models.sources import staged_folder
from evalkit.store.provenance import environment, package_versions
from evalkit.train import heldout, stack
from evalkit.train.arguments import last_checkpoint
from evalkit.train.chat_templates import training_template
from evalkit.train.curves import loss_curve
from evalkit.train.data import Example, Examples, content_hash, load_examples
from evalkit.train.decontam import build_index, decontaminate, suite_task_items
from evalkit.train.heldout import preference_metrics, reward_metrics
from evalkit.train.lora import load_for_training, lora_config, merge_adapter, pad_ids
from evalkit.train.recipe import Recipe
from evalkit.train.stages import TrainingStage
from evalkit.types import stable_hash

PROVENANCE = "evalkit_training.json"
LOSS_CURVE = "loss_curve.png"
BUILD_VERSION = 1  # bump when a change here changes what a recipe trains


@dataclass(frozen=True)
class Plan:
    recipe: Recipe
    parent_name: str
    parent_folder: Path
    parent_fingerprint: str
    train: list[Example]
    heldout: list[Example]
    data_origin: str
    decontamination: dict[str, Any]
    bad_rows: tuple[str, ...] = ()
    stack: stack.StackInputs | None = None  # stage = "stack": the base and the parent's adapter it trains on
    extra: dict[str, Any] = field(default_factory=dict)  # stage-specific provenance (a distillation's teacher)

    @property
    def data_hash(self) -> str:
        return content_hash(self.train)

    @property
    def key(self) -> str:
        """Content address of the result: same parent, settings and data → same model, never retrained."""
        settings = self.recipe.hashed_settings()
        settings["data"].pop("on_bad_row")  # which rows it dropped is in the data hash; how it was told to is not
        return stable_hash({"parent": self.parent_fingerprint, "recipe": settings,
                            "train": self.data_hash, "heldout": content_hash(self.heldout),
                            "version": BUILD_VERSION})[:20]


def make_plan(recipe: Recipe, parent_name: str, parent_folder: Path, parent_fingerprint: str, config=None,
              examples: Examples | None = None, decontaminate_also: dict[str, list[dict]] | None = None) -> Plan:
    """`examples`: made by the caller (a distillation's teacher answers); otherwise read from [data].
    `decontaminate_also`: {name: rows} cleaned of besides the suites' tasks (a reward judge's prompt set)."""
    examples = examples or load_examples(recipe, recipe.path.parent)
    heldout, train = examples.split(recipe.data.heldout)
    task_items, unavailable = suite_task_items(config) if config is not None else ({}, ())
    task_items = {**task_items, **(decontaminate_also or {})}
    index = build_index(task_items, recipe.decontamination.ngram, unavailable)
    cleaned = decontaminate(train, index, drop=recipe.decontamination.drop)
    kept = cleaned.kept[: recipe.data.limit] if recipe.data.limit else cleaned.kept
    if not kept:
        raise DataError(f"{examples.origin}: no training rows left after decontamination "
                        f"({cleaned.report['dropped']} dropped); check the data or set decontamination.drop = false")
    return Plan(recipe, parent_name, Path(parent_folder), parent_fingerprint, kept, heldout, examples.origin,
                cleaned.report, examples.dropped)


def measure(model, tokenizer, template: str, plan: Plan) -> list | dict | None:
    if not plan.heldout:
        return None
    train, stage = plan.recipe.train, plan.recipe.trainer
    if stage.head == "score":
        return heldout.reward_scores(model, tokenizer, template, plan.heldout, train.max_length)
    if stage.data == "text":
        return heldout.document_perplexity(model, tokenizer, plan.heldout, train.max_length, train.eval_batch_size)
    if stage.data == "preference":
        return heldout.preference_scores(model, tokenizer, template, plan.heldout, train.max_length,
                                         train.eval_batch_size)
    return heldout.sft_perplexity(model, tokenizer, template, plan.heldout, train.max_length, train.eval_batch_size)


def summarise(plan: Plan, before, after) -> dict[str, Any]:
    if before is None:
        return {}
    stage = plan.recipe.trainer
    if stage.head == "score":  # "before" is the parent with a fresh, untrained score head: chance level
        return {"before": reward_metrics(before), "after": reward_metrics(after)}
    if stage.data == "preference":
        return {"before": preference_metrics(before), "after": preference_metrics(after, reference=before)}
    return {"before": before, "after": after}


def run_stage(plan: Plan, out: Path, work: Path, quiet: bool = False) -> dict[str, Any]:
    """Train the plan into `out` (atomically); checkpoints in `work` survive a kill and are resumed."""
    import torch
    from transformers import AutoTokenizer

    quiet_libraries()
    state, clock = accelerate_state(), Clock()
    recipe = plan.recipe
    tokenizer = AutoTokenizer.from_pretrained(plan.parent_folder)
    saved_template = tokenizer.chat_template
    template = training_template(tokenizer, recipe.model.chat_template, recipe.path.parent)
    tokenizer.chat_template = template  # TRL reads the markers from the tokenizer's template
    model_class = _model_class(recipe.trainer)
    before = None
    if state.is_main_process:
        parent = model_class(plan.parent_folder, dtype=torch.float32)
        before = measure(parent, tokenizer, template, plan)
        del parent
        clock.lap("heldout_before")
    trainer, loaded, resumed = _train(plan, tokenizer, work, model_class, quiet)
    clock.lap("train")
    state.wait_for_everyone()
    if not state.is_main_process:
        return {}
    history, method = trainer.state.log_history, {"value": loaded.method, "note": loaded.note}
    model, saved_model, difference = _final_model(plan, trainer, loaded, work, tokenizer, model_class)
    del trainer, loaded
    gc.collect()
    clock.lap("merge")
    after = measure(model, tokenizer, template, plan)
    clock.lap("heldout_after")
    tokenizer.chat_template = saved_template  # the model keeps its own template; the marked one was for training
    info = provenance(plan, history, resumed, loaded_method=method, difference=difference,
                      heldout=summarise(plan, before, after), timings=clock.laps)
    _save(saved_model, tokenizer, info, out, plan, work)
    shutil.rmtree(work, ignore_errors=True)
    return info


def _world_size() -> int:
    return accelerate_state().num_processes


class Clock:
    """Wall and CPU seconds per phase. On a shared machine wall time depends on the neighbours;
    the process's CPU seconds do not (much), so both are recorded."""

    def __init__(self):
        self.laps: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), self.cpu()

    @staticmethod
    def cpu() -> float:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def lap(self, name: str) -> None:
        wall, cpu = time.perf_counter(), self.cpu()
        self.laps[f"{name}_s"] = round(wall - self._wall, 1)
        self.laps[f"{name}_cpu_s"] = round(cpu - self._cpu, 1)
        self._wall, self._cpu = wall, cpu


def quiet_libraries() -> None:
    """One progress bar (ours), not one per library step: loading weights, tokenising, mapping."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    # PEFT and TRL still call the pre-5.0 name; the rename is transformers' business, not the user's.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*is deprecated", category=FutureWarning)


def _model_class(stage: TrainingStage):
    """A loader `load(folder, **kwargs)`: a reward model is the parent with a one-output score head."""
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    if stage.head == "score":
        return lambda folder, **kwargs: AutoModelForSequenceClassification.from_pretrained(folder, num_labels=1,
                                                                                          **kwargs)
    return AutoModelForCausalLM.from_pretrained


def _train(plan: Plan, tokenizer, work: Path, model_class, quiet: bool):
    recipe = plan.recipe
    if plan.stack:  # the parent's adapter frozen under a new one: evalkit/train/stack.py
        loaded, peft_config = stack.load_for_stacking(plan.stack, recipe), None
        extra = {"ref_model": stack.reference_model(plan.parent_folder, recipe)} if recipe.trainer.reference else {}
        return _run_trainer(plan, tokenizer, work, loaded, peft_config, quiet, extra,
                            [stack.keep_both_active(plan.stack)])
    loaded = load_for_training(plan.parent_folder, recipe, model_class)
    peft_config = None
    if loaded.method != "full":
        layers = loaded.model.config.get_text_config().num_hidden_layers
        peft_config = lora_config(recipe, layers, "SEQ_CLS" if recipe.trainer.head == "score" else "CAUSAL_LM")
    return _run_trainer(plan, tokenizer, work, loaded, peft_config, quiet, {})


def _run_trainer(plan: Plan, tokenizer, work: Path, loaded, peft_config, quiet: bool, extra: dict, callbacks=()):
    from datasets import Dataset

    from evalkit.train.progress import RichProgress

    recipe = plan.recipe
    dataset = Dataset.from_list([e.data for e in plan.train])
    label = f"train {recipe.stage} · {plan.parent_name} → {recipe.path.stem}"
    trainer = recipe.trainer.trainer(loaded.model, tokenizer, dataset, recipe, work / "checkpoints", peft_config,
                                     [RichProgress(label, quiet), *callbacks], **extra)
    resume = last_checkpoint(work / "checkpoints")
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the progress bar shows the loss; no dict per logging step
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    return trainer, loaded, resume.name if resume else None


def _final_model(plan: Plan, trainer, loaded, work: Path, tokenizer, model_class):
    """(model to measure, model to save, max logit difference merged vs not): LoRA merged into a fresh
    full-precision parent, or the full model; a stack kept as adapters saves no model (the base's files)."""
    if loaded.method == "full":
        return trainer.model, trainer.model, None
    check = [_check_ids(tokenizer, e)[:64] for e in plan.train[:4]]
    if plan.stack:
        adapters = stack.save_adapters(trainer, plan.stack, work)
        return stack.final_models(plan.stack, adapters, plan.recipe.stack.keep, pad_ids(check))
    adapter = work / stack.KEPT_ADAPTER
    trainer.save_model(str(adapter))
    merged, difference = merge_adapter(plan.parent_folder, adapter, check, model_class)
    return merged, merged, difference


def _check_ids(tokenizer, example: Example) -> list[int]:
    data = example.data
    if "text" in data:
        return tokenizer(data["text"], add_special_tokens=False)["input_ids"]
    conversation = data["messages"] if "messages" in data else data["prompt"] + data["chosen"]
    return tokenizer.apply_chat_template(conversation, tokenize=True, return_dict=True)["input_ids"]


def provenance(plan: Plan, history, resumed, loaded_method, difference, heldout, timings) -> dict[str, Any]:
    recipe = plan.recipe
    losses = [h for h in history if "loss" in h]
    return {
        "key": plan.key, "stage": recipe.stage, "created": time.time(),
        "recipe": {"file": str(recipe.path), "description": recipe.description, "settings": recipe.settings()},
        "parent": {"name": plan.parent_name, "fingerprint": plan.parent_fingerprint, "folder": str(plan.parent_folder)},
        "data": {"origin": plan.data_origin, "content_hash": plan.data_hash, "train_rows": len(plan.train),
                 "heldout_rows": len(plan.heldout), "heldout_hash": content_hash(plan.heldout),
                 "bad_rows_dropped": list(plan.bad_rows)},
        "decontamination": plan.decontamination,
        "method": loaded_method["value"], "method_note": loaded_method["note"],
        "training": {"steps": max((h.get("step", 0) for h in history), default=0), "resumed_from": resumed,
                     "first_loss": losses[0]["loss"] if losses else None,
                     "final_loss": losses[-1]["loss"] if losses else None, "log_history": history},
        "merge": {"max_logit_difference": difference, "tolerance": 1e-3} if difference is not None else None,
        **({"stack": plan.stack.describe(recipe.stack.keep)} if plan.stack else {}), **plan.extra,
        # the leaderboard's lineage reads assistant-turn or preference numbers under "heldout"; a pretraining
        # stage's document perplexity is kept beside it until the lineage shows it
        **({"heldout": {}, "heldout_documents": heldout} if recipe.trainer.data == "text" else {"heldout": heldout}),
        "timings_s": timings, "packages": package_versions(),
        "environment": {**environment(), "world_size": _world_size()},
    }


def _save(model, tokenizer, info: dict[str, Any], out: Path, plan: Plan, work: Path) -> None:
    """A plain HF folder (plus the LoRA adapter, for a stack to build on), or a stack's base + adapters."""
    with staged_folder(out) as tmp:
        if model is None:
            stack.write_stacked_folder(tmp, plan.stack, [work / stack.ADAPTERS / n for n in
                                                         (plan.stack.lower_name, plan.stack.top_name)])
        else:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
        if (work / stack.KEPT_ADAPTER).is_dir() and plan.recipe.trainer.head != "score":
            shutil.copytree(work / stack.KEPT_ADAPTER, tmp / stack.KEPT_ADAPTER)
        loss_curve(info["training"]["log_history"], tmp / LOSS_CURVE, f"{info['stage']} · {info['recipe']['file']}")
        (tmp / PROVENANCE).write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
