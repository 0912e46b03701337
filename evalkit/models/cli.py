"""`evalkit models`: the configured models and how each resolves; `evalkit init`: a config to edit."""

from __future__ import annotations

import sys
from pathlib import Path

from evalkit.errors import ConfigError


def make_parser(commands) -> None:
    models = commands.add_parser("models", help="list the configured models and how each resolves on this machine")
    models.set_defaults(handler=cmd_models)
    init = commands.add_parser("init", help="write a commented evalkit.toml (the built-in default) to edit")
    init.add_argument("--force", action="store_true", help="overwrite an existing evalkit.toml")
    init.set_defaults(handler=cmd_init)


def cmd_models(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from evalkit.project import load_project

    config = load_project(args.config)
    where = ("the built-in default config (no evalkit.toml here; `evalkit init` writes one)" if config.builtin
             else str(config.path))
    table = Table("model", "source", "resolves to", "dtype", "batch", "description", show_lines=True,
                  title=f"models of {where}")
    for spec in config.models.values():
        table.add_row(spec.name, spec.source or f"recipe {spec.recipe} of {spec.parent}", resolution(spec, config),
                      spec.dtype, str(spec.batch_size), spec.description)
    Console(width=None if sys.stdout.isatty() else 200).print(table)  # a pipe or log gets whole cells
    return 0


def resolution(spec, config) -> str:
    """Where the model's weights come from here, without loading, converting or downloading anything."""
    from evalkit.backends import is_endpoint
    from evalkit.models.sources import EMBEDDED, cache_dir, local_path, looks_like_hub_id

    source = spec.source
    if spec.recipe:
        return f"trained on first use from {spec.parent}, cached under {cache_dir() / 'trained'}"
    if is_endpoint(spec):
        return f"endpoint {spec.base_url or source}"
    if source.startswith("embedded:"):
        name = source.removeprefix("embedded:")
        return f"package {EMBEDDED[name][0]} (GGUF, converted once)" if name in EMBEDDED else "unknown embedded model"
    path = local_path(source, config.root)
    if path.exists():
        return f"local {'GGUF file' if path.suffix == '.gguf' else 'folder'} {path}"
    if looks_like_hub_id(source):
        return "hub id (needs the hub, or its files in the HF cache)"
    return f"not found: {path}"


def cmd_init(args) -> int:
    from evalkit.config import PROJECT_CONFIG, builtin_config

    target = Path(PROJECT_CONFIG)
    if target.exists() and not args.force:
        raise ConfigError(f"{target.resolve()} already exists; edit it, or pass --force to replace it")
    text = builtin_config().read_text(encoding="utf-8")
    copied, kept = copy_recipes(text, builtin_config().parent, Path.cwd(), overwrite=args.force)
    target.write_text(text, encoding="utf-8")  # its recipe paths stay relative: the folder can move or be shared
    print(f"wrote {target.resolve()}: the embedded SmolLM2 model as base, its sft/dpo recipes and the offline "
          f"suites. Edit [models.*] to point at your own models; `evalkit run` uses it from this folder.")
    if copied:
        print(f"copied the recipes it names to edit beside it: {', '.join(copied)}")
    if kept:
        print(f"kept your own {', '.join(kept)} (pass --force to replace them with evalkit's)")
    return 0


def copy_recipes(config_text: str, source: Path, target: Path, overwrite: bool) -> tuple[list[str], list[str]]:
    """The recipe files a config names (recipe = "recipes/X.toml"), copied from `source` to `target`;
    returns (copied, kept because a file of that name was there)."""
    import re

    copied, kept = [], []
    for relative in dict.fromkeys(re.findall(r'recipe = "([^"]+)"', config_text)):
        destination = target / relative
        if destination.exists() and not overwrite:
            kept.append(relative)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes((source / relative).read_bytes())
        copied.append(relative)
    return copied, kept
