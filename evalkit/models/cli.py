"""`evalkit models`: the configured models and how each resolves."""

from __future__ import annotations

import sys


def make_parser(commands) -> None:
    models = commands.add_parser("models", help="list the configured models and how each resolves on this machine")
    models.set_defaults(handler=cmd_models)


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
