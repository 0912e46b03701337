"""What each CLI command does: build the pieces from the config and call them."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.config import load_config
from evalkit.errors import ConfigError, EvalkitError


def _open(args):
    from evalkit.store import Store

    config = load_config(args.config)
    return config, Store(config.store)


def cmd_run(args) -> int:
    from evalkit import report, runner
    from evalkit.console import ConsoleUI
    from evalkit.summary import print_summary

    config, store = _open(args)
    names = [n.strip() for n in args.models.split(",")] if args.models else list(config.models)
    if not all(names):
        raise ConfigError(f"--models {args.models!r} has an empty name; use e.g. --models base,sft")
    for name in names:
        config.model(name)  # fail on a typo before any work starts
    from evalkit.parallel import world

    ui = ConsoleUI(quiet=args.quiet or not world().is_main)  # one progress display per launch, not one per rank
    run_id = runner.run(config, names, args.suite, store, ui)
    if run_id is None:  # a non-main rank of `accelerate launch`: its share is in the store, rank 0 reports
        return 0
    path = report.write(store, config.reports, run_id)
    print_summary(store, run_id, ui.console)
    ui.info(f"[bold]leaderboard:[/] {path}")
    return 0


def cmd_report(args) -> int:
    from evalkit import report

    config, store = _open(args)
    try:
        path = report.write(store, config.reports, args.run)
    except LookupError as err:
        raise EvalkitError(str(err)) from None
    print(path)
    return 0


def cmd_export(args) -> int:
    config, store = _open(args)
    run = store.run(args.run)
    if run is None:
        raise EvalkitError("no such run in the store; `evalkit runs` lists them")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = store.samples(run["id"])
    with out.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({"run": run["id"], **record}, ensure_ascii=False) + "\n")
    print(f"{len(records)} records → {out}")
    return 0


def cmd_runs(args) -> int:
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    config, store = _open(args)
    table = Table("run", "started", "status", "models", "suite")
    for run_id, started, status, cfg in store.db.execute("SELECT id, started, status, config FROM runs ORDER BY id"):
        cfg = json.loads(cfg)
        table.add_row(str(run_id), dt.datetime.fromtimestamp(started).strftime("%Y-%m-%d %H:%M"), status,
                      ",".join(cfg.get("models", [])), cfg.get("suite", ""))
    Console().print(table)
    return 0
