"""The store says what state each run is in: a run whose process died is interrupted, a rerun of the
same command continues it under the same id, and a full disk is one line that keeps what was written."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.errors import StoreError
from evalkit.store import Store
from evalkit.types import Generation, GenerationRequest

CONFIG = {"models": ["m"], "suite": "default", "config": {"x": 1}}
PROVENANCE = {"command_line": {"limit": 3}, "models": {"m": {"fingerprint": "f"}}, "tasks": {}, "seed": 7}

START_AND_DIE = """
import os, sys
from evalkit.store import Store
store = Store(sys.argv[1])
print(store.start_run({config!r}, {provenance!r}), flush=True)
os._exit(0)  # as after kill -9: the run is never marked finished
"""


def start_in_dead_process(path: Path) -> int:
    code = START_AND_DIE.format(config=CONFIG, provenance=PROVENANCE)
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    return int(out.stdout)


def test_a_run_whose_process_died_is_interrupted_and_a_rerun_continues_it(tmp_path):
    path = tmp_path / "s.db"
    dead = start_in_dead_process(path)
    store = Store(path)
    assert store.run(dead)["status"] == "interrupted"
    assert [r["status"] for r in store.list_runs()] == ["interrupted"]
    again = store.start_run(CONFIG, dict(PROVENANCE))
    assert again == dead and store.run(again)["status"] == "running"  # this process owns it now
    assert store.run(again)["provenance"]["resumed"] == 1
    other = store.start_run(CONFIG, {**PROVENANCE, "command_line": {"limit": 4}})
    assert other != dead, "another command is another run"
    store.finish_run(again, PROVENANCE)
    assert store.run(again)["status"] == "finished"
    assert store.start_run(CONFIG, dict(PROVENANCE)) not in (dead, other), "a finished run is never reopened"


def test_a_live_run_is_not_taken_over(tmp_path):
    store = Store(tmp_path / "s.db")
    first = store.start_run(CONFIG, dict(PROVENANCE))
    assert store.start_run(CONFIG, dict(PROVENANCE)) != first  # its process (this one) is alive
    assert store.run(first)["status"] == "running"


def _fill(store: Store, start: int, count: int, size: int = 2000) -> int:
    """Commit `count` responses one by one; returns how many were committed before a StoreError."""
    for i in range(start, start + count):
        request = GenerationRequest(prompt=f"prompt {i} " + "x" * size)
        try:
            store.put_responses("m", [(f"k{i}", request, Generation(text="y" * size, n_tokens=1, finish_reason="length"))])
        except StoreError as err:
            assert "disk is full" in str(err) and f"keeps the {i} responses" in str(err), err
            return i
    return start + count


def test_a_full_database_is_one_line_that_keeps_what_was_committed(tmp_path):
    """SQLite's page limit gives the same SQLITE_FULL as a full disk, on any machine."""
    store = Store(tmp_path / "s.db")
    store.db.execute(f"PRAGMA max_page_count = {store.db.execute('PRAGMA page_count').fetchone()[0] + 20}")
    kept = _fill(store, 0, 200)
    assert 0 < kept < 200 and store.count_responses() == kept
    store.db.execute("PRAGMA max_page_count = 100000")  # space freed: the same writes go on from there
    assert _fill(store, kept, 200 - kept) == 200 and store.count_responses() == 200


@pytest.fixture
def small_tmpfs(tmp_path):
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8); the page-limit test covers SQLITE_FULL")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_is_one_line_and_a_rerun_after_freeing_space_completes(small_tmpfs):
    store = Store(small_tmpfs / "s.db")
    try:
        filler = small_tmpfs / "filler"
        free = os.statvfs(small_tmpfs)
        filler.write_bytes(b"\0" * max(0, free.f_bavail * free.f_frsize - 48 * 1024))  # leave 48 KiB
        kept = _fill(store, 0, 100, size=300)
        assert 0 < kept < 100 and store.count_responses() == kept
        filler.unlink()
        assert _fill(store, kept, 100 - kept, size=300) == 100 and store.count_responses() == 100
    finally:
        store.close()
