"""`--models` entries: a configured model's name, or a source given on the command line.

    evalkit run --models base,./out/checkpoint-500,HuggingFaceTB/SmolLM2-135M-Instruct,model.gguf,openai:gpt-4o-mini

An entry that is not a model of the config is read as a source (a folder, a `.gguf` file, a hub id,
an `openai:` or http(s) endpoint, `embedded:...`) and named after its last path part. Settings follow
as `:key=value` parts, as lm-eval's --model_args do: `./m:dtype=bfloat16:batch_size=8`. Run-wide
overrides (--batch-size, --dtype, --device) then apply to every selected model.
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import tomllib

from evalkit.backends import check_backend
from evalkit.config import Config, did_you_mean, model_spec, split_names
from evalkit.errors import ConfigError
from evalkit.models.sources import local_path, looks_like_hub_id

ENDPOINT_PREFIXES = ("openai:", "http://", "https://")
OVERRIDABLE = ("batch_size", "dtype", "device")


def select_models(config: Config, text: str | None, overrides: dict[str, Any] | None = None) -> tuple[Config, list[str]]:
    """The config with every entry of `--models` defined, and the entries' model names in order."""
    entries = split_names(text) or list(config.models)
    models, names = dict(config.models), []
    for entry in entries:
        source, settings = split_settings(entry)
        if source in config.models and not settings:
            name = source
        else:
            spec = _entry_spec(config, source, settings)
            name = spec.name
            if name in models and models[name] != spec:
                raise ConfigError(f"--models {entry!r} would be named {name!r}, which another model already is; "
                                  f"rename one (a config [models.NAME] table names it)")
            models[name] = spec
        names.append(name)
    for name in names:
        models[name] = _overridden(models[name], overrides or {})
    return replace(config, models=models), names


SETTING = re.compile(r":(?=[A-Za-z_][A-Za-z0-9_]*=)")  # a ':' that starts `key=value` (URLs keep theirs)


def split_settings(entry: str) -> tuple[str, dict[str, Any]]:
    """`./m:dtype=bfloat16:batch_size=8` -> ("./m", {"dtype": "bfloat16", "batch_size": 8})."""
    source, *parts = SETTING.split(entry)
    settings: dict[str, Any] = {}
    for part in parts:
        key, _, value = part.partition("=")
        settings[key.strip()] = _value(value.strip())
    return source, settings


def _value(text: str) -> Any:
    try:  # numbers and booleans as TOML reads them; anything else is a string
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def entry_name(source: str) -> str:
    if source.startswith("embedded:"):
        return source.removeprefix("embedded:")
    if source.startswith("openai:"):
        return source.removeprefix("openai:")
    trimmed = source.rstrip("/")
    name = Path(trimmed).stem if trimmed.endswith(".gguf") else trimmed.rsplit("/", 1)[-1]
    return name or trimmed


def _entry_spec(config: Config, source: str, settings: dict[str, Any]):
    local = local_path(source, config.root)
    found = _is_remote(source) or local.exists() or looks_like_hub_id(source)
    if not found and _looks_like_path(source):
        raise ConfigError(f"--models {source}: no folder or .gguf file at {local}; check the path (relative "
                          f"paths are relative to {config.root})")
    if not found:
        known = ", ".join(sorted(config.models)) or "(none)"
        raise ConfigError(f"unknown model {source!r} in --models; {did_you_mean(source, config.models)}"
                          f"not a model of {config.path} ({known}; add a "
                          f"[models.{source}] table to define one), not an existing folder or .gguf file under "
                          f"{config.root}, not a hub id (org/name) and not an endpoint (openai:MODEL, http://...)")
    resolved = str(local.resolve()) if not _is_remote(source) and local.exists() else source
    name = str(settings.pop("name", None) or entry_name(source))
    return _checked_spec(name, {"source": resolved, **settings}, f"--models {source}")


def _looks_like_path(source: str) -> bool:
    # ./x, ../x, /x, ~/x, a/b/c or x.gguf: meant as a file or folder, so a missing one is a wrong path
    return source.startswith((".", "/", "~")) or source.count("/") > 1 or source.endswith(".gguf")


def _is_remote(source: str) -> bool:
    """An endpoint or the embedded model: nothing to find on disk."""
    return source.startswith(ENDPOINT_PREFIXES + ("embedded:",))


def _overridden(spec, overrides: dict[str, Any]):
    chosen = {k: v for k, v in overrides.items() if k in OVERRIDABLE and v is not None}
    if not chosen:
        return spec
    return _checked_spec(spec.name, {**_fields(spec), **chosen}, f"--{'/--'.join(k.replace('_', '-') for k in chosen)}")


def _checked_spec(name: str, table: dict[str, Any], where: str):
    """A model table from the command line, its backend checked against the registry as a config's is."""
    spec = model_spec(name, table, where)
    check_backend(spec, f"{where}: models.{name}")
    return spec


def _fields(spec) -> dict[str, Any]:
    return {k: v for k, v in asdict(spec).items() if k != "name" and v is not None}
