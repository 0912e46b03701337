"""How much of lm-eval's catalogue evalkit's lm_eval kind can run, measured without any data.

For every task config the installed lm-eval indexes: lm-eval's own config build up to the data
(its YAML with includes, `!function` hooks imported, TaskConfig), then evalkit's check of the
output type and modality. Prints the share per output type and the reasons for the rest.

    .venv/bin/python bench/lmeval_coverage.py
"""

from __future__ import annotations

import logging
from collections import Counter

from evalkit.kinds.lm_eval_tasks import DEFAULT_OUTPUT_TYPE, runnable, task_manager


def main() -> None:
    from lm_eval.config.task import TaskConfig
    from lm_eval.tasks._index import Kind

    logging.disable(logging.WARNING)
    manager = task_manager((), True)
    total, runs, reasons = Counter(), Counter(), Counter()
    for name in manager.all_subtasks:
        entry = manager.task_index[name]
        try:
            config = manager._factory._load_full_config(entry, None)  # lm-eval's build, functions resolved
            for key in ("tag", "group", "task_list"):
                config.pop(key, None)
            output = TaskConfig(**config).output_type if entry.kind is not Kind.PY_TASK else "(python class)"
            verdict = runnable({"output_type": DEFAULT_OUTPUT_TYPE, **config}, entry.kind is Kind.PY_TASK)
        except (Exception, SystemExit) as err:  # one task's helper module calls sys.exit when a tool is missing
            output = (entry.cfg or {}).get("output_type", DEFAULT_OUTPUT_TYPE)
            verdict = f"no: lm-eval cannot build its config ({type(err).__name__})"
        total[output] += 1
        runs[output] += verdict.startswith("yes")
        if not verdict.startswith("yes"):
            reasons[verdict] += 1
    for output, count in total.most_common():
        print(f"{output}: {runs[output]} of {count} ({runs[output] / count:.1%})")
    for reason, count in reasons.most_common():
        print(f"  {count:5d}  {reason}")


if __name__ == "__main__":
    main()
