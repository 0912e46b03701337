"""Prompt sets: the instructions candidates answer and a pairwise judge compares.

A prompt set is a TOML file in promptsets/ (or the project's own promptsets/
folder) that names its data sources, tried in order as for tasks, how a row
becomes a prompt (Jinja, as in task files), optional reference answers joined on
the prompt id, and the generation settings of the answers. A user's own JSONL
file works too: one object per line with `prompt` (or `instruction`, `question`,
`turns`), optional `id`, `category` and `reference`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import builtin_dir, check_keys, read_toml
from evalkit.data.sources import Row, Source, load_rows, parse_sources
from evalkit.data.templates import compile_template, render
from evalkit.errors import ConfigError, DataError

BUILTIN_PROMPTSETS = builtin_dir("promptsets")
PROMPTSET_KEYS = {"name", "version", "description", "citation", "sources", "id", "prompt", "category",
                  "reference", "generate"}
GENERATE_KEYS = {"max_new_tokens", "temperature", "system"}
REFERENCE_KEYS = {"id", "text", "sources", "categories"}
USER_PROMPT_FIELDS = ("prompt", "instruction", "question", "turns")


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str
    category: str = ""
    reference: str | None = None  # shown to reference-guided judges (math, code)


@dataclass(frozen=True)
class PromptSet:
    name: str
    version: int
    prompts: tuple[Prompt, ...]
    origin: str  # where the rows came from, for provenance
    description: str = ""
    max_new_tokens: int = 256
    temperature: float = 0.0
    system: str | None = None


def load_prompt_set(name_or_path: str, root: Path | None = None, limit: int | None = None,
                    seed: int | None = None) -> PromptSet:
    """A prompt set by name (promptsets/NAME.toml) or path (.toml, .jsonl, .json).

    limit: the first `limit` prompts, or a seeded random sample of them when `seed` is given.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"prompt limit {limit!r}: give a positive number of prompts, or no limit for all")
    root = root or Path.cwd()
    path = _find(name_or_path, root)
    if path.suffix == ".toml":
        prompt_set = _from_toml(path)
    else:
        prompt_set = _from_user_file(path)
    return _limited(prompt_set, limit, seed)


def known_prompt_sets(root: Path) -> list[str]:
    folders = [root / "promptsets", BUILTIN_PROMPTSETS]
    return sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.toml")})


def _find(name_or_path: str, root: Path) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix in (".toml", ".jsonl", ".json", ".gz"):
        path = path if path.is_absolute() else root / path
        if not path.is_file():
            raise ConfigError(f"prompt set file {path} not found; give a path relative to {root} or a name "
                              f"({', '.join(known_prompt_sets(root))})")
        return path
    for folder in (root / "promptsets", BUILTIN_PROMPTSETS):
        candidate = folder / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    raise ConfigError(f"unknown prompt set {name_or_path!r}; known: {', '.join(known_prompt_sets(root))}, "
                      f"or give a .jsonl file with one {{\"prompt\": ...}} per line")


def _from_toml(path: Path) -> PromptSet:
    raw, _ = read_toml(path, PROMPTSET_KEYS, {"name": str, "version": int, "prompt": str})
    _check_templates(raw, path)
    generate = _generate_settings(raw.get("generate", {}), path)
    reference = raw.get("reference")
    if reference is not None:
        _check_reference(reference, path)
    rows, origin = load_rows(_sources(raw.get("sources"), path, "sources"), path.parent, raw["name"])
    prompts = [_prompt(raw, row, position) for position, row in enumerate(rows, start=1)]
    if reference is not None:
        prompts = _with_references(prompts, reference, path, raw["name"])
    return PromptSet(name=raw["name"], version=raw["version"], prompts=_unique(prompts, origin), origin=origin,
                     description=raw.get("description", ""), **generate)


def _sources(raw: Any, path: Path, where: str) -> list[Source]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: needs at least one [[{where}]] entry (data_dir, package, file or hub)")
    return list(parse_sources(raw, path, where))


def _check_templates(raw: dict[str, Any], path: Path) -> None:
    """Every template compiles before any row is read (and long before any answer is generated)."""
    for key in ("prompt", "id", "category"):
        if key in raw:
            _compiles(raw[key], f"{path}: `{key}`")
    for key in ("description", "citation"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{path}: `{key}` must be a string, got {raw[key]!r}")


def _check_reference(spec: Any, path: Path) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: [reference] must be a table with `id`, `text` and [[reference.sources]]")
    check_keys(spec, REFERENCE_KEYS, str(path), prefix="reference.")
    for key in ("id", "text"):
        if not isinstance(spec.get(key), str):
            raise ConfigError(f"{path}: [reference] needs `{key}` (a Jinja template)")
        _compiles(spec[key], f"{path}: reference.{key}")
    categories = spec.get("categories", [])
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise ConfigError(f"{path}: reference.categories must be a list of category names, got {categories!r}")


def _compiles(template: Any, where: str) -> None:
    if not isinstance(template, str):
        raise ConfigError(f"{where} must be a Jinja template string, got {template!r}")
    try:
        compile_template(template)
    except Exception as err:  # jinja2.TemplateSyntaxError: name the key, not a line of Jinja internals
        raise ConfigError(f"{where} is not a valid template: {err}") from None


def _prompt(raw: dict[str, Any], row: Row, position: int) -> Prompt:
    data = row.data
    try:
        text = render(raw["prompt"], data).strip()
        prompt_id = render(raw["id"], data).strip() if "id" in raw else str(position)
        category = render(raw["category"], data).strip() if "category" in raw else ""
    except Exception as err:  # a template that does not fit the row: name the row
        raise DataError(f"{row.origin}: cannot build the prompt ({type(err).__name__}: {err}); "
                        f"check the templates of prompt set {raw['name']!r}") from None
    if not text:
        raise DataError(f"{row.origin}: empty prompt in prompt set {raw['name']!r}")
    return Prompt(id=prompt_id, text=text, category=category)


def _with_references(prompts: list[Prompt], spec: dict[str, Any], path: Path, name: str) -> list[Prompt]:
    """Reference answers joined on the prompt id, for the categories that need one (MT-Bench: math,
    reasoning, coding). A missing reference file leaves the prompts without references."""
    try:
        rows, _ = load_rows(_sources(spec.get("sources"), path, "reference.sources"), path.parent, f"{name} references")
    except DataError:
        return prompts
    answers = {render(spec["id"], row.data).strip(): render(spec["text"], row.data) for row in rows}
    categories = set(spec.get("categories", []))
    out = []
    for prompt in prompts:
        wanted = not categories or prompt.category in categories
        reference = (answers.get(prompt.id) or None) if wanted else None
        out.append(Prompt(prompt.id, prompt.text, prompt.category, reference))
    return out


def _generate_settings(raw: Any, path: Path) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [generate] must be a table")
    check_keys(raw, GENERATE_KEYS, str(path), prefix="generate.")
    settings = {"max_new_tokens": raw.get("max_new_tokens", 256), "temperature": raw.get("temperature", 0.0),
                "system": raw.get("system")}
    tokens = settings["max_new_tokens"]
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 32768:
        raise ConfigError(f"{path}: generate.max_new_tokens = {tokens!r}; use 1..32768")
    temperature = settings["temperature"]
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 5:
        raise ConfigError(f"{path}: generate.temperature = {temperature!r}; use a number in 0..5 (0: greedy)")
    settings["temperature"] = float(temperature)
    if settings["system"] is not None and not isinstance(settings["system"], str):
        raise ConfigError(f"{path}: generate.system must be a string, got {settings['system']!r}")
    return settings


def _from_user_file(path: Path) -> PromptSet:
    rows, origin = load_rows([Source(kind="file", path=str(path))], path.parent, path.stem)
    prompts = [_user_prompt(row, position) for position, row in enumerate(rows, start=1)]
    return PromptSet(name=path.name.split(".")[0], version=1, prompts=_unique(prompts, origin), origin=origin)


def _user_prompt(row: Row, position: int) -> Prompt:
    """One row of a user's own file; a value of the wrong type is named, never turned into its repr."""
    field = next((f for f in USER_PROMPT_FIELDS if row.data.get(f)), None)
    if field is None:
        raise DataError(f"{row.origin}: no prompt; give one of the fields {', '.join(USER_PROMPT_FIELDS)}")
    value = row.data[field]
    if field == "turns":
        if not isinstance(value, list) or not isinstance(value[0], str):
            raise DataError(f"{row.origin}: `turns` must be a list of strings, got {value!r:.80}")
        value = value[0]
    if not isinstance(value, str):
        raise DataError(f"{row.origin}: `{field}` must be text, got {type(value).__name__} {value!r:.80}")
    extra = row.data.get("input")
    if extra and not isinstance(extra, str):
        raise DataError(f"{row.origin}: `input` must be text, got {type(extra).__name__}")
    text = f"{value}\n\n{extra}" if extra else value  # Alpaca-style rows: the input belongs to the instruction
    for key in ("category", "reference"):
        if row.data.get(key) is not None and not isinstance(row.data[key], str):
            raise DataError(f"{row.origin}: `{key}` must be text, got {row.data[key]!r:.80}")
    prompt_id = row.data.get("id", row.data.get("question_id", position))
    if not isinstance(prompt_id, (str, int)) or isinstance(prompt_id, bool):
        raise DataError(f"{row.origin}: `id` must be a string or a number, got {prompt_id!r:.80}")
    return Prompt(str(prompt_id), text.strip(), str(row.data.get("category") or ""), row.data.get("reference"))


def _unique(prompts: list[Prompt], origin: str) -> tuple[Prompt, ...]:
    if not prompts:
        raise DataError(f"{origin}: the prompt set has no prompts; add at least one")
    seen: dict[str, int] = {}
    for position, prompt in enumerate(prompts, start=1):
        if prompt.id in seen:
            raise DataError(f"{origin}: prompt id {prompt.id!r} appears twice (prompts {seen[prompt.id]} and "
                            f"{position}); ids must be unique within a prompt set")
        seen[prompt.id] = position
    return tuple(prompts)


def _limited(prompt_set: PromptSet, limit: int | None, seed: int | None) -> PromptSet:
    prompts = prompt_set.prompts
    if limit is None or limit >= len(prompts):
        return prompt_set
    if seed is None:
        chosen = prompts[:limit]
    else:
        picked = sorted(random.Random(seed).sample(range(len(prompts)), limit))
        chosen = tuple(prompts[i] for i in picked)
    return PromptSet(prompt_set.name, prompt_set.version, tuple(chosen), prompt_set.origin, prompt_set.description,
                     prompt_set.max_new_tokens, prompt_set.temperature, prompt_set.system)
