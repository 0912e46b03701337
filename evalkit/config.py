"""evalkit.toml → typed, validated dataclasses.

Every error names the file, the key and the fix, because a config typo is the
most common way an evaluation goes wrong before it starts.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from evalkit.errors import ConfigError


def read_toml(path: Path, allowed: set[str] | None = None, required: dict[str, type] | None = None,
              missing_hint: str = "") -> tuple[dict[str, Any], str]:
    """The prologue every evalkit file kind shares: read, decode, parse, check top-level keys and the
    required typed ones. Returns (table, text); every failure is a ConfigError naming the file."""
    if not path.is_file():
        raise ConfigError(f"{path} not found" + (f"; {missing_hint}" if missing_hint else ""))
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not UTF-8 text (byte {err.start}); save it as UTF-8") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}; fix the syntax at that line") from None
    if allowed is not None:
        check_keys(raw, allowed, str(path))
    for key, kind in (required or {}).items():
        if not isinstance(raw.get(key), kind) or (kind is int and isinstance(raw.get(key), bool)):
            raise ConfigError(f"{path}: `{key}` is required and must be {kind.__name__}, got {raw.get(key)!r}")
    return raw, text


def check_keys(table: dict[str, Any], allowed: set[str], where: str, prefix: str = "") -> None:
    """An unknown key is an error naming the nearest allowed one: a typo must not be silently ignored.
    `prefix` names the table the key is in (`models.x.`); without one the key is quoted."""
    unknown = sorted(set(table) - allowed)
    if unknown:
        near = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
        hint = f"did you mean {prefix}{near[0]}? " if near else ""
        name = f"{prefix}{unknown[0]}" if prefix else repr(unknown[0])
        raise ConfigError(f"{where}: unknown key {name}; {hint}allowed: {', '.join(sorted(allowed))}")


def builtin_dir(name: str) -> Path:
    """The data folders evalkit ships (tasks, judges, promptsets, recipes): inside an installed wheel
    they sit under evalkit/_data/; in a checkout (or an editable install) at the repository's top."""
    package = Path(__file__).resolve().parent
    installed = package / "_data" / name
    return installed if installed.is_dir() else package.parent / name

DTYPES = ("float32", "bfloat16", "float16", "auto")
QUANTIZATIONS = ("none", "4bit", "8bit")
MODEL_KEYS = {"source", "backend", "dtype", "device", "adapter", "quantization", "chat_template", "batch_size",
              "max_length", "recipe", "parent", "description", "api_key_env", "base_url", "revision",
              "tokenizer", "concurrency", "timeout", "max_retries", "tensor_parallel_size"}
CONFIG_TABLES = {"project", "models", "suites", "judges", "parallel"}
PARALLEL_KEYS = {"ray", "workers", "cpus_per_worker", "gpus_per_worker", "ship", "start_timeout"}
PROJECT_KEYS = {"store", "reports", "seed"}
TASK_OPTION_KEYS = {"limit", "sample_seed", "subjects", "num_fewshot", "sources", "format"}
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?|xpu(:\d+)?")
MODEL_STRINGS = ("source", "device", "adapter", "recipe", "parent", "description", "revision")
SUITE_KEYS = {"tasks", "options", "description", "judge", "prompt_set", "prompt_limit", "formats"}
JUDGE_KEYS = {"prompt", "model", "method", "description", "prompt_set", "tie_margin", "position", "tie_band"}
# The names a registry above the config holds (a model's backend, a judge's method and position rule) are
# read here as strings only; evalkit.project checks them against evalkit.backends.BACKENDS and
# evalkit.judge's METHODS and RULES when a command opens its project, before any work starts.


@dataclass(frozen=True)
class ModelSpec:
    """Where a model comes from and how to run it.

    `source` is a local folder, a hub id, a `.gguf` file, `embedded:smollm2-135m-instruct`
    (the copy that `pip install` brings), or an `openai:` endpoint; `recipe` names a
    training recipe that builds the model from `parent`.
    """

    name: str
    source: str = ""
    dtype: str = "float32"
    device: str = "auto"
    backend: str = "hf"  # hf | vllm: which engine runs local weights (endpoints ignore it)
    adapter: str | None = None
    quantization: str = "none"
    chat_template: bool = True
    batch_size: int = 16
    max_length: int | None = None
    recipe: str | None = None
    parent: str | None = None
    description: str = ""
    revision: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None  # the *name* of the variable holding the key; the key itself is never stored
    tokenizer: str | None = None  # endpoints: a local tokenizer folder or hub id, for exact token-level scoring
    concurrency: int = 4  # endpoints: requests in flight at once
    timeout: float = 120.0  # endpoints: seconds per request before it is retried
    max_retries: int = 4  # endpoints: retries with exponential backoff on 429, 5xx, timeouts, malformed replies
    tensor_parallel_size: int = 1  # vllm: GPUs one copy of the model is split over (vLLM's own setting)


@dataclass(frozen=True)
class TaskOptions:
    """Per-suite choices for one task: which subset, recorded in the run."""

    limit: int | None = None
    sample_seed: int | None = None  # None: the first `limit` items; a seed: a seeded random sample
    subjects: tuple[str, ...] = ()
    num_fewshot: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # the prompt format the task's main row is scored in (evalkit/kinds/formats.py), e.g. "cloze-smollm2";
    # None: as the task file defines it. Checked against the formats where the run plans its tasks.
    format: str | None = None


@dataclass(frozen=True)
class Suite:
    name: str
    tasks: tuple[str, ...]
    options: dict[str, TaskOptions]
    judges: tuple[str, ...] = ()  # [judges.NAME] entries: pairwise judging of the models' answers, one after another
    prompt_set: str | None = None  # the prompts the judges' answers come from (default: each judge's own)
    prompt_limit: int | None = None  # the first N prompts only
    formats: tuple[str, ...] = ()  # prompt formats each task also runs in (evalkit/kinds/formats.py); --formats wins


@dataclass(frozen=True)
class JudgeConfig:
    """A judge: a prompt file in judges/ run by a model with a method.

    `model` is a model of [models] or an inline model table (a judge endpoint need not be a
    candidate); method "generate" parses the judge's text, "logprobs" compares the
    probabilities of the verdict tokens, "reward" compares a reward model's scores.
    """

    name: str
    prompt: str
    model: ModelSpec
    method: str = "generate"
    description: str = ""
    prompt_set: str = "default"
    tie_margin: float = 0.0  # reward: |P(first better) - 0.5| at or below this is a tie
    # strict: a win only when both orders agree (MT-Bench); calibrated: decided from the verdict
    # probabilities averaged over both orders (Wang et al. 2023), a tie when the averaged preference
    # P(a) / (P(a) + P(b)) is within tie_band of 0.5. Judges without probabilities are strict only.
    position: str = "strict"
    tie_band: float = 0.0


@dataclass(frozen=True)
class ParallelSettings:
    """[parallel]: where the work runs past this process (docs/scaling.md). `ray` is an address as
    `ray.init` takes it (auto, ray://HOST:10001, HOST:PORT, or local to start one here); None: this process."""

    ray: str | None = None
    # with ray: at most this many workers (default: as many as the cluster's resources hold); without: processes on
    # this machine for a CPU model (default: one, evalkit/models/local_pool.py)
    workers: int | None = None
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 1.0  # on a cluster with GPUs; each worker then also takes cpus_per_worker CPUs
    ship: bool = True  # a worker that cannot find the model itself gets the driver's copy through Ray's object store
    start_timeout: float = 120.0  # seconds for the workers to start before the run stops and says why


@dataclass(frozen=True)
class Config:
    path: Path
    root: Path  # relative paths in the config are relative to this folder
    store: Path
    reports: Path
    seed: int
    models: dict[str, ModelSpec]
    suites: dict[str, Suite]
    raw: dict[str, Any]
    judges: dict[str, JudgeConfig] = field(default_factory=dict)
    parallel: ParallelSettings = field(default_factory=ParallelSettings)

    @property
    def builtin(self) -> bool:
        """The built-in default config, not a project's own file."""
        return self.path == builtin_config() and self.root != self.path.parent

    def find(self, relative: str | Path) -> Path:
        """A path the config names (a recipe, say): relative to the project, else among evalkit's own files."""
        path = Path(relative)
        if path.is_absolute():
            return path
        local = self.root / path
        return local if local.exists() or self.path.parent == self.root else self.path.parent / path

    def model(self, name: str) -> ModelSpec:
        if name not in self.models:
            known = ", ".join(sorted(self.models)) or "(none)"
            raise ConfigError(f"unknown model {name!r} in --models; {did_you_mean(name, self.models)}"
                              f"{self.path} defines: {known}. "
                              f"Add a [models.{name}] table or pick one of those.")
        return self.models[name]

    def model_names(self, text: str | None) -> list[str]:
        """`--models a,b` checked against the config before any work starts (default: every model)."""
        names = split_names(text) or list(self.models)
        for name in names:
            self.model(name)
        return names

    def suite(self, name: str) -> Suite:
        if name not in self.suites:
            known = ", ".join(sorted(self.suites)) or "(none)"
            raise ConfigError(f"unknown suite {name!r}; {self.path} defines: {known}. "
                              f"Add a [suites.{name}] table or pick one of those.")
        return self.suites[name]

    def judge(self, name: str) -> JudgeConfig:
        if name not in self.judges:
            known = ", ".join(sorted(self.judges)) or "(none)"
            raise ConfigError(f"unknown judge {name!r}; {self.path} defines: {known}. Add a [judges.{name}] table "
                              f"(prompt = \"mtbench-pairwise\", model = \"...\") or pick one of those.")
        return self.judges[name]


PROJECT_CONFIG = "evalkit.toml"


def builtin_config() -> Path:
    """The default config evalkit ships: the embedded model as `base`, its recipes, the offline suite."""
    package = Path(__file__).resolve().parent
    installed = package / "_data" / PROJECT_CONFIG
    return installed if installed.is_file() else package.parent / PROJECT_CONFIG


def load_config(path: str | Path | None = None) -> Config:
    """The project's config; with no path and no evalkit.toml in this folder, the built-in default,
    whose store and reports then go under this folder (./.evalkit, ./reports)."""
    if path is None:
        if Path(PROJECT_CONFIG).is_file():
            return load_config(Path(PROJECT_CONFIG).resolve())
        return _load(builtin_config(), Path.cwd())
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} not found; pass an existing --config PATH, or leave --config out to "
                          f"use ./{PROJECT_CONFIG} or the built-in default (`evalkit init` writes one to edit)")
    return _load(path, path.resolve().parent)


def _load(path: Path, root: Path) -> Config:
    raw, _ = read_toml(path, CONFIG_TABLES)
    project = _table(raw, "project", path)
    _check_keys(project, PROJECT_KEYS, "project", path)
    for key in ("store", "reports"):
        if key in project and (not isinstance(project[key], str) or not project[key].strip()):
            raise ConfigError(f"{path}: project.{key} must be a path (a non-empty string), got {project[key]!r}")
    models = {name: _model(name, spec, path) for name, spec in _table(raw, "models", path).items()}
    for model in models.values():
        if model.parent is not None and model.parent not in models:
            raise ConfigError(f"{path}: models.{model.name}.parent = {model.parent!r} is not a model defined in the file")
    suites = {name: _suite(name, spec, path) for name, spec in _table(raw, "suites", path).items()}
    judges = {name: _judge(name, spec, models, path) for name, spec in _table(raw, "judges", path).items()}
    for suite in suites.values():
        for name in suite.judges:
            if name not in judges:
                raise ConfigError(f"{path}: suites.{suite.name}.judge names {name!r}, which is not a judge defined in "
                                  f"the file; add [judges.{name}] or use: {', '.join(sorted(judges)) or '(none)'}")
    return Config(
        path=path, root=root,
        store=root / project.get("store", ".evalkit/evalkit.db"),
        reports=root / project.get("reports", "reports"),
        seed=_typed(project.get("seed", 1234), int, "project.seed", path),
        models=models, suites=suites, raw=raw, judges=judges, parallel=_parallel(_table(raw, "parallel", path), path),
    )


def _table(raw: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: [{key}] must be a table, got {type(value).__name__}")
    return value


def _check_keys(table: dict[str, Any], allowed: set[str], where: str, path: Path) -> None:
    check_keys(table, allowed, str(path), prefix=f"{where}.")


def _typed(value: Any, kind: type, where: str, path: Path) -> Any:
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{path}: {where} must be {kind.__name__}, got {value!r}")
    return value


def model_spec(name: str, spec: Any, where: str) -> ModelSpec:
    """A model table from anywhere but a config file (a --models entry's key=value settings), validated
    as a config's [models.NAME] is; `where` names it in errors."""
    return _model(name, spec, Path(where))


def _model(name: str, spec: Any, path: Path) -> ModelSpec:
    where = f"models.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: [{where}] must be a table with at least `source` or `recipe`")
    if "data_parallel_size" in spec:  # vLLM's offline engine refuses it in one process (LLM.__init__)
        raise ConfigError(f"{path}: {where}.data_parallel_size: vLLM runs data-parallel offline only across processes; "
                          f"remove it and run `evalkit run --ray ADDRESS` (one worker per parallel.gpus_per_worker "
                          f"GPUs, each its own vLLM engine) or `accelerate launch`")
    _check_keys(spec, MODEL_KEYS, where, path)
    for key in MODEL_STRINGS:
        if key in spec and not isinstance(spec[key], str):
            raise ConfigError(f"{path}: {where}.{key} must be a string, got {spec[key]!r}")
    if not spec.get("source") and not spec.get("recipe"):
        raise ConfigError(f"{path}: {where} needs `source` (folder, hub id, .gguf, embedded:...) or `recipe`")
    if not isinstance(spec.get("chat_template", True), bool):
        raise ConfigError(f"{path}: {where}.chat_template = {spec['chat_template']!r}; use true (wrap chat prompts in "
                          f"the model's own template) or false (plain prompts)")
    if not DEVICE.fullmatch(spec.get("device", "auto")):
        raise ConfigError(f"{path}: {where}.device = {spec['device']!r}; use auto, cpu, cuda, cuda:N or mps")
    max_length = spec.get("max_length")
    if max_length is not None and not 16 <= _typed(max_length, int, f"{where}.max_length", path) <= 10**7:
        raise ConfigError(f"{path}: {where}.max_length = {max_length} is out of range; use 16 tokens or more")
    dtype = spec.get("dtype", "float32")
    if dtype not in DTYPES:
        raise ConfigError(f"{path}: {where}.dtype = {dtype!r}; choose one of {', '.join(DTYPES)}")
    quant = spec.get("quantization", "none")
    if quant not in QUANTIZATIONS:
        raise ConfigError(f"{path}: {where}.quantization = {quant!r}; choose one of {', '.join(QUANTIZATIONS)}")
    backend = _typed(spec.get("backend", "hf"), str, f"{where}.backend", path)  # its name: evalkit.project
    batch_size = _typed(spec.get("batch_size", 16), int, f"{where}.batch_size", path)
    if not 1 <= batch_size <= 4096:
        raise ConfigError(f"{path}: {where}.batch_size = {batch_size} is out of range; use 1..4096")
    _endpoint_settings(spec, where, path)
    tensor_parallel = _typed(spec.get("tensor_parallel_size", 1), int, f"{where}.tensor_parallel_size", path)
    if tensor_parallel < 1 or (tensor_parallel > 1 and backend != "vllm"):
        raise ConfigError(f"{path}: {where}.tensor_parallel_size = {tensor_parallel}: give 1 or more, and more than 1 "
                          f"only with backend = \"vllm\" (vLLM splits the model over that many GPUs)")
    return ModelSpec(name=name, **{k: v for k, v in spec.items()})


def _endpoint_settings(spec: dict[str, Any], where: str, path: Path) -> None:
    concurrency = _typed(spec.get("concurrency", 4), int, f"{where}.concurrency", path)
    if not 1 <= concurrency <= 256:
        raise ConfigError(f"{path}: {where}.concurrency = {concurrency} is out of range; use 1..256")
    retries = _typed(spec.get("max_retries", 4), int, f"{where}.max_retries", path)
    if not 0 <= retries <= 20:
        raise ConfigError(f"{path}: {where}.max_retries = {retries} is out of range; use 0..20")
    timeout = spec.get("timeout", 120.0)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
        raise ConfigError(f"{path}: {where}.timeout = {timeout!r} must be seconds in (0, 3600]")
    for key in ("api_key_env", "base_url", "tokenizer"):
        if key in spec and not isinstance(spec[key], str):
            raise ConfigError(f"{path}: {where}.{key} must be a string, got {spec[key]!r}")
    if spec.get("api_key_env", "").startswith(("sk-", "Bearer ")):
        raise ConfigError(f"{path}: {where}.api_key_env looks like a key itself; put the key in an environment "
                          f"variable and name that variable here, e.g. api_key_env = \"OPENAI_API_KEY\"")


def _judge(name: str, spec: Any, models: dict[str, ModelSpec], path: Path) -> JudgeConfig:
    where = f"judges.{name}"
    if not isinstance(spec, dict):
        raise ConfigError(f"{path}: [{where}] must be a table with `prompt` and `model`")
    _check_keys(spec, JUDGE_KEYS, where, path)
    prompt = spec.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise ConfigError(f"{path}: {where}.prompt must name a judge file in judges/ (e.g. \"mtbench-pairwise\")")
    method = _typed(spec.get("method", "generate"), str, f"{where}.method", path)
    model = spec.get("model")
    if isinstance(model, str):
        if model not in models:
            raise ConfigError(f"{path}: {where}.model = {model!r} is not a model defined in the file; name one of "
                              f"{', '.join(sorted(models)) or '(none)'} or give a table, e.g. "
                              f"model = {{ source = \"openai:gpt-4o\", api_key_env = \"OPENAI_API_KEY\" }}")
        judge_model = models[model]
    elif isinstance(model, dict):
        judge_model = _model(f"judge-{name}", model, path)
    else:
        raise ConfigError(f"{path}: {where}.model must be a model name or an inline model table, got {model!r}")
    position = _typed(spec.get("position", "strict"), str, f"{where}.position", path)
    return JudgeConfig(name=name, prompt=prompt, model=judge_model, method=method,
                       description=_typed(spec.get("description", ""), str, f"{where}.description", path),
                       prompt_set=_typed(spec.get("prompt_set", "default"), str, f"{where}.prompt_set", path),
                       tie_margin=_band(spec, "tie_margin", where, path), position=position,
                       tie_band=_band(spec, "tie_band", where, path))


def _band(spec: dict[str, Any], key: str, where: str, path: Path) -> float:
    value = spec.get(key, 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 0.5:
        raise ConfigError(f"{path}: {where}.{key} = {value!r} must be a number in [0, 0.5)")
    return float(value)


def _suite(name: str, spec: Any, path: Path) -> Suite:
    where = f"suites.{name}"
    if not isinstance(spec, dict) or "tasks" not in spec:
        raise ConfigError(f"{path}: [{where}] needs `tasks = [\"...\"]`")
    _check_keys(spec, SUITE_KEYS, where, path)
    tasks = spec["tasks"]
    if not isinstance(tasks, list) or not all(isinstance(t, str) for t in tasks) or not tasks:
        raise ConfigError(f"{path}: {where}.tasks must be a non-empty list of task names, got {tasks!r}")
    options = {task: _task_options(f"{where}.options.{task}", opts, path)
               for task, opts in _table(spec, "options", path).items()}
    for task in options:
        if task not in tasks:
            raise ConfigError(f"{path}: {where}.options.{task} is set but {task!r} is not in {where}.tasks")
    judge, prompt_set, limit = spec.get("judge"), spec.get("prompt_set"), spec.get("prompt_limit")
    judges = [judge] if isinstance(judge, str) else judge
    if judge is not None and (not isinstance(judges, list) or not judges
                              or not all(isinstance(j, str) and j for j in judges)):
        raise ConfigError(f"{path}: {where}.judge must be a judge name or a list of them, got {judge!r}")
    if prompt_set is not None and (not isinstance(prompt_set, str) or not prompt_set):
        raise ConfigError(f"{path}: {where}.prompt_set must be a name, got {prompt_set!r}")
    if prompt_set is not None and judge is None:
        raise ConfigError(f"{path}: {where}.prompt_set is set but no {where}.judge; add judge = \"NAME\" or remove it")
    if limit is not None and _typed(limit, int, f"{where}.prompt_limit", path) < 1:
        raise ConfigError(f"{path}: {where}.prompt_limit = {limit} is out of range; use a positive number")
    formats = spec.get("formats", [])
    if not isinstance(formats, list) or not all(isinstance(f, str) and f.strip() for f in formats):
        raise ConfigError(f"{path}: {where}.formats must be a list of prompt formats, e.g. formats = [\"cloze\"], "
                          f"got {formats!r}")
    return Suite(name=name, tasks=tuple(tasks), options=options, judges=tuple(dict.fromkeys(judges or ())),
                 prompt_set=prompt_set, prompt_limit=limit, formats=tuple(formats))


def _parallel(table: dict[str, Any], path: Path) -> ParallelSettings:
    _check_keys(table, PARALLEL_KEYS, "parallel", path)
    ray = table.get("ray")
    if ray is not None and (not isinstance(ray, str) or not ray.strip()):
        raise ConfigError(f"{path}: parallel.ray must be a Ray address (auto, ray://HOST:10001, HOST:PORT or local), "
                          f"got {ray!r}")
    workers = table.get("workers")
    if workers is not None and _typed(workers, int, "parallel.workers", path) < 1:
        raise ConfigError(f"{path}: parallel.workers = {workers} is out of range; use 1 or more, or remove it")
    numbers = {}
    for key in ("cpus_per_worker", "gpus_per_worker", "start_timeout"):
        if key in table:
            value = table[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
                    (value == 0 and key != "gpus_per_worker"):
                raise ConfigError(f"{path}: parallel.{key} = {value!r} must be a positive number")
            numbers[key] = float(value)
    ship = _typed(table.get("ship", True), bool, "parallel.ship", path)
    return ParallelSettings(ray=ray, workers=workers, ship=ship, **numbers)


def _task_options(where: str, opts: Any, path: Path) -> TaskOptions:
    if not isinstance(opts, dict):
        raise ConfigError(f"{path}: [{where}] must be a table")
    check_keys(opts, TASK_OPTION_KEYS, str(path), prefix=f"{where}.")
    opts = dict(opts)
    limit = opts.pop("limit", None)
    if limit is not None and (_typed(limit, int, f"{where}.limit", path) < 1):
        raise ConfigError(f"{path}: {where}.limit = {limit} is out of range; use a positive number or remove it")
    seed = opts.pop("sample_seed", None)
    if seed is not None:
        _typed(seed, int, f"{where}.sample_seed", path)
    shots = opts.pop("num_fewshot", None)
    if shots is not None and not 0 <= _typed(shots, int, f"{where}.num_fewshot", path) <= 25:
        raise ConfigError(f"{path}: {where}.num_fewshot = {shots} is out of range; use 0..25")
    subjects = opts.pop("subjects", [])
    if not isinstance(subjects, list) or not all(isinstance(x, str) and x for x in subjects):
        raise ConfigError(f"{path}: {where}.subjects must be a list of names, got {subjects!r}")
    chosen = opts.pop("format", None)
    if chosen is not None and (not isinstance(chosen, str) or not chosen.strip()):
        raise ConfigError(f"{path}: {where}.format must be a prompt format name, e.g. format = \"cloze\", got {chosen!r}")
    return TaskOptions(limit=limit, sample_seed=seed, subjects=tuple(subjects), num_fewshot=shots, extra=opts,
                       format=chosen)


def did_you_mean(name: str, known) -> str:
    """"did you mean X? " for a near miss among `known` names (a typo), else ""."""
    import difflib

    near = difflib.get_close_matches(name, sorted(known), n=3, cutoff=0.5)
    return f"did you mean {', '.join(near)}? " if near else ""


def split_names(text: str | None, flag: str = "--models") -> list[str] | None:
    """A comma-separated list from the command line (None when not given); an empty entry is an error."""
    if not text:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise ConfigError(f"{flag} {text!r} has an empty name; use e.g. {flag} base,sft")
    return names
