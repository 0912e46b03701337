"""A suite run: plan the tasks, prepare every model (building recipe candidates), evaluate each model
on each task through the cache, judge when the suite asks, and record the run's provenance.

    pipeline.py  plan_suite, evaluate_task, run
    cli.py       `evalkit run`
"""

from evalkit.run.pipeline import evaluate_task, plan_suite, run

__all__ = ["evaluate_task", "plan_suite", "run"]
