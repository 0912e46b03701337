"""Untrusted code (HumanEval/MBPP completions) run contained, with a verdict from outside it.

    execute.py     run_test(s) (scores: tests and candidate in separate sandboxes),
                   run_program(s) (containment only), limits, outcomes
    code_tests.py  CodeTest: candidate, tests, the functions they call, trusted context
    host.py        the host's side of one run: launcher, memory cgroup (cgroup.py), clean-up
    launcher.py    the supervisor process (loaded by path, standard library only), and beside it
    tested.py, namespaces.py, fs.py, processes.py, linux.py, program.py, mechanisms.py
                   what it builds the sandboxes from
    inside/        what runs in the sandboxes: the two sides of a tested run (tests_side.py,
                   candidate_side.py), each joined with plain_data.py and run as `python -c` text
    verdict.py     the launcher's events → an Outcome
    watch.py       wall-clock and output caps from the caller's side
See docs/sandbox.md for what is contained, by which mechanism, and what is not.
"""

from evalkit.sandbox.execute import (
    CodeTest,
    Limits,
    Outcome,
    assert_test,
    containment_report,
    humaneval_test,
    run_program,
    run_programs,
    run_test,
    run_tests,
)

__all__ = ["CodeTest", "Limits", "Outcome", "assert_test", "containment_report", "humaneval_test", "run_program",
           "run_programs", "run_test", "run_tests"]
