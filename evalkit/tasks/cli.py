"""`evalkit tasks`: every task evalkit can find, with the items each of its sources holds on this machine."""

from __future__ import annotations

import sys
from pathlib import Path

SOURCE_LABELS = {"data_dir": "data dir", "package": "package", "file": "file", "hub": "hub"}


def make_parser(commands) -> None:
    tasks = commands.add_parser("tasks", help="list the tasks: built-in, the project's and files given")
    tasks.add_argument("files", nargs="*", metavar="TASK.toml", help="also describe these task files")
    tasks.add_argument("--no-count", action="store_true", help="do not read the data to count items (faster)")
    tasks.add_argument("--lm-eval", action="store_true",
                       help="list lm-evaluation-harness's task configs (run them as --tasks lm_eval:NAME) and "
                            "whether evalkit can run each; needs the optional extra evalkit[lmeval]")
    tasks.set_defaults(handler=cmd_tasks)


def cmd_tasks(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from evalkit.project import load_project
    from evalkit.tasks.formats import takes
    from evalkit.tasks.loading import BUILTIN_TASKS, known_tasks, load_task

    if args.lm_eval:
        return cmd_lm_eval_tasks()
    config = load_project(args.config)
    search = [config.root / "tasks", BUILTIN_TASKS]
    entries = [(name, "project" if (config.root / "tasks" / f"{name}.toml").is_file() else "built-in")
               for name in known_tasks(search)] + [(str(Path(f)), "file") for f in args.files]
    table = Table("task", "kind", "from", "items on this machine", "metrics", "formats (--formats)", "description",
                  show_lines=True)
    for entry, origin in entries:
        task = load_task(entry, search)
        table.add_row(task.name, task.kind, origin, availability(task, count=not args.no_count),
                      ", ".join(metric_names(task)), ", ".join(takes(task)) or "–", task.description)
    Console(width=None if sys.stdout.isatty() else 200).print(table)  # a pipe or log gets whole cells
    return 0


def cmd_lm_eval_tasks() -> int:
    """One line per config of the installed lm-eval, then the share evalkit runs per output type."""
    from collections import Counter

    from evalkit.kinds.lm_eval_tasks import catalogue

    rows = catalogue()
    for row in rows:
        print("\t".join([row["name"], row["type"], row["output_type"] or "-", row["dataset"] or "-", row["runs"]]))
    tasks = [r for r in rows if r["type"] != "group" and r["type"] != "tag"]
    total, runs = Counter(r["output_type"] for r in tasks), Counter()
    for r in tasks:
        runs[r["output_type"]] += r["runs"].startswith("yes")
    print(f"\n{len(tasks)} task configs, {sum(r['type'] == 'group' for r in rows)} groups, "
          f"{sum(r['type'] == 'tag' for r in rows)} tags; evalkit runs (up to the data):")
    for output, count in total.most_common():
        print(f"  {output}: {runs[output]} of {count} ({runs[output] / count:.1%})")
    return 0


def metric_names(task) -> list[str]:
    return task.handler.reported_metrics(task)


def availability(task, count: bool) -> str:
    """One line per source, in the order a run tries them."""
    from evalkit.data.sources import data_dir, hub_reachable, load_rows, locate

    lines = []
    for source in task.sources:
        label = SOURCE_LABELS[source.kind]
        if source.kind == "hub":
            state = "reachable" if hub_reachable() else "offline here"
            lines.append(f"{label}: {source.dataset} ({state})")
            continue
        path = locate(source, task.path.parent)
        if path is None:
            missing = "EVALKIT_DATA_DIR not set" if source.kind == "data_dir" and data_dir() is None else "not here"
            lines.append(f"{label}: {missing}")
        elif not count:
            lines.append(f"{label}: {path}")
        else:
            rows, _ = load_rows([source], task.path.parent, task.name)
            lines.append(f"{label}: {len(rows):,} items")
    return "\n".join(lines)
