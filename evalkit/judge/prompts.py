"""Judge files (judges/*.toml): the prompt a judge sees and how its verdict is read.

A judge file holds the system and user templates (Jinja, with `question`,
`answer_a`, `answer_b` and, for reference-guided judges, `reference`), the
verdict format as a regex whose first group maps to "A", "B" or "tie", the
sampling settings, and, for judges scored by verdict-token probabilities, the
reply prefix and the choices. "A" always means the answer shown first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.config import builtin_dir, check_keys, read_toml
from evalkit.data.templates import compile_template, environment, render
from evalkit.errors import ConfigError
from evalkit.types import stable_hash

BUILTIN_JUDGES = builtin_dir("judges")
JUDGE_FILE_KEYS = {"name", "version", "description", "reference", "with_reference", "system", "user", "verdict",
                   "sampling", "logprobs"}
SECTION_KEYS = {"verdict": {"regex", "labels", "pick"}, "sampling": {"temperature", "max_new_tokens"},
                "logprobs": {"prefix", "choices", "instruction"}}
SHOWN_VERDICTS = ("A", "B", "tie")
TEMPLATE_FIELDS = ("question", "answer_a", "answer_b")  # what every judge template is given; `reference` too
# when the file says reference = true
PICKS = ("last", "first", "only")


@dataclass(frozen=True)
class JudgeTemplate:
    name: str
    version: int
    path: Path
    description: str
    system: str
    user: str
    reference: bool
    with_reference: str | None
    regex: str
    labels: dict[str, str]  # regex group → "A" | "B" | "tie"
    pick: str
    temperature: float
    max_new_tokens: int
    logprob_prefix: str
    logprob_choices: tuple[str, ...]
    logprob_instruction: str  # endpoints (no reply prefix to begin with): what asks for the verdict token alone
    content_hash: str


def find_judge_file(name: str, root: Path) -> Path:
    folders = [root / "judges", BUILTIN_JUDGES]
    for folder in folders:
        if (folder / f"{name}.toml").is_file():
            return folder / f"{name}.toml"
    known = sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.toml")})
    raise ConfigError(f"unknown judge prompt {name!r}; looked in {', '.join(str(f) for f in folders)}. "
                      f"Known: {', '.join(known) or '(none)'}")


def load_judge_template(name: str, root: Path) -> JudgeTemplate:
    path = find_judge_file(name, root)
    raw, text = read_toml(path, JUDGE_FILE_KEYS, {"name": str, "version": int, "system": str, "user": str})
    verdict, sampling, logprobs = (_section(raw, key, path) for key in ("verdict", "sampling", "logprobs"))
    regex, labels, pick = _verdict_format(verdict, path)
    temperature, max_new_tokens = _sampling(sampling, path)
    fields = TEMPLATE_FIELDS + (("reference",) if raw.get("reference") else ())
    for key in ("system", "user"):
        check_template(path, key, raw[key], fields)
    choices = logprobs.get("choices", sorted(labels))
    if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
        raise ConfigError(f"{path}: logprobs.choices = {choices!r} must be a list of verdict labels, e.g. "
                          f"[\"A\", \"B\", \"C\"]")
    for key in ("prefix", "instruction"):
        if not isinstance(logprobs.get(key, ""), str):
            raise ConfigError(f"{path}: logprobs.{key} = {logprobs[key]!r} must be text")
    instruction = logprobs.get("instruction") or (f"Reply with your final verdict only: one of "
                                                  f"{', '.join(choices)}, and nothing else.")
    choices = tuple(choices)
    for choice in choices:
        if choice not in labels:
            raise ConfigError(f"{path}: logprobs.choices has {choice!r}, which is not a key of verdict.labels "
                              f"({', '.join(labels)})")
    return JudgeTemplate(
        name=raw["name"], version=raw["version"], path=path, description=raw.get("description", ""),
        system=raw["system"], user=raw["user"], reference=bool(raw.get("reference", False)),
        with_reference=raw.get("with_reference"), regex=regex, labels=labels, pick=pick,
        temperature=temperature, max_new_tokens=max_new_tokens, logprob_prefix=logprobs.get("prefix", ""),
        logprob_instruction=instruction, logprob_choices=choices, content_hash=stable_hash(text)[:16])


def check_template(path: Path, key: str, source: str, fields: tuple[str, ...]) -> None:
    """Compile a judge template and check the variables it reads, so a mistake in it stops the run
    before any answer is generated rather than when the first judgment is rendered."""
    import jinja2  # imported when a judge file is read, not at start-up (as data/templates.py does)
    import jinja2.meta

    try:
        compile_template(source)  # syntax, and what only compiling finds (an unknown filter)
        parsed = environment().parse(source)
    except jinja2.TemplateSyntaxError as err:
        raise ConfigError(f"{path}: `{key}` is not a valid Jinja template (line {err.lineno} of it: {err.message}); "
                          f"fix the template") from None
    unknown = sorted(jinja2.meta.find_undeclared_variables(parsed) - set(fields))
    if unknown:
        hint = "; set reference = true to be given the reference answer" if "reference" in unknown else ""
        raise ConfigError(f"{path}: `{key}` uses {{{{ {unknown[0]} }}}}, which a judge template is not given; "
                          f"use {', '.join(fields)}{hint}")


def _section(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table")
    check_keys(value, SECTION_KEYS[key], str(path), prefix=f"{key}.")
    return value


def _sampling(sampling: dict[str, Any], path: Path) -> tuple[float, int]:
    temperature, tokens = sampling.get("temperature", 0.0), sampling.get("max_new_tokens", 1024)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise ConfigError(f"{path}: sampling.temperature = {temperature!r} must be a number in [0, 2]")
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= 1_000_000:
        raise ConfigError(f"{path}: sampling.max_new_tokens = {tokens!r} must be a positive whole number of tokens")
    return float(temperature), tokens


def _verdict_format(verdict: dict[str, Any], path: Path) -> tuple[str, dict[str, str], str]:
    regex = verdict.get("regex")
    if not isinstance(regex, str):
        raise ConfigError(f"{path}: [verdict] needs `regex` with one group, e.g. regex = '\\[\\[([ABC])\\]\\]'")
    try:
        groups = re.compile(regex).groups
    except re.error as err:
        raise ConfigError(f"{path}: verdict.regex {regex!r} is not a valid regular expression ({err})") from None
    if groups < 1:
        raise ConfigError(f"{path}: verdict.regex {regex!r} needs a group that captures the verdict")
    labels = verdict.get("labels")
    if not isinstance(labels, dict) or not labels or not set(labels.values()) <= set(SHOWN_VERDICTS):
        raise ConfigError(f"{path}: verdict.labels must map each captured value to one of "
                          f"{', '.join(SHOWN_VERDICTS)}, e.g. {{ A = \"A\", B = \"B\", C = \"tie\" }}")
    pick = verdict.get("pick", "last")
    if pick not in PICKS:
        raise ConfigError(f"{path}: verdict.pick = {pick!r}; choose one of {', '.join(PICKS)}")
    return regex, dict(labels), pick


def render_judge(template: JudgeTemplate, question: str, first: str, second: str,
                 reference: str | None) -> tuple[str, str]:
    """(system, user) messages with `first` shown as assistant A and `second` as assistant B."""
    fields = {"question": question, "answer_a": first, "answer_b": second}
    if template.reference:
        fields["reference"] = reference
    return render(template.system, fields), render(template.user, fields)


def parse_verdict(template: JudgeTemplate, text: str) -> tuple[str | None, str | None]:
    """("A" | "B" | "tie", None) or (None, why it is unscored)."""
    found = [m.group(1) for m in re.finditer(template.regex, text)]
    known = [template.labels[f] for f in found if f in template.labels]
    if not known:
        return None, f"no verdict matching {template.regex}"
    if template.pick == "only" and len(set(known)) > 1:
        return None, f"conflicting verdicts {sorted(set(known))}"
    return (known[0] if template.pick == "first" else known[-1]), None
