"""Code generation checked by running the problem's tests in the sandbox (HumanEval).

For each problem the model writes n completions of the prompt (greedy for n = 1,
sampled with distinct seeds otherwise); each is checked by evalkit.sandbox.run_tests:
the candidate (code prefix + completion) runs in one sandbox, the tests (test +
check(entry_point), beside the trusted code prefix) in another, and only the
tests' process decides pass or fail, from plain data the candidate returns.
pass@k is the unbiased estimator of Chen et al. (2021), averaged over problems. The task file's [code] table:

    prompt       template of what the model continues
    code_prefix  template of the code the completion continues (default: prompt)
    test, entry_point   templates: the tests and the function they check
    program      set for asserts-style tests (MBPP: "{{ completion }}\n{{ test }}", code_eval's
                 program): the candidate is the completion alone, the tests call the functions they name
    description, fewshot_target, target_delimiter   few-shot prompts, as lm-eval builds them
                 ([fewshot] table; without fewshot_target the task is zero-shot only)
    stop, max_new_tokens, temperature, top_p, n, ks   generation and pass@k
    timeout_s, memory_mb   sandbox limits per program

A program the sandbox could not run (status sandbox_error) counts as not passed
and is reported in the metric row's `unscored`, never dropped.
"""

from __future__ import annotations

import json
from typing import Any

from evalkit.config import check_keys
from evalkit.data import fewshot
from evalkit.data.templates import compile_template, render
from evalkit.errors import ConfigError, DataError
from evalkit.kinds import metric_rows
from evalkit.kinds.base import TaskKind
from evalkit.sandbox import execute
from evalkit.sandbox.execute import CodeTest, Limits, assert_test, humaneval_test
from evalkit.scoring import metrics as scoring
from evalkit.scoring import stats
from evalkit.types import GenerationRequest

SECTION_KEYS = {"prompt", "code_prefix", "test", "entry_point", "stop", "max_new_tokens", "temperature", "top_p",
                "n", "ks", "timeout_s", "memory_mb", "program", "description", "fewshot_target", "target_delimiter"}
TEMPLATES = ("prompt", "code_prefix", "test", "entry_point", "description", "fewshot_target")
UNSCORED_STATUSES = {"sandbox_error"}  # the program never ran: says nothing about the completion


def _section(task) -> dict[str, Any]:
    return task.section("code")


def validate(task) -> None:
    section = _section(task)
    where = f"{task.path}: [code]"
    check_keys(section, SECTION_KEYS, str(task.path), prefix="code.")
    for key in ("prompt", "test") + (() if "program" in section else ("entry_point",)):
        if not isinstance(section.get(key), str) or not section[key]:
            raise ConfigError(f"{where} needs `{key}`, a template such as \"{{{{ {key} }}}}\"")
    for key in TEMPLATES + ("program",):
        if key in section:
            try:
                compile_template(section[key])
            except Exception as err:
                raise ConfigError(f"{where}.{key} is not a valid template: {err}") from None
    stop = section.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError(f"{where}.stop must be a list of non-empty strings, got {stop!r}")
    for key, low in (("max_new_tokens", 1), ("timeout_s", 1), ("memory_mb", 64)):
        value = section.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < low):
            raise ConfigError(f"{where}.{key} = {value!r}; use a number >= {low}")
    sampling(task, {})
    fewshot.settings(task)


def sampling(task, options: dict[str, Any]) -> dict[str, Any]:
    """n, ks, temperature and top_p: the task file's, overridden by the suite's options."""
    merged = {**_section(task), **{k: v for k, v in options.items() if k in ("n", "ks", "temperature", "top_p")}}
    n, ks = merged.get("n", 1), merged.get("ks", [1])
    temperature, top_p = merged.get("temperature", 0.0), merged.get("top_p", 1.0)
    where = f"task {task.name!r} ({task.path})"
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 1000:
        raise ConfigError(f"{where}: n = {n!r}; use a whole number of samples per problem, 1..1000")
    if not isinstance(ks, list) or not ks or not all(isinstance(k, int) and k >= 1 for k in ks):
        raise ConfigError(f"{where}: ks = {ks!r}; use a list of positive whole numbers, e.g. [1, 10]")
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ConfigError(f"{where}: temperature = {temperature!r}; use 0 (greedy) or a positive number")
    if n > 1 and temperature == 0:
        raise ConfigError(f"{where}: n = {n} samples with temperature 0 would be {n} identical greedy "
                          "completions; set temperature (e.g. 0.8) or n = 1")
    return {"n": n, "ks": sorted({k for k in ks if k <= n}) or [1], "temperature": float(temperature),
            "top_p": float(top_p)}


def check_sample(task, sample) -> None:
    section = _section(task)
    for key in TEMPLATES:
        if key not in section:
            continue
        try:
            text = render(section[key], sample.row)
        except Exception as err:
            raise DataError(f"{sample.origin}: [code].{key}: {type(err).__name__}: {err} "
                            f"(row fields: {', '.join(sorted(sample.row))})") from None
        if not text.strip() and key != "description":
            raise DataError(f"{sample.origin}: [code].{key} renders empty for this row; fix the row")


def prompt(task, sample, options: dict[str, Any]) -> str:
    section = _section(task)
    if "fewshot_target" not in section:
        if options.get("num_fewshot"):
            raise ConfigError(f"task {task.name!r} is zero-shot only (its [code] table has no fewshot_target); "
                              "remove num_fewshot")
        return render(section["prompt"], sample.row)
    return fewshot.build_prompt(task, sample, options, description=render(section.get("description", ""), sample.row),
                                text_of=lambda row: render(section["prompt"], row),
                                answer_of=lambda row: render(section["fewshot_target"], row),
                                target_delimiter=section.get("target_delimiter", ""))


def requests(task, sample, options) -> list[GenerationRequest]:
    section, settings = _section(task), sampling(task, options)
    prompt_text = prompt(task, sample, options)
    base_seed = int(options.get("seed", 0)) if settings["temperature"] > 0 else 0
    return [GenerationRequest(prompt_text, max_new_tokens=int(section.get("max_new_tokens", 512)),
                              stop=tuple(section.get("stop", ())), temperature=settings["temperature"],
                              top_p=settings["top_p"], seed=base_seed + j)
            for j in range(settings["n"])]


def code_test(task, row: dict[str, Any], completion: str) -> CodeTest:
    """HumanEval's shape (prefix + completion, check(entry_point)), or with a
    `program` template (MBPP: completion + asserts) the asserts' shape: the
    tests run in their own process and call the functions they name."""
    section = _section(task)
    test = render(section["test"], row)
    if "program" in section:
        return assert_test(completion, test)
    prefix = render(section.get("code_prefix", section["prompt"]), row)
    return humaneval_test(prefix, completion, test, render(section["entry_point"], row))


def limits(task):
    section = _section(task)
    wall = float(section.get("timeout_s", Limits.wall_seconds))
    return Limits(wall_seconds=wall, cpu_seconds=min(Limits.cpu_seconds, wall),
                  memory_mb=int(section.get("memory_mb", Limits.memory_mb)))


def score(task, samples, responses, options):
    completions = [[r.text for r in answers] for answers in responses]
    finishes = [[r.finish_reason for r in answers] for answers in responses]
    tests = [code_test(task, s.row, c) for s, texts in zip(samples, completions) for c in texts]
    outcomes = iter(execute.run_tests(tests, limits(task)))
    ks = sampling(task, options)["ks"]
    records = [_record(task, sample, prompt(task, sample, options), texts, [next(outcomes) for _ in texts], ks)
               for sample, texts in zip(samples, completions)]
    for record, reasons in zip(records, finishes):
        record["scores"]["finish_reasons"] = reasons  # the report's health checks count truncated completions
    unscored = sum(r["scores"]["unscored"] for r in records)
    metrics = [metric_rows.mean_row(f"pass@{k}", [r["scores"][f"pass@{k}"] for r in records], unscored=unscored,
                                    primary=k == 1, samples_per_problem=len(completions[0]) if completions else 0)
               for k in ks]
    return records, metrics


def _record(task, sample, prompt_text: str, texts: list[str], outcomes, ks: list[int]) -> dict[str, Any]:
    passed = sum(o.passed for o in outcomes)
    scores: dict[str, Any] = {f"pass@{k}": scoring.pass_at_k(len(texts), passed, k) for k in ks}
    scores.update(n=len(texts), passed=passed, unscored=sum(o.status in UNSCORED_STATUSES for o in outcomes),
                  outcomes=[{"status": o.status, "reason": o.reason, "duration_s": o.duration_s} for o in outcomes])
    response = texts[0] if len(texts) == 1 else json.dumps(texts, ensure_ascii=False)
    return {"sample_id": sample.id, "prompt": prompt_text, "response": response,
            "target": render(_section(task)["test"], sample.row), "scores": scores}


def compare(metric, records_a, records_b, seed=0) -> stats.Comparison:
    """McNemar for pass@1 with one sample per problem, paired bootstrap otherwise."""
    if not records_a or metric not in records_a[0]["scores"]:
        raise ValueError(f"these records have no metric {metric!r}; code tasks report pass@k for k in `ks`")
    return stats.compare([r["scores"][metric] for r in records_a], [r["scores"][metric] for r in records_b],
                         seed=seed)


class CodeKind(TaskKind):
    name = "code"
    task_keys = frozenset({"code"})
    health = "output"
    default_primary = ("pass@1",)
    validate = staticmethod(validate)
    check_sample = staticmethod(check_sample)
    requests = staticmethod(requests)
    score = staticmethod(score)
    compare = staticmethod(compare)
