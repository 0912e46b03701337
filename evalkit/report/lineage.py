"""Leaderboard section: where each trained candidate came from (base → sft → dpo), with recipe,
data, decontamination and the held-out before/after numbers, from the store alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evalkit.report.format import fmt
from evalkit.store import Store
from evalkit.train.build import trained_info
from evalkit.train.curves import loss_curve


def heldout_cell(info: dict[str, Any]) -> str:
    heldout = info.get("heldout") or {}
    before, after = heldout.get("before"), heldout.get("after")
    if not before or not after:
        return "–"
    if "assistant_perplexity" in before:
        return (f"assistant-turn perplexity {fmt(before['assistant_perplexity'])} → "
                f"{fmt(after['assistant_perplexity'])} (n={before['n']}, {before['tokens']} tokens)")
    acc_b, acc_a = before["likelihood_accuracy"], after["likelihood_accuracy"]
    text = (f"prefers chosen {fmt(acc_b['value'])} → {fmt(acc_a['value'])} "
            f"[{fmt(acc_a['ci_low'])}, {fmt(acc_a['ci_high'])}] (n={acc_a['n']})")
    if "reward_accuracy" in after:
        reward = after["reward_accuracy"]
        text += f"; DPO reward accuracy {fmt(reward['value'])} [{fmt(reward['ci_low'])}, {fmt(reward['ci_high'])}]"
    return text


def heldout_measures(info: dict[str, Any]) -> list[str]:
    """Which held-out measurements a candidate's lineage row shows (report.notes says what each measures)."""
    heldout = info.get("heldout") or {}
    before, after = heldout.get("before"), heldout.get("after")
    if not before or not after:
        return []
    if "assistant_perplexity" in before:
        return ["assistant_perplexity"]
    return ["likelihood_accuracy"] + (["reward_accuracy"] if "reward_accuracy" in after else [])


def run_heldout_measures(store: Store, run: dict[str, Any]) -> list[str]:
    """The held-out measurements of every trained candidate of a run, in order, once each."""
    found: list[str] = []
    for model in run["provenance"].get("models", {}).values():
        info = trained_info(store, Path(str(model["folder"])).name) if model["spec"].get("recipe") else None
        found += [key for key in heldout_measures(info or {}) if key not in found]
    return found


def _bad_rows(data: dict[str, Any]) -> str:
    dropped = len(data.get("bad_rows_dropped") or [])
    return f" · {dropped} bad row{'s' if dropped != 1 else ''} skipped" if dropped else ""


def stage_cell(info: dict[str, Any]) -> str:
    """Stage and method, with how a stack was kept and which teacher a distillation learned from."""
    text = f"{info['stage']} · {info['method']}"
    if info["stage"] == "merge" and info.get("method_note"):  # which models, with which weights or layers
        text += f" · {info['method_note']}"
    if stack := info.get("stack"):
        lower, top = stack["adapters"]
        kept = "kept as two adapters, both active" if stack["keep"] == "adapters" else "merged in sequence"
        text += f" · {top} adapter on {lower}'s over {stack['base']}, {kept}"
    if distill := info.get("distill"):
        text += (f" · teacher {distill['teacher']} (`{distill['teacher_fingerprint'][:12]}`), "
                 f"{distill['answers']} answers `{distill['answers_hash']}`")
    return text


def _recipe_cell(info: dict[str, Any]) -> str:
    recipe = f"`{Path(info['recipe']['file']).name}`"
    if info["stage"] == "merge":  # no optimiser ran: the recipe's training defaults would only mislead
        return f"{recipe}, no training"
    return f"{recipe} lr {info['recipe']['settings']['train']['learning_rate']:g}, {info['training']['steps']} steps"


def lineage_chain(name: str, specs: dict[str, dict[str, Any]]) -> str:
    chain, seen = [name], {name}
    while (parent := (specs.get(chain[0]) or {}).get("parent")) and parent not in seen:
        chain.insert(0, parent)
        seen.add(parent)
    return " → ".join(chain)


def lineage_section(store: Store, run: dict[str, Any], reports_dir: Path) -> list[str]:
    models = run["provenance"].get("models", {})
    specs = {name: model["spec"] for name, model in models.items()}
    rows = []
    for name, model in models.items():
        if not model["spec"].get("recipe"):
            continue
        info = trained_info(store, Path(str(model["folder"])).name)
        if info is None:
            continue
        curve = loss_curve(info["training"]["log_history"], reports_dir / f"training-{name}-loss.png",
                           f"{name}: {info['stage']} from {info['parent']['name']}")
        data, decon = info["data"], info["decontamination"]
        rows.append(f"| **{name}** | {lineage_chain(name, specs)} | {stage_cell(info)} | {_recipe_cell(info)} | "
                    f"{Path(data['origin']).name} · {data['train_rows']} rows "
                    f"· `{data['content_hash']}`{_bad_rows(data)} | {decon['dropped']} of {decon['checked']} dropped "
                    f"({decon['ngram']}-gram) | {heldout_cell(info)} | "
                    + (f"[loss]({curve.name})" if curve else "–") + " |")
    if not rows:
        return []
    return ["## Training lineage", "",
            "How each trained candidate was built: parent chain, stage and method, recipe, training data (rows "
            "and content hash), training rows dropped for sharing an n-gram with an evaluation item, and the "
            "held-out measurement taken before and after training.", "",
            "| model | lineage | stage · method | recipe | data | decontamination | held-out before → after | curve |",
            "|---|---|---|---|---|---|---|---|"] + rows
