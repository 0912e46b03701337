"""`evalkit init`: a project's evalkit.toml to edit (the built-in default), with the recipes it names."""

from __future__ import annotations

from pathlib import Path

from evalkit.errors import ConfigError


def make_parser(commands) -> None:
    init = commands.add_parser("init", help="write a commented evalkit.toml (the built-in default) to edit")
    init.add_argument("--force", action="store_true", help="overwrite an existing evalkit.toml")
    init.set_defaults(handler=cmd_init)


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
