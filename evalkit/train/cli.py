"""`evalkit train sft|dpo|orpo|reward --recipe FILE [--set key=value ...] [--parent NAME]`."""

from __future__ import annotations

import json

from evalkit.errors import ConfigError


def make_parser(commands) -> None:
    from evalkit.train.stages import STAGES  # the registry: importing evalkit.train registers every stage

    train = commands.add_parser("train", help="train a candidate from a recipe (SFT, DPO, ORPO, reward model; "
                                              "LoRA, QLoRA or full)")
    stages = train.add_subparsers(dest="stage", metavar="STAGE", required=True)
    for stage in STAGES.values():
        stage_parser = stages.add_parser(stage.name, help=stage.help)
        stage_parser.add_argument("--recipe", required=True, help="recipe TOML file (see recipes/)")
        stage_parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                                  help="override a recipe setting, e.g. --set train.learning_rate=1e-4 (repeatable)")
        stage_parser.add_argument("--parent", default="base", help="config model to train from (default: %(default)s)")
        stage_parser.add_argument("--quiet", action="store_true", help="no progress bar")
        stage_parser.set_defaults(handler=cmd_train)


def cmd_train(args) -> int:
    from rich.console import Console

    from evalkit.project import open_project
    from evalkit.train.build import build_model
    from evalkit.train.candidates import prepare_model
    from evalkit.train.pipeline import PROVENANCE
    from evalkit.train.recipe import load_recipe
    from evalkit.train.stages import STAGES

    recipe = load_recipe(args.recipe, args.set or ())
    if recipe.stage != args.stage:
        raise ConfigError(f"{args.recipe} is a {recipe.stage} recipe (stage = {recipe.stage!r}); "
                          f"run `evalkit train {recipe.stage} --recipe {args.recipe}`")
    config, store = open_project(args.config)
    parent = prepare_model(config, args.parent, store)
    folder = build_model(config, recipe, args.parent, parent, store, quiet=args.quiet, prepare=prepare_model)
    if not (folder / PROVENANCE).is_file():  # a non-main rank of `accelerate launch`: rank 0 reports
        return 0
    info = json.loads((folder / PROVENANCE).read_text(encoding="utf-8"))
    console = Console()
    console.print(f"[bold]{recipe.stage}[/] model: {folder}")
    if not STAGES[recipe.stage].trains:  # a merge: no data, no held-out measurement
        console.print(f"merged: {info['method_note']}; max logit distance to each input: "
                      + ", ".join(f"{i['name']} {i['max_logit_distance']:.3g}" for i in info["inputs"]))
        return 0
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

