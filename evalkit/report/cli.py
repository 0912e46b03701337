"""`evalkit report`, `evalkit export` and `evalkit runs`: read the store, write nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from evalkit.errors import EvalkitError


def make_parser(commands) -> None:
    report = commands.add_parser("report", help="re-render reports/leaderboard.md from the store")
    report.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    report.add_argument("--slice-by", metavar="FIELD[,FIELD]", help="also show results per value of a row field "
                        "(subject, a tag) or bucket (prompt_length, answer_length), with paired comparisons per slice")
    report.set_defaults(handler=cmd_report)

    export = commands.add_parser("export", help="write per-sample records of a run as JSONL")
    export.add_argument("--run", type=int, help="run id (default: the latest finished run)")
    export.add_argument("--out", required=True, help="output .jsonl path")
    export.set_defaults(handler=cmd_export)

    runs = commands.add_parser("runs", help="list the runs in the store")
    runs.set_defaults(handler=cmd_runs)


def cmd_report(args) -> int:
    from evalkit.report import leaderboard, slices
    from evalkit.store import open_project

    config, store = open_project(args.config)
    try:
        path = leaderboard.write(store, config.reports, args.run, slices.parse_fields(args.slice_by))
    except LookupError as err:
        raise EvalkitError(str(err)) from None
    print(path)
    return 0


def cmd_export(args) -> int:
    from evalkit.report.board import missing_run_message
    from evalkit.store import open_project

    config, store = open_project(args.config)
    run = store.run(args.run)
    if run is None:
        raise EvalkitError(missing_run_message(store, args.run))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = store.samples(run["id"])
    tasks = run["provenance"].get("tasks", {})
    with out.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(export_record(run["id"], tasks.get(record["task"], {}).get("kind"), record),
                                    ensure_ascii=False) + "\n")
    print(f"{len(records)} records → {out}")
    return 0


def export_record(run_id: int, kind: str | None, record: dict) -> dict:
    """One JSONL line: the record with its run and task kind, and what the kind adds (a perplexity record
    names its scored document and its counts)."""
    from evalkit.kinds import KINDS

    extra = KINDS[kind].export_fields(record) if kind in KINDS else {}
    return {"run": run_id, "kind": kind, **record, **extra}


def cmd_runs(args) -> int:
    import datetime as dt

    from rich.console import Console
    from rich.table import Table

    from evalkit.store import open_project

    config, store = open_project(args.config)
    # status as it is now: a run whose process died without saying so reads `interrupted`, not `running`
    table = Table("run", "started", "status", "models", "suite")
    for run in store.list_runs():
        table.add_row(str(run["id"]), dt.datetime.fromtimestamp(run["started"]).strftime("%Y-%m-%d %H:%M"),
                      run["status"], ",".join(run["config"].get("models", [])), run["config"].get("suite", ""))
    Console().print(table)
    return 0
