"""Untrusted code (HumanEval-style completions) run contained, with a verdict from outside it.

    execute.py     run_program / run_programs: the public entry, limits, outcomes
    launcher.py    the supervisor process (loaded by path, standard library only), and beside it
    namespaces.py, fs.py, processes.py, linux.py, program.py   what it builds the sandbox from
    verdict.py     the launcher's events → an Outcome
    watch.py       wall-clock and output caps from the caller's side
"""

from evalkit.sandbox.execute import (
    Limits,
    Outcome,
    containment_report,
    humaneval_program,
    run_program,
    run_programs,
)

__all__ = ["Limits", "Outcome", "containment_report", "humaneval_program", "run_program", "run_programs"]
