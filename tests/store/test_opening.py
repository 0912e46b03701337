"""A store on a read-only file system is one line that says so, for an existing store and a new one.

Root ignores file modes, so chmod cannot make a store read-only here: the test mounts a small tmpfs,
writes a store into it, and remounts it read-only (skipped, with the reason, where mounting is not allowed)."""

import os
import shutil
import subprocess

import pytest

from evalkit.cli import main
from evalkit.store import Store


@pytest.fixture
def read_only_mount(tmp_path):
    mount = tmp_path / "ro"
    mount.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("a read-only mount needs root and mount(8), and root ignores chmod, so nothing here is read-only")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def runs(config, capsys) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = main(["--config", str(config), "runs"])
    return code, [line for line in capsys.readouterr().err.splitlines() if line.strip()]


def test_a_store_on_a_read_only_file_system_is_one_line(read_only_mount, tmp_path, capsys):
    config = tmp_path / "evalkit.toml"
    existing, new = read_only_mount / "evalkit.db", read_only_mount / "new.db"
    Store(existing).close()  # created while the mount is writable (closed: a file open for writing blocks remount)
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True)
    for store in (existing, new):
        config.write_text(f'[project]\nstore = "{store}"\n')
        code, lines = runs(config, capsys)
        assert code != 0 and len(lines) == 1, lines
        assert lines[0].startswith(f"error: store {store} is on a read-only file system"), lines[0]
        assert "point [project] store at a writable place" in lines[0]
    assert not new.exists() and existing.stat().st_size > 0


def _open_together(path, barrier, results):
    from evalkit.store.db import Store

    barrier.wait()
    try:
        Store(path).close()
        results.put("ok")
    except Exception as err:  # noqa: BLE001 - the test reports whatever went wrong
        results.put(repr(err))


def test_processes_that_create_the_same_store_at_once_all_open_it(tmp_path):
    # the ranks of `accelerate launch` do this; SQLite refused the second one's WAL switch at once
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for attempt in range(8):
        path, barrier, results = tmp_path / f"store{attempt}.db", context.Barrier(3), context.Queue()
        workers = [context.Process(target=_open_together, args=(path, barrier, results)) for _ in range(3)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [results.get(timeout=5) for _ in workers] == ["ok"] * 3, attempt
