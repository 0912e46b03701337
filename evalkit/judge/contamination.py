"""A judge trained from a recipe (a reward model built on demand) must not have been trained on the
prompts it judges. The recipe's training rows are checked against the judge's prompt set with the
n-gram test that decontaminates every build against the suites' tasks (evalkit/train/decontam.py),
before the model is built; an overlap stops the pass with the rows to remove.
"""

from __future__ import annotations

from typing import Any

from evalkit.answers.promptsets import PromptSet
from evalkit.config import ModelSpec
from evalkit.errors import DataError
from evalkit.train.build import recipe_for
from evalkit.train.data import load_examples
from evalkit.train.decontam import build_index, decontaminate


def prompt_set_overlap(config, spec: ModelSpec, prompt_set: PromptSet, judge: str) -> dict[str, Any] | None:
    """The check's report (None for a judge model that is not built from a recipe); DataError on an overlap."""
    if not spec.recipe:
        return None
    recipe = recipe_for(config, spec)
    examples = load_examples(recipe, recipe.path.parent)
    _, train = examples.split(recipe.data.heldout)  # every row a build may train on, before its own limit
    items = [{"prompt": p.text, "reference": p.reference or ""} for p in prompt_set.prompts]
    index = build_index({f"prompt set {prompt_set.name}": items}, recipe.decontamination.ngram)
    found = decontaminate(train, index, drop=False).report
    report = {"recipe": str(recipe.path), "ngram": found["ngram"], "checked": found["checked"],
              "overlapping": found["overlapping"], "prompts": found["eval_items"],
              "prompts_too_short": found["eval_items_too_short"]}
    if found["overlapping"]:
        first = found["examples"][0]
        raise DataError(f"judge {judge!r}: {found['overlapping']} of {found['checked']} training rows of "
                        f"{recipe.path} share a {found['ngram']}-gram with prompt set {prompt_set.name!r} (first: "
                        f"{first['origin']}, \"{first['ngram']}\"); remove those rows from the data or judge "
                        f"another prompt set")
    return report


def overlap_text(report: dict[str, Any] | None) -> str:
    """One sentence for the report, or "" for a judge not built from a recipe."""
    if not report:
        return ""
    unchecked = (f"; {report['prompts_too_short']} of the {report['prompts']} prompts are shorter than "
                 f"{report['ngram']} words and cannot be checked this way" if report["prompts_too_short"] else "")
    return (f" Its training data ({report['recipe']}) was checked against this prompt set: {report['overlapping']} "
            f"of {report['checked']} rows share a {report['ngram']}-gram with a prompt{unchecked}.")
