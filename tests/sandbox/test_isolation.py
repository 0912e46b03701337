"""Deny by default: a candidate sees nothing of the machine it does not need.

Planted on the host: a world-readable secret file in the project, a listening
world-writable unix socket beside it that answers with a secret, a key in this
process's session keyring. Each escape is a failure with its reason, no byte of
a secret reaches the records the store keeps, and nothing is left behind
(keys, SysV shared memory, cgroups)."""

from __future__ import annotations

import ctypes
import json
import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from evalkit.config import TaskOptions
from evalkit.kinds import code
from evalkit.sandbox.execute import CodeTest, Limits, containment_report, run_tests
from evalkit.tasks.loading import load_task
from evalkit.types import Generation
from evalkit.sandbox.verdict import REASON_CHARS

LIMITS = Limits(cpu_seconds=3, wall_seconds=6, memory_mb=128, max_processes=16)
REPO = Path(__file__).resolve().parents[2]
SECRET = "evk-secret-" + uuid.uuid4().hex
SYSCALLS = {"x86_64": {"add_key": 248, "keyctl": 250}, "aarch64": {"add_key": 217, "keyctl": 219}}
TESTS = "assert leak() == 'nothing'\n"


def leak_test(body: str) -> CodeTest:
    """A candidate whose leak() tries to read a secret and put it in its failure reason."""
    return CodeTest("def leak():\n" + body, TESTS, ("leak",))


@pytest.fixture
def planted(tmp_path):
    """A secret file and a unix socket inside the project, where a /tmp checkout would not be."""
    folder = Path(__file__).parent / f".planted-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    secret_file = folder / "secret.txt"
    secret_file.write_text(SECRET)
    os.chmod(folder, 0o755)
    os.chmod(secret_file, 0o644)
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(folder / "s.sock"))
    os.chmod(folder / "s.sock", 0o777)
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.sendall(SECRET.encode())
            connection.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    yield {"file": str(secret_file), "socket": str(folder / "s.sock"), "key": _add_session_key()}
    stop.set()
    thread.join()
    server.close()
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


def _syscalls() -> dict[str, int] | None:
    return SYSCALLS.get(os.uname().machine)


def _add_session_key() -> int:
    """A "user" key holding the secret in this process's session keyring (0: none)."""
    numbers = _syscalls()
    if numbers is None:
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    payload = SECRET.encode()
    serial = libc.syscall(numbers["add_key"], b"user", b"evalkit-test", payload, len(payload), -3)
    return max(0, serial)


def escapes(planted: dict) -> dict[str, str]:
    keyctl = (_syscalls() or {"keyctl": 250})["keyctl"]
    read_key = (
        "    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n    buffer = ctypes.create_string_buffer(256)\n"
        f"    for key in (-3, -4, -5, {planted['key']}):\n"
        f"        n = libc.syscall({keyctl}, 11, key, buffer, 256)\n"
        "        if n > 0:\n            raise ValueError(buffer.raw[:n].decode())\n"
        "    raise ValueError(f'no key readable, errno {ctypes.get_errno()}')\n"
    )
    return {
        "read_project_file": f"    raise ValueError(open({planted['file']!r}).read())\n",
        "connect_to_project_socket": "    import socket\n    s = socket.socket(socket.AF_UNIX)\n"
        f"    s.connect({planted['socket']!r})\n    raise ValueError(s.recv(100).decode())\n",
        "list_the_root": "    import os\n    raise ValueError(' '.join(sorted(os.listdir('/'))))\n",
        "read_etc": "    raise ValueError(open('/etc/passwd').read())\n",
        "read_keyring": read_key,
        "list_the_project": f"    import os\n    raise ValueError(str(os.listdir({str(REPO)!r})))\n",
    }


def test_escapes_fail_and_leak_nothing_into_the_records(planted, tmp_path):
    cases = escapes(planted)
    outcomes = run_tests([leak_test(body) for body in cases.values()], LIMITS)
    for name, outcome in zip(cases, outcomes):
        assert not outcome.passed and outcome.status == "failed", f"{name}: {outcome}"
        assert len(outcome.reason) <= REASON_CHARS
        for field in (outcome.reason, outcome.stdout_tail, outcome.stderr_tail):
            assert not _shares_a_piece(field, SECRET), f"{name} leaked the secret: {field!r}"
    root = outcomes[list(cases).index("list_the_root")].reason
    assert "home" not in root.split() and "mnt" not in root.split(), root
    project = outcomes[list(cases).index("list_the_project")].reason  # at most the way to site-packages
    assert not any(f"'{name}'" in project for name in os.listdir(REPO) if name != ".venv"), project


def _shares_a_piece(text: str, secret: str, piece: int = 8) -> bool:
    return any(secret[i : i + piece] in text for i in range(len(secret) - piece + 1))


def test_what_the_store_keeps_holds_no_secret(planted, tmp_path, monkeypatch):
    """The code kind's records (what the store keeps) after completions that try every path."""
    task = code_task(tmp_path)
    samples = task.load_samples(TaskOptions())
    bodies = list(escapes(planted).values())
    records, _ = code.score(task, samples, [[Generation(body, 5, "stop") for body in bodies]],
                            {"seed": 0, "n": len(bodies), "temperature": 0.8, "ks": [1]})
    stored = json.dumps(records)
    assert not _shares_a_piece(stored, SECRET)
    assert records[0]["scores"]["passed"] == 0


def code_task(folder: Path):
    (folder / "leak.jsonl").write_text(json.dumps({"task_id": "leak", "prompt": "def leak():\n",
                                                   "test": TESTS, "entry_point": "leak"}) + "\n")
    (folder / "leak.toml").write_text(
        'name = "leak"\nversion = 1\nkind = "code"\nid_field = "task_id"\n[[sources]]\nkind = "file"\n'
        'path = "leak.jsonl"\n[code]\nprompt = "{{ prompt }}"\ntest = "{{ test }}"\n'
        'entry_point = "{{ entry_point }}"\ntimeout_s = 6\nmemory_mb = 128\nn = 6\ntemperature = 0.8\n'
    )
    return load_task(str(folder / "leak.toml"))


MEMORY_ESCAPES = {
    # many files, each under the file-size limit (which does cap one memfd)
    "memfd": "    import os\n    held = []\n    for _ in range(40):\n        fd = os.memfd_create('hold')\n"
    "        os.write(fd, b'x' * (8 << 20))\n        held.append(fd)\n    return 'nothing'\n",
    # segments of 96 MB, attached one at a time (the address-space limit caps one mapping, not the segments)
    "sysv_shm": "    import ctypes\n    libc = ctypes.CDLL(None, use_errno=True)\n    libc.shmat.restype = ctypes.c_void_p\n"
    "    for _ in range(4):\n        segment = libc.shmget(0, 96 << 20, 0o1600)\n"
    "        address = libc.shmat(segment, None, 0)\n        assert segment >= 0 and address != 2 ** 64 - 1\n"
    "        ctypes.memset(address, 1, 96 << 20)\n        libc.shmdt(ctypes.c_void_p(address))\n    return 'nothing'\n",
    "dev_shm_files": "    for i in range(100):\n        open(f'/dev/shm/f{i}', 'wb').write(b'x' * (4 << 20))\n"
    "    return 'nothing'\n",
    "dev_shm_inodes": "    for i in range(100000):\n        open(f'/dev/shm/e{i}', 'wb').close()\n    return 'nothing'\n",
}


def sysv_segments() -> list[str]:
    with open("/proc/sysvipc/shm") as file:
        return file.read().splitlines()[1:]


def evalkit_cgroups() -> list[str]:
    found = []
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified"):
        if os.path.isdir(root):
            found += [name for name in os.listdir(root) if name.startswith("evalkit-sandbox-")]
    return found


def test_memory_outside_the_address_space_is_capped_and_nothing_is_left():
    segments_before = sysv_segments()
    tests = [CodeTest("def hold():\n" + body, "hold()\n", ("hold",)) for body in MEMORY_ESCAPES.values()]
    outcomes = run_tests(tests, LIMITS)
    for name, outcome in zip(MEMORY_ESCAPES, outcomes):
        assert not outcome.passed, f"{name}: {outcome}"
        if name.startswith("dev_shm"):
            assert "No space left on device" in outcome.reason, f"{name}: {outcome.reason}"
        elif "memory cgroup" in containment_report()["memory"]:
            assert outcome.status == "memory", f"{name}: {outcome.status}: {outcome.reason}"
    assert sysv_segments() == segments_before
    assert evalkit_cgroups() == []

