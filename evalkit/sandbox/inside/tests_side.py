# ruff: noqa: F821 - encode, decode and NotPlain come from plain_data.py, prepended to this file
"""The tests' side of a tested run: the only process that decides pass or fail.

Runs in a sandbox of its own as `python -I -S -u -c <plain_data.py + this file>
VERDICT_FD CALLS_FD REPLIES_FD NAMES SITE_PACKAGES`, in its work dir
context.py (the task's trusted code prefix: helpers the tests use, such as
HumanEval's `poly` or `encode_cyclic`) and tests.py. Each of NAMES (the
entry point, or the functions MBPP's asserts call) is bound to a stand-in that sends each call's arguments, as plain data, to the
candidate's process and turns the reply back into plain data (or the builtin
exception it raised). The candidate's code never runs here, so what it returns
cannot compare equal to everything, patch sys.exit, trace the tests or write
the verdict; the verdict, one JSON line on VERDICT_FD, is written after the
tests ran to their end, and never once the candidate broke the protocol.
"""

MAX_REPLY_BYTES = 8 << 20
REASON_CHARS = 200


class CandidateBroken(BaseException):
    """Not an Exception: a test's `except Exception` must not swallow it."""


def _evalkit_tests_main():
    import json
    import os
    import sys

    verdict_fd, calls_fd, replies_fd, names, site_packages = sys.argv[1:6]
    sys.path.extend(entry for entry in site_packages.split(os.pathsep) if entry)
    link = _Link(os.fdopen(int(calls_fd), "wb", buffering=0), os.fdopen(int(replies_fd), "rb"), json)
    verdict = _run(link, names.split(","), sys)
    os.write(int(verdict_fd), json.dumps(verdict).encode())


def _run(link, names, sys):
    ready = link.receive()
    if ready.get("ready") is not True:
        reason = link.broken or f"the completion failed to load: {ready.get('load_error', 'an answer out of protocol')}"
        return {"passed": False, "reason": str(reason)[:REASON_CHARS]}
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    sys.modules["__main__"] = type(sys)("__main__")
    _run_context(namespace)
    for name in names:
        namespace[name] = link.stand_in(name)
    try:
        with open("tests.py", encoding="utf-8") as file:
            exec(compile(file.read(), "tests.py", "exec"), namespace)  # noqa: S102 - running it is the point
    except BaseException as error:  # noqa: BLE001 - SystemExit included: a test that leaves early fails
        return {"passed": False, "reason": link.broken or _describe(error)}
    if link.broken:  # swallowed by the tests: still a failure
        return {"passed": False, "reason": link.broken}
    if link.calls == 0:
        return {"passed": False, "reason": "the tests never called the candidate"}
    return {"passed": True, "reason": f"passed ({link.calls} calls)"}


def _run_context(namespace):
    """The task's code prefix, when it is a complete module on its own (a bare
    signature is not: its body is the completion's)."""
    with open("context.py", encoding="utf-8") as file:
        source = file.read()
    for text in (source, source + "    pass\n"):
        try:
            code = compile(text, "context.py", "exec")
        except SyntaxError:
            continue
        exec(code, namespace)  # noqa: S102 - running it is the point
        return


class _Link:
    """The stand-in for the candidate, and the pipe pair behind it."""

    def __init__(self, calls, replies, json):
        self.calls_pipe, self.replies, self.json = calls, replies, json
        self.broken, self.calls = "", 0

    def receive(self) -> dict:
        line = self.replies.readline(MAX_REPLY_BYTES + 1)
        if not line:
            return self._break("the candidate's process ended")
        if len(line) > MAX_REPLY_BYTES:
            return self._break(f"the candidate replied with more than {MAX_REPLY_BYTES} bytes")
        try:
            message = self.json.loads(line)
        except (ValueError, RecursionError):
            return self._break("the candidate replied with something that is not JSON")
        return message if type(message) is dict else self._break("the candidate replied out of protocol")

    def _break(self, reason: str) -> dict:
        self.broken = self.broken or f"{reason} (call {self.calls})"[:REASON_CHARS]
        return {}

    def stand_in(self, name: str):
        def candidate(*args, **kwargs):
            return self.call(name, args, kwargs)

        candidate.__name__ = candidate.__qualname__ = name
        return candidate

    def call(self, name: str, args: tuple, kwargs: dict):
        import os

        if self.broken:
            raise CandidateBroken(self.broken)
        self.calls += 1
        nonce = os.urandom(8).hex()  # a reply written ahead of its call cannot match
        request = {"id": nonce, "name": name, "args": encode(args), "kwargs": encode(kwargs)}
        self.calls_pipe.write(self.json.dumps(request).encode() + b"\n")
        reply = self.receive()
        if not self.broken and reply.get("id") != nonce:
            self._break("the candidate replied out of turn")
        if self.broken:
            raise CandidateBroken(self.broken)
        return self._answer(reply)

    def _answer(self, reply: dict):
        if "value" in reply:
            try:
                return decode(reply["value"])
            except (NotPlain, RecursionError) as error:
                self._break(f"the candidate returned {error}, not plain data")
        elif "not_plain" in reply:
            self._break(f"the candidate returned {str(reply['not_plain'])[:120]}, not plain data")
        elif type(reply.get("raised")) is list and len(reply["raised"]) == 2:
            raise _rebuilt(*(str(part) for part in reply["raised"]))
        else:
            self._break("the candidate replied out of protocol")
        raise CandidateBroken(self.broken)


def _rebuilt(name: str, message: str) -> BaseException:
    """The builtin exception the candidate raised, built here (so that a test's
    `except ValueError` still works); anything else becomes a RuntimeError."""
    import builtins

    kind = getattr(builtins, name, None)
    leaves = (SystemExit, KeyboardInterrupt, GeneratorExit)
    if not (isinstance(kind, type) and issubclass(kind, Exception)) or issubclass(kind, leaves):
        kind, message = RuntimeError, f"{name}: {message}"
    try:
        error = kind(message)
    except Exception:  # noqa: BLE001 - an exception type that needs other arguments
        error = RuntimeError(f"{name}: {message}")
    error.evalkit_from_candidate = True
    return error


def _describe(error: BaseException) -> str:
    line, trace = None, error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "tests.py":
            line = trace.tb_lineno
        trace = trace.tb_next
    try:
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    except Exception:  # noqa: BLE001
        text = type(error).__name__
    where = f" at line {line} of the tests" if line is not None else ""
    source = " (raised by the candidate)" if getattr(error, "evalkit_from_candidate", False) else ""
    return " ".join(f"{text[:REASON_CHARS - 60]}{where}{source}".split())


_evalkit_tests_main()
