"""stage = "distill": a teacher answers the recipe's prompts; its answers become the student's SFT data.

The teacher is any config model (local weights, a recipe model, an OpenAI-compatible endpoint). Its answers
are generation requests like any other, fetched through the response cache, so every finished answer is
committed as it arrives: a teacher that fails or is killed half way keeps what it answered, and the rerun
asks only for the rest. The student (the recipe's parent) is then trained by SFT on (prompt, answer) chats;
teacher, prompts and the answers' hash go into the provenance and the leaderboard's lineage.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from evalkit.errors import ConfigError, DataError, ModelError
from evalkit.models import fetch_responses
from evalkit.progress import counting
from evalkit.train.data import Example, Examples, load_rows, parse_sources
from evalkit.train.formats import renamed
from evalkit.train.recipe import Recipe
from evalkit.train.stages import StageInputs, TrainingStage, register
from evalkit.types import GenerationRequest, stable_hash


def prompts(recipe: Recipe) -> tuple[list[tuple[str, str]], str]:
    """([(prompt, "file:line")], origin): the user turn of each row, from `prompt` after data.columns and
    data.prompt_template, as an SFT recipe builds it; with data.limit, the first heldout + limit rows."""
    rows, origin = load_rows(parse_sources(recipe), recipe.path.parent)
    if recipe.data.limit:  # the teacher answers only what can be used: the held-out rows and `limit` more
        rows = rows[: recipe.data.heldout + recipe.data.limit]
    out = []
    for row in rows:
        prompt = renamed(row.data, recipe.data, row.origin).get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise DataError(f"{row.origin}: no prompt for the teacher; give the row a `prompt` field, or set "
                            f"data.columns = {{ prompt = \"FIELD\" }} or data.prompt_template in {recipe.path}")
        out.append((prompt, row.origin))
    if not out:
        raise DataError(f"{origin}: no prompts; point [[data.sources]] at a file of prompts")
    return out, origin


def teacher_requests(recipe: Recipe, rows: list[tuple[str, str]]) -> list[GenerationRequest]:
    settings = recipe.distill
    return [GenerationRequest(prompt=prompt, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature, seed=settings.seed, chat=True,
                              system=settings.system or None) for prompt, _ in rows]


def teach(config, recipe: Recipe, store, prepare, progress=None) -> tuple[Examples, dict[str, Any]]:
    """The teacher's answers as SFT examples (cached in the store), and what the provenance records."""
    name = recipe.distill.teacher
    if prepare is None or config is None:
        raise ConfigError(f"{recipe.path}: distill.teacher = {name!r} is a config model; build through evalkit.toml")
    if name not in config.models:
        raise ConfigError(f"{recipe.path}: distill.teacher = {name!r} is not a model in {config.path}; "
                          f"known: {', '.join(sorted(config.models))}")
    rows, origin = prompts(recipe)
    teacher = prepare(config, name, store)
    requests = teacher_requests(recipe, rows)
    try:
        responses = fetch_responses(teacher, requests, store, progress)
    except ModelError as err:
        failures = getattr(err, "failures", None)
        if failures is None:
            raise ModelError(f"{recipe.path}: distill.teacher = {name!r} stopped: {err}; the answers it gave are "
                             f"kept in the store and a rerun asks only for the rest") from None
        reasons = ", ".join(f"{r} ×{n}" for r, n in Counter(failures.values()).most_common())
        raise ModelError(f"{recipe.path}: distill.teacher = {name!r} failed on {len(failures)} of {len(rows)} "
                         f"prompts ({reasons}); the {len(rows) - len(failures)} answers it gave are kept in the "
                         f"store, and a rerun asks only for the missing ones") from None
    examples, dropped = [], []
    for (prompt, where), response in zip(rows, responses):
        if not response.text.strip():
            dropped.append(f"{where}: the teacher's answer is empty")
            continue
        system = [{"role": "system", "content": recipe.data.system}] if recipe.data.system else []
        examples.append(Example({"messages": system + [{"role": "user", "content": prompt},
                                                       {"role": "assistant", "content": response.text}]}, where))
    if not examples:
        raise DataError(f"{recipe.path}: distill.teacher = {name!r} gave only empty answers to {origin}")
    answers = [r.text for r in responses]
    info = {"teacher": name, "teacher_fingerprint": teacher.fingerprint, "prompts": origin,
            "prompts_hash": stable_hash([p for p, _ in rows])[:16], "answers_hash": stable_hash(answers)[:16],
            "answers": len(answers), "empty_answers": len(dropped), "answered_now": teacher.computed}
    return Examples(tuple(examples), f"{origin} answered by {name}", tuple(dropped)), {"distill": info}


def _inputs(config, recipe: Recipe, parent_name: str, parent, store, prepare, quiet: bool) -> StageInputs:
    with counting(f"distill · {recipe.distill.teacher} answers for {parent_name}", quiet=quiet) as progress:
        examples, extra = teach(config, recipe, store, prepare, progress)
    return StageInputs(examples=examples, extra=extra)


def _rules(recipe: Recipe) -> list[tuple[bool, str]]:
    distill = recipe.distill
    return [
        (bool(distill.teacher), ("distill.teacher is empty; name the config model that answers the prompts, "
                                 "e.g. teacher = \"teacher\"")),
        (distill.max_new_tokens >= 1, f"distill.max_new_tokens = {distill.max_new_tokens} must be at least 1"),
        (distill.temperature >= 0, f"distill.temperature = {distill.temperature:g} must be 0 (greedy) or more"),
    ]


STAGE = register(TrainingStage("distill", "a teacher model answers prompts; the student (the parent) is fine-tuned "
                               "on its answers", runs_as=lambda recipe: "sft", inputs=_inputs, rules=_rules))
