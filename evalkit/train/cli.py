"""`evalkit train sft|dpo|orpo|reward --recipe FILE [--set key=value ...] [--parent NAME]`."""

from __future__ import annotations

import json

from evalkit.errors import ConfigError


def cmd_train(args) -> int:
    from rich.console import Console

    from evalkit import runner
    from evalkit.commands import _open
    from evalkit.train.build import build_model
    from evalkit.train.pipeline import PROVENANCE
    from evalkit.train.recipe import load_recipe

    recipe = load_recipe(args.recipe, args.set or ())
    if recipe.stage != args.stage:
        raise ConfigError(f"{args.recipe} is a {recipe.stage} recipe (stage = {recipe.stage!r}); "
                          f"run `evalkit train {recipe.stage} --recipe {args.recipe}`")
    config, store = _open(args)
    parent = runner.prepare_model(config, args.parent, store)
    folder = build_model(config, recipe, args.parent, parent, store, quiet=args.quiet)
    if not (folder / PROVENANCE).is_file():  # a non-main rank of `accelerate launch`: rank 0 reports
        return 0
    info = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
    console = Console()
    console.print(f"[bold]{recipe.stage}[/] model: {folder}")
    decon = info["decontamination"]
    console.print(f"data: {info['data']['train_rows']} training rows ({info['data']['origin']}), "
                  f"{decon['dropped']} dropped by {decon['ngram']}-gram decontamination")
    for stage, numbers in (info.get("heldout") or {}).items():
        console.print(f"held-out {stage}: {json.dumps(_headline(numbers))}")
    return 0


def _headline(numbers: dict) -> dict:
    keep = ("assistant_perplexity", "n", "likelihood_accuracy", "per_token_accuracy", "reward_accuracy")
    return {k: (round(v["value"], 4) if isinstance(v, dict) else round(v, 4) if isinstance(v, float) else v)
            for k, v in numbers.items() if k in keep}

