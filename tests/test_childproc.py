"""vrrpd.services.childproc: a run is over when its leader exits; what it leaves behind is killed; output is bounded.

Real tiny commands (sh, sleep, head), no root needed. Whether a process is gone is waited for with a deadline:
SIGKILL is delivered asynchronously.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from processes import gone, state

from vrrpd.services import childproc
from vrrpd.services.childproc import OUTPUT_CAP, run_once

SH, SLEEP, SETSID = (shutil.which(c) for c in ("sh", "sleep", "setsid"))
ROOT = Path(__file__).resolve().parent.parent


def my_zombies() -> list[int]:
    """Children of this process that have exited and were never reaped."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] == "Z" and int(fields[1]) == os.getpid():
                found.append(int(entry.name))
    return found


def background_child(pidfile: Path, status: int = 0) -> list[str]:
    """A command that starts a child holding its output pipe for 30 s, writes the child's pid, and exits."""
    return [SH, "-c", f"{SLEEP} 30 & echo $! > {pidfile}; exit {status}"]


def test_a_check_that_exits_0_leaving_a_child_on_its_output_has_passed_and_the_child_is_killed(tmp_path):
    """The issue's case: keepalived says it passed; waiting for the pipe to close made it a timeout (a failover).
    Ten runs in a row, since the old behaviour depended on a race."""
    pidfile = tmp_path / "child"
    for _ in range(10):
        result = asyncio.run(run_once(background_child(pidfile), 10))
        assert (result.ok, result.returncode, result.timed_out) == (True, 0, False), result.describe()
        # Over well before its timeout: the leader's exit ended it, not the child's pipe.
        assert result.duration < 10
        assert gone(int(pidfile.read_text())), "the child left behind still lives"
    assert my_zombies() == []


def test_a_failing_exit_status_is_reported_as_such_and_its_leftovers_die_too(tmp_path):
    pidfile = tmp_path / "child"
    result = asyncio.run(run_once(background_child(pidfile, 3), 10))
    assert (result.ok, result.returncode, result.timed_out) == (False, 3, False)
    assert result.describe().startswith("exit status 3 after")
    assert gone(int(pidfile.read_text()))


def test_the_leaders_own_output_is_kept_even_with_a_child_holding_the_pipe(tmp_path):
    pidfile = tmp_path / "child"
    argv = [SH, "-c", f"{SLEEP} 30 & echo $! > {pidfile}; echo checked; exit 0"]
    result = asyncio.run(run_once(argv, 10))
    assert result.ok and result.output == b"checked\n"
    assert gone(int(pidfile.read_text()))


@pytest.mark.skipif(SETSID is None, reason="setsid(1) is not installed")
def test_a_child_in_a_session_of_its_own_escapes_the_group_but_cannot_hold_the_run(tmp_path):
    """A deliberate daemon (setsid) is not ours to kill (systemd's cgroup handles it at stop), but its grip on the
    output pipe does not make the run wait: the pipe is closed shortly after the leader's exit."""
    pidfile = tmp_path / "child"
    argv = [SH, "-c", f"{SETSID} {SH} -c 'echo $$ > {pidfile}; exec {SLEEP} 30' & sleep 0.2; exit 0"]
    result = asyncio.run(run_once(argv, 10))
    pid = int(pidfile.read_text())
    try:
        assert result.ok and result.duration < 10
        assert state(pid) not in (None, "Z"), "the setsid child was expected to survive (outside the group)"
    finally:
        os.kill(pid, 9)


def test_without_pidfd_a_waiting_thread_reports_the_exit(tmp_path, monkeypatch):
    def no_pidfd(pid: int) -> int:
        raise OSError(errno.ENOSYS, "pidfd_open not implemented")

    monkeypatch.setattr(childproc.os, "pidfd_open", no_pidfd)
    pidfile = tmp_path / "child"
    result = asyncio.run(run_once(background_child(pidfile), 10))
    assert (result.ok, result.timed_out) == (True, False)
    assert gone(int(pidfile.read_text()))
    timed = asyncio.run(run_once([SLEEP, "30"], 0.2, grace=0.2))
    assert timed.timed_out and not timed.ok
    assert my_zombies() == []


def test_ten_megabytes_of_output_are_drained_and_discarded_beyond_the_cap():
    size = 10 * 1024 * 1024
    result = asyncio.run(run_once([SH, "-c", f"head -c {size} /dev/zero; exit 0"], 30))
    assert result.ok, result.describe()  # a verbose check still passes: it never blocked on a full pipe
    assert len(result.output) == OUTPUT_CAP and result.truncated and result.output_size == size
    shown = result.shown_output(limit=100)
    assert shown.startswith("; output: " + "\\x00" * 100 + "... (")
    assert shown.endswith(f"({size - 100} bytes more)")


def test_output_with_nuls_newlines_and_bytes_that_are_not_utf8_is_logged_on_one_line():
    script = r"printf 'a\000b\nvrrpd[1]: instance gw is MASTER\r\n\033[31m\377 \\x41'; exit 1"
    result = asyncio.run(run_once([SH, "-c", script], 10))
    shown = result.shown_output()
    assert shown == "; output: a\\x00b\\nvrrpd[1]: instance gw is MASTER\\r\\n\\x1b[31m\\xff \\\\x41"
    assert shown.isprintable()


def test_a_run_that_times_out_is_killed_with_its_whole_group(tmp_path):
    pidfile = tmp_path / "pids"
    argv = [SH, "-c", f"{SLEEP} 60 & a=$!; {SLEEP} 60 & echo $$ $a $! > {pidfile}; wait"]
    result = asyncio.run(run_once(argv, 0.3, grace=0.5))
    assert result.timed_out and not result.ok
    pids = [int(p) for p in pidfile.read_text().split()]
    assert len(pids) == 3 and all(gone(p) for p in pids)
    assert my_zombies() == []


def test_a_cancelled_run_kills_its_group_and_reaps_its_leader(tmp_path):
    pidfile = tmp_path / "pids"
    argv = [SH, "-c", f"{SLEEP} 60 & echo $$ $! > {pidfile}; wait"]

    async def body() -> None:
        task = asyncio.create_task(run_once(argv, 30))
        while not pidfile.exists() or len(pidfile.read_text().split()) < 2:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(body())
    leader, child = (int(p) for p in pidfile.read_text().split())
    assert state(leader) is None, "the leader was not reaped"
    assert gone(child)


def test_a_loop_that_ends_with_runs_in_flight_neither_hangs_nor_leaves_children(tmp_path):
    """An earlier finding: asyncio could hang when the daemon's stop raised while a subprocess was starting.
    Here the main coroutine raises at several points of a run's life (before it started, just after, mid-run);
    asyncio.run must cancel the runs and return. Run in a child interpreter, so a hang is a timeout, not a stuck
    suite."""
    pidfile = tmp_path / "pids"
    program = textwrap.dedent(
        f"""
        import asyncio, sys
        from vrrpd.services.childproc import run_once

        async def main(delay):
            argv = ["{SH}", "-c", "{SLEEP} 60 & echo $! >> {pidfile}; {SLEEP} 60"]
            asyncio.get_running_loop().create_task(run_once(argv, 30))
            if delay is not None:
                await asyncio.sleep(delay)
            raise RuntimeError("stop failed")

        for delay in (None, 0, 0.001, 0.05, 0.3):
            try:
                asyncio.run(main(delay))
            except RuntimeError:
                pass
        print("returned")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stdout.strip() == "returned", done.stderr
    children = [int(p) for p in pidfile.read_text().split()] if pidfile.exists() else []
    assert children, "no run ever started"
    assert all(gone(p) for p in children)
