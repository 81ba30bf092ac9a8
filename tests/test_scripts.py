"""vrrpd.services.scripts: real tiny commands (true, false, sleep, sh) as track scripts; fast, no root needed."""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import shutil
import signal
import time
from pathlib import Path

import pytest
from processes import gone

from vrrpd.config import ScriptConfig
from vrrpd.protocol.tracking import TrackState
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.scripts import CAP_SETGID, CAP_SETUID, ScriptMonitor, effective_capabilities, resolve_user, run_once

CAP_NET_ADMIN, CAP_NET_RAW = 12, 13

TRUE, FALSE, SLEEP, SH = (shutil.which(c) for c in ("true", "false", "sleep", "sh"))


def run(coro):
    return asyncio.run(coro)


def test_exit_status_decides():
    ok = run(run_once([TRUE], 5))
    bad = run(run_once([FALSE], 5))
    assert (ok.ok, ok.returncode, ok.timed_out) == (True, 0, False)
    assert (bad.ok, bad.returncode) == (False, 1)
    assert bad.describe().startswith("exit status 1 after")


def test_never_through_a_shell():
    # Shell syntax is just arguments: `sh -c` is the only way to get a shell.
    result = run(run_once(["/bin/echo", "a", "&&", "$(id)"], 5))
    assert result.ok and result.output == b"a && $(id)\n"


def test_missing_command_is_a_failure_not_an_exception():
    result = run(run_once(["/nonexistent/check"], 5))
    assert not result.ok and result.returncode is None
    assert "No such file" in result.describe()


def test_timeout_terms_the_group_and_counts_as_failure(tmp_path):
    pidfile = tmp_path / "pids"
    # The script and a child in its group; both must be gone after the timeout.
    argv = [SH, "-c", f"{SLEEP} 60 & echo $$ $! > {pidfile}; wait"]
    started = time.monotonic()
    result = run(run_once(argv, 0.3, grace=1.0))
    took = time.monotonic() - started
    assert result.timed_out and not result.ok and result.returncode == -signal.SIGTERM
    assert took < 1.0, took
    assert result.describe().startswith("timed out after")
    for pid in map(int, pidfile.read_text().split()):
        assert gone(pid), pid


def test_sigterm_ignored_escalates_to_sigkill(tmp_path):
    pidfile = tmp_path / "pids"
    # SIG_IGN is inherited across exec, so the sleep ignores SIGTERM too.
    argv = [SH, "-c", f'trap "" TERM; {SLEEP} 60 & echo $$ $! > {pidfile}; wait']
    started = time.monotonic()
    result = run(run_once(argv, 0.2, grace=0.3))
    took = time.monotonic() - started
    assert result.timed_out and result.returncode == -signal.SIGKILL
    assert 0.45 < took < 1.5, took
    for pid in map(int, pidfile.read_text().split()):
        assert gone(pid), pid


def test_output_is_captured_and_capped():
    result = run(run_once([SH, "-c", "echo out; echo err >&2; exit 3"], 5))
    assert result.output == b"out\nerr\n" and not result.truncated
    big = run(run_once([SH, "-c", "head -c 200000 /dev/zero; exit 1"], 5, cap=1000))
    assert len(big.output) == 1000 and big.truncated and big.returncode == 1


def test_cancel_kills_the_run():
    async def body() -> None:
        task = asyncio.create_task(run_once([SLEEP, "60"], 30))
        await asyncio.sleep(0.2)
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        sleepers = [p for p in pids if _cmdline(p).startswith(f"{SLEEP}\0" + "60")]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sleepers and all(gone(p) for p in sleepers)

    run(body())


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return ""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_runs_as_user_without_supplementary_groups():
    nobody = resolve_user("nobody")
    result = run(run_once(["id", "-u"], 5, run_as=nobody))
    assert result.output.decode().strip() == str(nobody.uid)
    groups = run(run_once(["id", "-G"], 5, run_as=nobody)).output.decode().split()
    assert groups == [str(nobody.gid)]


def test_unknown_user():
    with pytest.raises(KeyError):
        resolve_user("no-such-user-vrrpd")


def test_a_user_we_cannot_switch_to_is_refused_at_start_with_the_fix_named():
    """Under the shipped unit (CAP_NET_ADMIN CAP_NET_RAW only) `user:` could never work: every run would fail
    and read as a failing check. resolve_user (called at start-up) refuses it and says what to add."""
    with pytest.raises(PermissionError) as err:
        resolve_user("nobody", capabilities=(1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW))
    text = str(err.value)
    assert "CAP_SETUID and CAP_SETGID" in text and "systemctl edit vrrpd" in text
    with pytest.raises(PermissionError, match="needs CAP_SETGID,"):
        resolve_user("nobody", capabilities=1 << CAP_SETUID)
    both = resolve_user("nobody", capabilities=(1 << CAP_SETUID) | (1 << CAP_SETGID))
    assert both.user == "nobody" and both.uid == pwd.getpwnam("nobody").pw_uid


def test_our_own_user_needs_no_capability():
    me = pwd.getpwuid(os.geteuid())
    if me.pw_gid != os.getegid():
        pytest.fail("the test expects the primary group as effective group")
    assert resolve_user(me.pw_name, capabilities=0).uid == os.geteuid()


def test_effective_capabilities_are_read_from_proc_status(tmp_path: Path):
    status = tmp_path / "status"
    status.write_text("Name:\tvrrpd\nCapInh:\t0000000000000000\nCapEff:\t0000000000003000\n")
    assert effective_capabilities(str(status)) == (1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW)
    assert effective_capabilities(str(tmp_path / "missing")) == 0


def test_a_run_that_cannot_start_is_a_failure_not_an_exception():
    # Root may switch to any uid, so an impossible `user` cannot be staged here for every runner of the suite;
    # a missing program takes the same path: the child never runs, and that counts as a failed check.
    result = run(run_once(["/nonexistent/vrrpd-check"], 5))
    assert not result.ok and result.error


# --- the monitor ----------------------------------------------------------------------------------------


def monitor(command, **kw) -> tuple[ScriptMonitor, list[tuple[str, TrackState]]]:
    changes: list[tuple[str, TrackState]] = []
    cfg = ScriptConfig("chk", tuple(command), **kw)
    ratelog = RateLimitedLogger(logging.getLogger("test"))
    return ScriptMonitor(cfg, lambda name, state: changes.append((name, state)), ratelog, grace=0.2), changes


def test_monitor_rise_fall_and_changes(tmp_path):
    flag = tmp_path / "fail"

    async def body() -> None:
        m, changes = monitor(["test", "!", "-e", str(flag)], interval=0.05, timeout=1, rise=2, fall=2)
        m.start()
        await _until(lambda: m.state is TrackState.UP)
        flag.touch()
        await _until(lambda: m.state is TrackState.DOWN)
        flag.unlink()
        await _until(lambda: m.state is TrackState.UP)
        await m.stop()
        assert changes == [("chk", TrackState.UP), ("chk", TrackState.DOWN), ("chk", TrackState.UP)]
        # The first pass alone makes it UP (keepalived 2.2.7 starts a script's count at rise - 1, issue #12);
        # afterwards fall = 2 failures and rise = 2 passes: at least 1 + 2 + 2 runs.
        assert m.counters.failures >= 2 and m.counters.runs >= 5

    run(body())


def test_monitor_skips_ticks_while_running_and_never_overlaps(caplog):
    async def body() -> ScriptMonitor:
        m, changes = monitor([SLEEP, "0.25"], interval=0.05, timeout=5)
        m.start()
        await _until(lambda: m.counters.runs >= 2, timeout=3)
        await m.stop()
        assert changes == [("chk", TrackState.UP)]
        return m

    with caplog.at_level(logging.WARNING):
        m = run(body())
    assert m.counters.skipped >= 4
    assert "still running at its next interval" in caplog.text


def test_monitor_timeout_is_a_failure_and_logged(caplog):
    async def body() -> ScriptMonitor:
        m, _ = monitor([SLEEP, "60"], interval=0.1, timeout=0.1)
        m.start()
        await _until(lambda: m.state is TrackState.DOWN, timeout=3)
        await m.stop()
        return m

    with caplog.at_level(logging.WARNING):
        m = run(body())
    assert m.counters.timeouts >= 1 and m.status()["state"] == "down"
    assert "track script chk failed: timed out" in caplog.text


def test_monitor_never_blocks_the_loop():
    """A slow check must leave the loop free: a 10 ms ticker keeps ticking while sleep 0.3 runs."""

    async def body() -> float:
        m, _ = monitor([SLEEP, "0.3"], interval=1, timeout=5)
        loop = asyncio.get_running_loop()
        worst, last = 0.0, loop.time()
        m.start()
        end = loop.time() + 0.5
        while loop.time() < end:
            await asyncio.sleep(0.01)
            now = loop.time()
            worst, last = max(worst, now - last), now
        await m.stop()
        return worst

    assert run(body()) < 0.1


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)
