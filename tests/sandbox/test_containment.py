"""The sandbox against hostile programs: each is contained, recorded as a failure
with its reason, and leaves the host as it was (files, secrets, processes,
listening sockets, this test process)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from evalkit.sandbox import execute as sandbox
from evalkit.sandbox.execute import Limits, Outcome, run_program, run_programs
from evalkit.sandbox.verdict import parse_traceback

LIMITS = Limits(
    cpu_seconds=1, wall_seconds=2, memory_mb=128, file_size_mb=1, max_processes=16, output_bytes=20_000
)
# A busy machine may let the wall clock run out before 1 s of CPU is spent:
# either limit contains the program. test_cpu_limit pins the CPU limit down.
CPU_OR_WALL = r"(CPU-time limit 1s|wall-clock limit 2s) exceeded"
MEMORY_BOMB = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 2**20))\n"
SECRET = "sk-evalkit-test-" + uuid.uuid4().hex
# Every hostile program renames itself (and so its children) to a token, so that
# leftovers can be found in /proc after the run.
PRELUDE = "import ctypes\nctypes.CDLL(None).prctl(15, b'__TOKEN__', 0, 0, 0)\n"
FALLBACKS = {"root_namespaces": ("user_namespace",), "plain": ("namespaces",)}
NOBODY = 65534


@dataclass(frozen=True)
class Hostile:
    name: str
    source: str
    statuses: tuple[str, ...]
    reason: str  # a regex the recorded reason must match
    # Contained without namespaces: "always", "as_root" (uid 65534 cannot reach
    # the caller's processes) or "never" (disk quota, private /tmp); the
    # mechanisms report says so.
    without_namespaces: str = "always"


HOSTILE = [
    Hostile("infinite_loop", "while True:\n    pass\n", ("timeout",), CPU_OR_WALL),
    Hostile("sleep_forever", "import time\nwhile True:\n    time.sleep(0.1)\n", ("timeout",), r"wall-clock limit 2s"),
    # Whether the first process to hit the limit is the program itself or one
    # of its copies is a race; either way it ends within the limits.
    Hostile(
        "fork_bomb",
        "import os\nwhile True:\n    os.fork()\n",
        ("process_limit", "timeout"),
        r"(BlockingIOError.*process limit 16|wall-clock limit 2s)",
    ),
    Hostile(
        "quiet_fork_bomb",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n",
        ("timeout",),
        r"(wall-clock|CPU-time) limit",
    ),
    Hostile(
        "memory_bomb",
        MEMORY_BOMB,
        ("memory", "timeout"),  # filling 128 MB can take 2 s on a busy machine: test_memory_limit pins it
        r"(MemoryError at line \d+ \(address-space limit 128 MB\)|wall-clock limit 2s)",
    ),
    Hostile("huge_stdout", "while True:\n    print('x' * 1000)\n", ("output_limit",), r"output limit of 20000 bytes"),
    Hostile(
        "huge_stderr", "import sys\nwhile True:\n    sys.stderr.write('y' * 1000)\n", ("output_limit",), r"output limit"
    ),
    Hostile(
        "huge_file",
        "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'z' * 65536)\n",
        ("file_limit",),
        r"File too large.*file-size limit 1 MB",
    ),
    Hostile(
        "fill_the_disk",
        "i = 0\nwhile True:\n    open(f'f{i}', 'wb').write(b'z' * (2**20 - 1))\n    i += 1\n",
        ("file_limit",),
        r"No space left on device at line \d+ \(the work dir's size limit\)",
        without_namespaces="never",
    ),
    Hostile(
        "delete_outside",
        "import os, shutil\nos.remove('__SENTINEL__')\nshutil.rmtree(os.path.dirname('__SENTINEL__'))\n",
        ("failed",),
        r"(FileNotFoundError|PermissionError)",
    ),
    Hostile("overwrite_outside", "open('__SENTINEL__', 'w').write('pwned')\n", ("failed",), r"(FileNotFound|Permission)Error"),
    Hostile(
        "write_into_repo",
        "open('__REPO_FILE__', 'w').write('pwned')\n",
        ("failed",),
        # a checkout under /tmp is not even visible: the sandbox's /tmp is its own tmpfs
        r"(Read-only file system|Permission denied|No such file or directory)",
    ),
    Hostile(
        "write_world_writable_tmp",
        "open('/tmp/../tmp/../var/tmp/evalkit-__TOKEN__', 'w').write('pwned')\n",
        ("failed",),
        r"(Read-only file system|Permission denied|No such file or directory)",
        without_namespaces="never",
    ),
    Hostile("read_api_key", "import os\nprint(os.environ['OPENAI_API_KEY'])\n", ("failed",), r"KeyError: 'OPENAI_API_KEY'"),
    Hostile(
        "scan_proc_environ",
        "import os\nfound = []\nfor pid in filter(str.isdigit, os.listdir('/proc')):\n"
        "    try:\n        data = open(f'/proc/{pid}/environ', 'rb').read()\n    except OSError:\n        continue\n"
        "    if b'OPENAI' in data:\n        found.append(data.decode(errors='replace'))\n"
        "raise SystemExit(f'found: {found}')\n",
        ("failed",),
        r"exit status 1: found: \[\]",
        without_namespaces="as_root",
    ),
    Hostile("read_ssh_key", "print(open('__SSH_KEY__').read())\n", ("failed",), r"(FileNotFound|Permission)Error"),
    Hostile(
        "list_host_home",
        "import os\nraise SystemExit(f'home: {sorted(os.listdir(\"__HOME__\"))}')\n",
        ("failed",),
        # with namespaces: absent, or holding only the path to the interpreter (test_home_directory_is_hidden)
        r"(exit status 1: home:|PermissionError|FileNotFoundError)",
    ),
    Hostile(
        "connect_to_host",
        "import socket\nsocket.create_connection(('127.0.0.1', __PORT__), timeout=2).sendall(b'pwned')\n",
        ("failed",),
        r"(Network is unreachable|Connection refused|network access is blocked)",
    ),
    Hostile(
        "connect_out",
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n",
        ("failed",),
        r"(Network is unreachable|network access is blocked)",
    ),
    Hostile(
        "kill_parent",
        "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(0.3)\n"
        "assert False, 'still running after killing its parent'\n",
        ("failed", "killed"),
        r"(AssertionError: still running|PermissionError|supervisor killed)",
    ),
    Hostile(
        "kill_host",
        "import os, signal\nos.kill(__HOST_PID__, signal.SIGKILL)\n",
        ("failed",),
        r"(ProcessLookupError|PermissionError)",
    ),
    Hostile("os_exit_zero", "import os\nos._exit(0)\nassert False\n", ("failed",), r"before the end of the program"),
    Hostile("sys_exit_zero", "import sys\nsys.exit(0)\nassert False\n", ("failed",), r"before the end of the program"),
    Hostile(
        "ignore_signals",
        "import signal\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n",
        ("timeout",),
        CPU_OR_WALL,
    ),
    Hostile(
        "ignore_signals_asleep",
        "import signal, time\nfor s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
        "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    time.sleep(0.1)\n",
        ("timeout",),
        r"wall-clock limit 2s exceeded",
    ),
    Hostile(
        "detached_daemon",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n"
        "    os._exit(0)\ntime.sleep(0.3)\n",
        ("failed",),
        r"left \d+ process\(es\) running",
    ),
]
# Kills every process it may signal: run alone, never beside other sandboxes.
KILL_EVERYTHING = Hostile(
    "kill_everything",
    "import os, signal\ntry:\n    os.kill(-1, signal.SIGKILL)\nexcept ProcessLookupError:  # nothing it may signal\n"
    "    pass\nos.killpg(0, signal.SIGKILL)\n",
    ("killed",),
    r"killed by signal 9 \(SIGKILL\)",
    without_namespaces="as_root",
)


@pytest.fixture
def host(tmp_path, monkeypatch):
    """What a hostile program would go after: a user file, an SSH key, an API key,
    a listening socket, this process; and a way to check they are untouched."""
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    fake_home = tmp_path / "home"
    (fake_home / ".ssh").mkdir(parents=True)
    (fake_home / ".ssh" / "id_rsa").write_text("-----BEGIN PRIVATE KEY----- " + SECRET)
    sentinel = tmp_path / "user_files" / "thesis.txt"
    sentinel.parent.mkdir()
    sentinel.write_text("precious")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    state = HostState(sentinel, fake_home, listener, str(Path(__file__).parent / f"pwned-{uuid.uuid4().hex}"))
    yield state
    listener.close()


@dataclass
class HostState:
    sentinel: Path
    fake_home: Path
    listener: socket.socket
    repo_file: str

    def program(self, case: Hostile, token: str) -> str:
        replacements = {
            "__TOKEN__": token,
            "__SENTINEL__": str(self.sentinel),
            "__REPO_FILE__": self.repo_file,
            "__SSH_KEY__": str(self.fake_home / ".ssh" / "id_rsa"),
            "__HOME__": os.path.expanduser("~"),
            "__PORT__": str(self.listener.getsockname()[1]),
            "__HOST_PID__": str(os.getpid()),
        }
        source = PRELUDE + case.source
        for placeholder, value in replacements.items():
            source = source.replace(placeholder, value)
        return source

    def assert_intact(self, outcome: Outcome, token: str, name: str) -> None:
        assert self.sentinel.read_text() == "precious"
        assert not os.path.exists(self.repo_file), "a sandboxed program wrote into the repository"
        assert not os.path.exists(f"/var/tmp/evalkit-{token}")
        assert SECRET not in outcome.stdout_tail + outcome.stderr_tail
        with pytest.raises(BlockingIOError):
            self.listener.accept()
        assert processes_named(token) == [], f"{name}: processes outlived the sandbox: {processes_named(token)}"


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


def new_token() -> str:
    return "evk" + uuid.uuid4().hex[:11]  # /proc/PID/comm keeps 15 characters


def assert_contained(host: HostState, case: Hostile, outcome: Outcome, token: str) -> None:
    assert not outcome.passed, f"{case.name} passed: {outcome}"
    assert outcome.status in case.statuses, f"{case.name}: {outcome.status}: {outcome.reason}"
    assert re.search(case.reason, outcome.reason), f"{case.name}: reason {outcome.reason!r}"
    assert "\n" not in outcome.reason
    host.assert_intact(outcome, token, case.name)


@pytest.mark.parametrize("case", [*HOSTILE, KILL_EVERYTHING], ids=lambda case: case.name)
def test_hostile_program_is_contained_and_recorded(host, case):
    token = new_token()
    outcome = run_program(host.program(case, token), LIMITS)
    assert_contained(host, case, outcome, token)
    assert outcome.duration_s < LIMITS.wall_seconds + 2


def contained_here(case: Hostile, disable: tuple[str, ...], root: bool) -> bool:
    if "namespaces" not in disable and not (disable and not root):
        return True
    return case.without_namespaces == "always" or (case.without_namespaces == "as_root" and root)


def run_suite(host: HostState, cases: list[Hostile], disable: tuple[str, ...]) -> list[tuple[Hostile, Outcome, str]]:
    """Two at a time, like run_programs; kill_everything alone, after the rest."""

    def run(case: Hostile) -> tuple[Hostile, Outcome, str]:
        token = new_token()
        return case, sandbox._run(host.program(case, token), LIMITS, disable)[0], token

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(run, [case for case in cases if case is not KILL_EVERYTHING]))
    return results + [run(case) for case in cases if case is KILL_EVERYTHING]


@pytest.mark.parametrize("mode", sorted(FALLBACKS))
def test_fallback_modes_contain_the_hostile_suite(host, mode):
    """Where namespaces (or user namespaces) are missing the weaker mechanisms
    must still contain every program whose containment they promise."""
    disable = FALLBACKS[mode]
    probe, mechanisms = sandbox._run("pass\n", LIMITS, disable)
    if probe.status == "sandbox_error" and "cannot run" in probe.reason:
        pytest.skip(f"{mode}: {probe.reason}")
    assert probe.passed, probe
    assert "weaker" in " ".join(mechanisms.values()), f"{mode} does not say what it lacks: {mechanisms}"
    root = os.geteuid() == 0
    cases = [case for case in [*HOSTILE, KILL_EVERYTHING] if contained_here(case, disable, root)]
    for case, outcome, token in run_suite(host, cases, disable):
        assert_contained(host, case, outcome, token)


# Runs the suite as an ordinary user: imports evalkit.sandbox.execute from the checkout
# (it needs only the standard library) and prints the outcomes as JSON.
AS_USER_DRIVER = """
import dataclasses, json, sys
from concurrent.futures import ThreadPoolExecutor
sys.path.insert(0, sys.argv[1])
from evalkit.sandbox import execute as sandbox
request = json.load(sys.stdin)
limits, disable = sandbox.Limits(**request["limits"]), request["disable"]
run = lambda source: dataclasses.asdict(sandbox._run(source, limits, disable)[0])
with ThreadPoolExecutor(max_workers=2) as pool:
    outcomes = list(pool.map(run, request["parallel"]))
json.dump(outcomes + [run(source) for source in request["alone"]], sys.stdout)
"""


def python_for_uid(uid: int) -> str | None:
    """An interpreter (3.10+) that `uid` may run: the sandbox itself needs no packages."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; assert sys.version_info >= (3, 10)"],
                user=uid, group=uid, extra_groups=[], capture_output=True, timeout=30, env={}, cwd="/",
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return candidate
    return None


@pytest.mark.parametrize("mode", ["user_namespace", "plain"])
def test_hostile_suite_as_an_ordinary_user(host, mode):
    """Users run evalkit without root: the same suite through a user namespace,
    and through the plain fallback for what it promises."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become an ordinary user; the other tests already run as one")
    python = python_for_uid(NOBODY)
    repo = str(Path(__file__).resolve().parents[2])
    if python is None:
        pytest.skip(f"no Python 3.10+ that uid {NOBODY} may run")
    disable = () if mode == "user_namespace" else ("namespaces",)
    cases = [case for case in HOSTILE if contained_here(case, disable, root=False)]
    alone = [KILL_EVERYTHING] if contained_here(KILL_EVERYTHING, disable, root=False) else []
    tokens = [new_token() for _ in cases + alone]
    request = {
        "limits": dataclasses.asdict(LIMITS),
        "disable": list(disable),
        "parallel": [host.program(case, token) for case, token in zip(cases, tokens)],
        "alone": [host.program(case, token) for case, token in zip(alone, tokens[len(cases) :])],
    }
    env = {"PATH": "/usr/bin:/bin", "OPENAI_API_KEY": SECRET, "HOME": str(host.fake_home)}
    driver = subprocess.run(
        [python, "-c", AS_USER_DRIVER, repo], input=json.dumps(request), capture_output=True, text=True,
        user=NOBODY, group=NOBODY, extra_groups=[], env=env, cwd="/", timeout=120,
    )
    if driver.returncode != 0 and "Permission denied" in driver.stderr and repo in driver.stderr:
        pytest.skip(f"uid {NOBODY} cannot read the checkout at {repo}")
    assert driver.returncode == 0, driver.stderr
    for case, fields, token in zip(cases + alone, json.loads(driver.stdout), tokens):
        assert_contained(host, case, Outcome(**fields), token)


def test_home_directory_is_hidden(host):
    """Nothing of the caller's home is visible except the interpreter's own directories."""
    case = next(case for case in HOSTILE if case.name == "list_host_home")
    outcome = run_program(host.program(case, new_token()), LIMITS)
    home = os.path.expanduser("~")
    interpreter = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix)]
    for entry in os.listdir(home):
        if not any(path.startswith(os.path.join(home, entry)) for path in interpreter):
            assert f"'{entry}'" not in outcome.reason, f"{entry} of {home} is visible: {outcome.reason}"


def test_a_correct_program_passes_and_keeps_its_output():
    outcome = run_program("import math\nprint(math.factorial(10))\n", LIMITS)
    assert (outcome.passed, outcome.status, outcome.exit_code) == (True, "passed", 0)
    assert outcome.stdout_tail == "3628800\n"


def test_a_failing_assertion_is_recorded_with_its_line():
    outcome = run_program("x = 1\n\nassert x == 2, f'x is {x}'\n", LIMITS)
    assert (outcome.passed, outcome.status, outcome.exit_code) == (False, "failed", 1)
    assert outcome.reason == "AssertionError: x is 1 at line 3"
    assert outcome.stderr_tail.startswith("Traceback (most recent call last):\n  File \"program.py\", line 3")


def test_cpu_limit():
    outcome = run_program("while True:\n    pass\n", Limits(cpu_seconds=1, wall_seconds=30))
    assert (outcome.status, outcome.reason) == ("timeout", "CPU-time limit 1s exceeded")
    assert outcome.duration_s < 10


def test_memory_limit():
    outcome = run_program(MEMORY_BOMB, Limits(memory_mb=128, wall_seconds=30))
    assert (outcome.status, outcome.reason) == ("memory", "MemoryError at line 3 (address-space limit 128 MB)")


def test_programs_can_use_their_work_dir_and_subprocesses():
    source = (
        "import subprocess, sys, os\nopen('data.txt', 'w').write('ok')\n"
        "out = subprocess.run([sys.executable, '-c', 'print(open(\"data.txt\").read())'], capture_output=True, text=True)\n"
        "assert out.stdout.strip() == 'ok', out\nassert os.environ['HOME'] == os.getcwd()\n"
    )
    outcome = run_program(source, LIMITS)
    assert outcome.passed, outcome


def test_run_programs_keeps_order_reports_progress_and_isolates_process_counts():
    """A fork bomb in one sandbox must not stop its neighbour from starting processes."""
    if "shared" in sandbox.containment_report()["processes"]:
        pytest.skip("process counts are shared between sandboxes here (no user namespaces)")
    forks = (
        "import os, time\nkids = []\nfor _ in range(8):\n    kid = os.fork()\n    if kid == 0:\n"
        "        time.sleep(0.5)\n        os._exit(0)\n    kids.append(kid)\nfor kid in kids:\n    os.waitpid(kid, 0)\n"
    )
    bomb = next(case for case in HOSTILE if case.name == "quiet_fork_bomb").source
    seen: list[int] = []
    outcomes = run_programs([bomb, forks, "print(1)\n", "assert False\n"], LIMITS, workers=2, progress=seen.append)
    assert [o.status for o in outcomes] == ["timeout", "passed", "passed", "failed"]
    assert sorted(seen) == [1, 2, 3, 4]


def test_containment_report_names_every_mechanism():
    report = sandbox.containment_report()
    assert "error" not in report, report
    for key in ("user", "network", "pids", "filesystem", "processes", "memory", "environment", "wall_clock"):
        assert report[key], key


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        ('Traceback (most recent call last):\n  File "program.py", line 7, in f\nValueError: bad\n', ("ValueError: bad", 7)),
        ("Traceback (most recent call last):\n  File \"program.py\", line 2\nKeyError: 'k'\n", ("KeyError: 'k'", 2)),
        ("some noise\n", (None, None)),
        (  # a forked copy's traceback interleaved with the program's own
            'Traceback (most recent call last):\nTraceback (most recent call last):\n  File "program.py", line 3, in <module>\n'
            "BlockingIOError: [Errno 11] Resource temporarily unavailable\nTraceback (most recent call last):\n",
            ("BlockingIOError: [Errno 11] Resource temporarily unavailable", 3),
        ),
    ],
)
def test_parse_traceback(stderr, expected):
    assert parse_traceback(stderr) == expected


def test_workers_fit_the_memory_of_the_machine():
    assert 1 <= sandbox.default_workers(LIMITS) <= (os.cpu_count() or 1)
    assert sandbox.default_workers(Limits(memory_mb=10**9)) == 1
