"""A judge trained from a recipe (a reward model built on demand) must not have been trained on the
prompts it judges. Its build is decontaminated against the judge's prompt set as every build is against
the suites' tasks (evalkit/train/decontam.py): the training rows that share an n-gram with a prompt are
dropped before training, and counted here, with the same test, for the judge's record and the report.
A recipe that keeps overlapping rows (decontamination.drop = false) is refused before it is built.
"""

from __future__ import annotations

from typing import Any

from evalkit.answers.promptsets import PromptSet
from evalkit.config import ModelSpec
from evalkit.errors import DataError
from evalkit.train.build import recipe_for
from evalkit.train.data import load_examples
from evalkit.train.decontam import build_index, decontaminate
from evalkit.types import shown_path


def prompt_set_items(prompt_set: PromptSet) -> dict[str, list[dict[str, str]]]:
    """The prompt set as rows for the decontamination index: each prompt and its reference answer."""
    return {f"prompt set {prompt_set.name}": [{"prompt": p.text, "reference": p.reference or ""}
                                              for p in prompt_set.prompts]}


def prompt_set_overlap(config, spec: ModelSpec, prompt_set: PromptSet, judge: str) -> dict[str, Any] | None:
    """What the build drops for overlapping the prompt set (None for a judge model that is not built from a
    recipe); DataError when the recipe keeps overlapping rows."""
    if not spec.recipe:
        return None
    recipe = recipe_for(config, spec)
    examples = load_examples(recipe, recipe.path.parent)
    _, train = examples.split(recipe.data.heldout)  # every row a build may train on, before its own limit
    index = build_index(prompt_set_items(prompt_set), recipe.decontamination.ngram)
    found = decontaminate(train, index, drop=recipe.decontamination.drop).report
    report = {"recipe": spec.recipe, "ngram": found["ngram"], "checked": found["checked"],
              "overlapping": found["overlapping"], "dropped": found["dropped"], "prompts": found["eval_items"],
              "prompts_too_short": found["eval_items_too_short"], "examples": found["examples"][:5]}
    if found["overlapping"] and not found["dropped"]:
        first = found["examples"][0]
        raise DataError(f"judge {judge!r}: {found['overlapping']} of {found['checked']} training rows of "
                        f"{recipe.path} share a {found['ngram']}-gram with prompt set {prompt_set.name!r} (first: "
                        f"{first['origin']}, \"{first['ngram']}\") and its decontamination.drop = false keeps them; "
                        f"set decontamination.drop = true, remove those rows, or judge another prompt set")
    return report


def overlap_text(report: dict[str, Any] | None) -> str:
    """One sentence for the report, or "" for a judge not built from a recipe."""
    if not report:
        return ""
    unchecked = (f"; {report['prompts_too_short']} of the {report['prompts']} prompts are shorter than "
                 f"{report['ngram']} words and cannot be checked this way" if report["prompts_too_short"] else "")
    dropped = report.get("dropped", 0)
    return (f" Its training data ({shown_path(report['recipe'])}) was decontaminated against this prompt set: "
            f"{report['overlapping']} of {report['checked']} rows share a {report['ngram']}-gram with a prompt"
            f"{' and were dropped before training' if dropped else ''}{unchecked}.")


def overlap_line(judge: str, prompt_set: str, report: dict[str, Any] | None) -> str | None:
    """The console's note on what was dropped, or None when nothing was."""
    if not report or not report.get("dropped"):
        return None
    first = report["examples"][0]
    return (f"judge {judge}: {report['dropped']} of {report['checked']} training rows of {report['recipe']} share a "
            f"{report['ngram']}-gram with prompt set {prompt_set!r} and are left out of its build (first: "
            f"{first['origin']}, \"{first['ngram']}\")")
