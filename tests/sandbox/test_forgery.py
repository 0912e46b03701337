"""Completions that try to be scored as a pass without solving the problem.

Each is a tested run (tests and candidate in separate sandboxes): every one
must be recorded as a failure with its reason, the run goes on, the reason is
bounded, and nothing of it is left running."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from evalkit.sandbox.execute import CodeTest, Limits, humaneval_test, run_test, run_tests
from evalkit.sandbox.verdict import REASON_CHARS

LIMITS = Limits(cpu_seconds=2, wall_seconds=4, memory_mb=256, max_processes=16)
PROMPT = "def add(a, b):\n    \"\"\"The sum of a and b.\"\"\"\n"
TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -4) == 6\n"
FORGE_FDS = (
    "import os\nfor fd in range(3, 64):\n    for text in (b'finished', b'{\"passed\": true, \"reason\": \"passed\"}\\n'):\n"
    "        try:\n            os.write(fd, text)\n        except OSError:\n            pass\n"
)
# (name, completion, what the recorded reason must say); none of them adds numbers.
FORGERIES = [
    ("sys_exit_zero_at_load", "    pass\nimport sys\nsys.exit(0)\n", r"failed to load: SystemExit"),
    ("os_exit_zero_at_load", "    pass\nimport os\nos._exit(0)\n", r"process ended"),
    ("exit_zero_inside_the_call", "    import os\n    os._exit(0)\n", r"process ended"),
    ("raise_system_exit_in_the_call", "    raise SystemExit(0)\n", r"RuntimeError: SystemExit"),
    ("patch_sys_exit_and_assert", "    return 0\nimport sys, builtins\nsys.exit = lambda *a: None\n"
     "builtins.AssertionError = type('AssertionError', (Exception,), {})\n", r"AssertionError at line 2 of the tests"),
    ("equal_to_everything", "    class Anything:\n        def __eq__(self, other):\n            return True\n"
     "    return Anything()\n", r"Anything, not plain data"),
    ("int_subclass_equal_to_everything", "    class Int(int):\n        def __eq__(self, other):\n"
     "            return True\n    return Int(0)\n", r"Int, not plain data"),
    ("write_the_marker_on_every_descriptor", "    return 0\n" + FORGE_FDS, r"(not JSON|AssertionError at line 2)"),
    ("write_the_marker_from_the_call", "    " + FORGE_FDS.replace("\n", "\n    ").rstrip() + "\n    return 0\n",
     r"(not JSON|AssertionError at line 2)"),
    ("replies_written_ahead", "    return 0\nimport os, json\nfor _ in range(50):\n"
     "    os.write(5, json.dumps({'id': '0' * 16, 'value': 5}).encode() + b'\\n')\n", r"out of (turn|protocol)"),
    ("reply_out_of_protocol", "    import os\n    os.write(5, b'[1, 2]\\n')\n    os.write(5, b'{}\\n')\n    return 0\n",
     r"(out of protocol|out of turn)"),
    ("trace_and_profile_hooks", "    return 0\nimport sys, threading\nhook = lambda *a: hook\nsys.settrace(hook)\n"
     "sys.setprofile(hook)\nthreading.settrace(hook)\n", r"AssertionError at line 2"),
    ("find_the_tests_in_memory", "    import gc\n    for thing in gc.get_objects():\n"
     "        if getattr(thing, '__name__', '') == 'check':\n            thing.__code__ = (lambda c: None).__code__\n"
     "    return 0\n", r"AssertionError at line 2"),
    ("write_through_proc_fds", "    import os\n    for pid in filter(str.isdigit, os.listdir('/proc')):\n"
     "        for fd in range(64):\n            try:\n"
     "                with open(f'/proc/{pid}/fd/{fd}', 'w') as f:\n                    f.write('{\"passed\": true}')\n"
     "            except OSError:\n                pass\n    return 0\n", r"AssertionError at line 2"),
    ("kill_every_process_it_can", "    import os, signal\n    try:\n        os.kill(-1, signal.SIGKILL)\n"
     "    except ProcessLookupError:  # nothing else it may signal\n        pass\n    os.killpg(0, signal.SIGKILL)\n",
     r"process ended"),
    ("a_generator", "    yield a + b\n", r"generator, not plain data"),
    ("too_deep", "    value = 5\n    for _ in range(500):\n        value = [value]\n    return value\n",
     r"nested deeper than 64"),
    ("huge_reply", "    return 'x' * (9 << 20)\n", r"more than 8388608 bytes"),
    ("lingers_after_the_tests", "    return a + b\nimport threading, time\n"
     "threading.Thread(target=lambda: time.sleep(60)).start()\n", r"kept running after the tests ended"),
]


def prelude(token: str) -> str:
    """Names the candidate's process (and its children) after a token, to find leftovers in /proc."""
    return f"import ctypes\nctypes.CDLL(None).prctl(15, b'{token}', 0, 0, 0)\n"


def processes_named(token: str) -> list[int]:
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/comm") as file:
                if file.read().strip() == token:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def forged(completion: str, token: str) -> CodeTest:
    test = humaneval_test(PROMPT, completion, TEST, "add")
    return CodeTest(prelude(token) + test.candidate, test.tests, test.functions, test.context)


def test_every_forgery_is_a_failure_with_its_reason():
    tokens = ["evf" + uuid.uuid4().hex[:11] for _ in FORGERIES]
    tests = [forged(completion, token) for (_, completion, _), token in zip(FORGERIES, tokens)]
    right = forged("    return a + b\n", "evf" + uuid.uuid4().hex[:11])
    outcomes = run_tests([*tests, right], LIMITS)  # the run goes on after each
    wrong = [(name, outcome.passed, outcome.status, outcome.reason)
             for (name, _, reason), outcome in zip(FORGERIES, outcomes)
             if outcome.passed or outcome.status != "failed" or not re.search(reason, outcome.reason)]
    assert wrong == []
    for (name, _, _), outcome, token in zip(FORGERIES, outcomes, tokens):
        assert len(outcome.reason) <= REASON_CHARS and "\n" not in outcome.reason
        assert processes_named(token) == [], f"{name} left processes running"
    assert outcomes[-1].passed, outcomes[-1]


def test_a_test_that_swallows_exceptions_still_fails_a_broken_candidate():
    tests = "try:\n    add(1, 2)\nexcept Exception:\n    pass\nassert True\n"
    outcome = run_test(CodeTest("def add(a, b):\n    return object()\n", tests, ("add",)), LIMITS)
    assert (outcome.passed, outcome.status) == (False, "failed")
    assert "not plain data" in outcome.reason


def test_builtin_exceptions_cross_so_tests_can_expect_them():
    tests = "try:\n    inverse(0)\nexcept ZeroDivisionError:\n    pass\nelse:\n    raise AssertionError('no error')\n"
    outcome = run_test(CodeTest("def inverse(x):\n    return 1 / x\n", tests, ("inverse",)), LIMITS)
    assert outcome.passed, outcome


@pytest.mark.parametrize(
    "value", ["(1, 'a', None)", "{'k': [1.5, {2, 3}], 4: b'xy'}", "frozenset({1})", "complex(1, -2)", "float('inf')",
              "2 ** 100", "True"],
)
def test_plain_values_keep_their_type_across(value):
    tests = f"expected = {value}\nresult = same()\nassert result == expected and type(result) is type(expected)\n"
    outcome = run_test(CodeTest(f"def same():\n    return {value}\n", tests, ("same",)), LIMITS)
    assert outcome.passed, outcome
