"""torch's thread team follows the cores other processes leave free (backends/threads.py says why)."""

import subprocess
import sys
import time

import pytest
import torch

from evalkit.backends import threads
from evalkit.errors import ConfigError

STAT = """cpu  900 0 300 5000 100 0 0 0 0 0
cpu0 400 0 100 2500 50 0 0 7 0 0
cpu1 500 0 200 2500 50 0 0 3 0 0
intr 1 2 3
"""


def test_busy_time_is_everything_but_idle_and_iowait_of_the_chosen_cpus():
    tick = 1 / threads.os.sysconf("SC_CLK_TCK")
    assert threads.busy_seconds({0}, STAT) == pytest.approx(507 * tick)
    assert threads.busy_seconds({0, 1}, STAT) == pytest.approx((507 + 703) * tick)
    assert threads.busy_seconds({5}, STAT) == 0


@pytest.mark.parametrize(("cores", "others", "most", "want"), [
    (2, 0.05, 2, 2),  # quiet
    (2, 0.7, 2, 1),  # one busy neighbour while we run two threads
    (2, 1.33, 2, 1),  # two
    (2, 2.0, 2, 1),  # never fewer than one
    (16, 3.1, 16, 13),
    (16, 0.0, 8, 8),  # never more than torch started with
])
def test_the_team_gets_the_cores_left(cores, others, most, want):
    assert threads.threads_for(cores, others, most) == want


def test_a_fixed_count_wins_and_a_wrong_one_says_what_to_set(monkeypatch):
    monkeypatch.setenv("EVALKIT_THREADS", "3")
    assert threads.fixed_thread_count() == 3
    monkeypatch.setenv("EVALKIT_THREADS", "follow")
    assert threads.fixed_thread_count() is None
    monkeypatch.setenv("EVALKIT_THREADS", "many")
    with pytest.raises(ConfigError, match="EVALKIT_THREADS='many'.*'follow'"):
        threads.fixed_thread_count()


@pytest.mark.skipif(not threads.PROC_STAT.exists() or len(threads.os.sched_getaffinity(0)) > 8,
                    reason="needs /proc/stat and few enough cores to keep busy")
def test_with_every_core_busy_elsewhere_the_team_shrinks_to_one(monkeypatch):
    before = torch.get_num_threads()
    follower = threads.FreeCores(most=max(2, before))
    follower.threads = follower.most  # as if torch had started with at least two
    torch.set_num_threads(follower.most)  # and had them now, whatever earlier tests on a busy machine left
    spin = "import time\nend = time.time() + 30\nwhile time.time() < end: pass"
    busy = [subprocess.Popen([sys.executable, "-c", spin]) for _ in follower.cpus]
    try:
        follower._last = follower._look()
        time.sleep(threads.INTERVAL_S + 0.5)
        follower.fit()
        assert follower.threads == 1 and torch.get_num_threads() == 1 and follower.changes == 1
    finally:
        for process in busy:
            process.kill()
        torch.set_num_threads(before)


def test_the_check_is_skipped_between_intervals():
    now = [0.0]
    follower = threads.FreeCores(most=2, clock=lambda: now[0])
    looked = follower._last
    now[0] = threads.INTERVAL_S / 2
    follower.fit()
    assert follower._last is looked
