"""vrrpd.services.filetrack: reading track files off the loop, on_missing for missing and garbage files, init_file,
and the daemon wiring (issue #5 point 2: "track files (an integer in a file times a weight; missing file handled
explicitly)"; point 3: status shows each tracker's state and contribution)."""

from __future__ import annotations

import asyncio
import logging
import os
import textwrap
import time
from pathlib import Path

import pytest
from daemoncase import started

from vrrpd.config import parse_config
from vrrpd.config.track_files import FileConfig
from vrrpd.daemon.status import instance_status
from vrrpd.protocol import State, TimerExpired
from vrrpd.protocol.tracking import TrackState
from vrrpd.services.filetrack import FileMonitor, Reading, read_value, write_initial
from vrrpd.services.logsetup import RateLimitedLogger

log = logging.getLogger("test")


def test_read_value(tmp_path: Path) -> None:
    path = tmp_path / "v"
    assert read_value(path) == Reading(None, "missing")
    path.write_text("42\n")
    assert read_value(path) == Reading(42)
    path.write_text("forty-two")
    assert read_value(path) == Reading(None, "'forty-two' is not a whole number")
    path.write_bytes(b"1" * 100)
    assert read_value(path) == Reading(None, "longer than 64 bytes")
    assert read_value(tmp_path) == Reading(None, "not a regular file")


def test_read_value_does_not_block_on_a_fifo(tmp_path: Path) -> None:
    """O_NONBLOCK: a FIFO with no writer would block a plain open() forever."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert read_value(fifo) == Reading(None, "not a regular file")
    assert time.monotonic() - started < 1


def test_init_file_writes_only_when_missing_unless_overwrite(tmp_path: Path) -> None:
    """keepalived's init_file [VALUE] [overwrite]: written at start-up if the file does not exist; overwrite
    writes it anyway."""
    path = tmp_path / "v"
    cfg = FileConfig("v", path, on_missing=None, init_value=7)
    assert write_initial(cfg) == "created it holding 7 (init)"
    assert path.read_text() == "7\n"
    path.write_text("3\n")
    assert write_initial(cfg) is None and path.read_text() == "3\n"
    over = FileConfig("v", path, on_missing=None, init_value=-2, init_overwrite=True)
    assert write_initial(over) == "wrote -2 (init, overwrite)"
    assert path.read_text() == "-2\n" and sorted(p.name for p in tmp_path.iterdir()) == ["v"]
    nodir = FileConfig("v", tmp_path / "no" / "v", on_missing=None, init_value=1)
    assert write_initial(nodir) == "could not write the initial value: No such file or directory"
    assert write_initial(FileConfig("v", path, on_missing=None)) is None


def changes_of(monitor_cfg: FileConfig) -> tuple[FileMonitor, list[tuple[str, int | None]]]:
    seen: list[tuple[str, int | None]] = []
    monitor = FileMonitor(monitor_cfg, lambda name, value: seen.append((name, value)), RateLimitedLogger(log))
    return monitor, seen


def test_monitor_polls_and_applies_on_missing(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A real file and a short interval: value changes are reported once each; a deleted file and garbage
    take on_missing's value; each new problem is logged once, repeats are not."""
    path = tmp_path / "v"
    path.write_text("1\n")
    monitor, seen = changes_of(FileConfig("v", path, interval=0.1, on_missing=-5))

    async def wait_for(expected: list[tuple[str, int | None]]) -> None:
        deadline = asyncio.get_running_loop().time() + 5
        while seen != expected:
            assert asyncio.get_running_loop().time() < deadline, seen
            await asyncio.sleep(0.02)

    async def body() -> None:
        assert await monitor.prime() == 1
        assert seen == []  # prime reports through its return value, not the callback
        monitor.start()
        path.write_text("4\n")
        await wait_for([("v", 4)])
        path.unlink()
        await wait_for([("v", 4), ("v", -5)])
        path.write_text("garbage")  # still on_missing's value: no change reported
        await asyncio.sleep(0.35)
        assert seen == [("v", 4), ("v", -5)]
        path.write_text("0")
        await wait_for([("v", 4), ("v", -5), ("v", 0)])
        await monitor.stop()

    with caplog.at_level(logging.INFO):
        asyncio.run(body())
    problems = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert problems == [
        f"track file v ({path}): missing; on_missing: value -5",
        f"track file v ({path}): 'garbage' is not a whole number; on_missing: value -5",
    ]
    status = monitor.status()
    assert status["value"] == 0 and status["effective_value"] == 0 and status["problem"] is None
    assert status["problems"] >= 2


def test_monitor_fault_on_missing_reports_none() -> None:
    readings = iter([Reading(3), Reading(None, "missing"), Reading(None, "missing"), Reading(3)])
    monitor, seen = changes_of(FileConfig("v", Path("/nonexistent"), on_missing=None))
    monitor.reader = lambda _path: next(readings)

    async def body() -> None:
        for _ in range(4):
            await monitor.poll()

    asyncio.run(body())
    assert seen == [("v", 3), ("v", None), ("v", 3)]


def test_a_hung_read_never_blocks_the_loop() -> None:
    """A read stuck in the filesystem (hung NFS) makes the file unreadable after one interval; the loop keeps
    running meanwhile, and no second read is started while the first hangs."""
    release = __import__("threading").Event()
    calls = 0

    def hung(_path: Path) -> Reading:
        nonlocal calls
        calls += 1
        release.wait(10)
        return Reading(9)

    monitor, seen = changes_of(FileConfig("v", Path("/hung"), interval=0.2, on_missing=None))
    monitor.reader = hung

    async def body() -> None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        reading = await monitor.poll()
        assert reading.problem == "read still pending after 0.2s (hung filesystem?)"
        await monitor.poll()
        assert calls == 1
        assert ticks >= 10  # the loop ran while the read hung
        release.set()
        assert (await monitor.poll()).value == 9
        task.cancel()

    asyncio.run(body())
    assert seen == [("v", None), ("v", 9)]


CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
track_files:
  offset: {path: %(dir)s/offset, interval: 0.1, on_missing: {value: 0}}
  drain: {path: %(dir)s/drain, on_missing: fault}
instances:
  - name: gw
    interface: eth0
    vrid: 51
    priority: 200
    virtual_addresses: [198.51.100.100/24]
    track_files:
      - {name: offset, weight: -30}
      - {name: drain, on_failure: fault}
"""


def test_daemon_feeds_file_values_to_the_router_and_status(tmp_path: Path) -> None:
    (tmp_path / "offset").write_text("2\n")
    (tmp_path / "drain").write_text("0\n")

    async def body() -> None:
        case = await started(parse_config(textwrap.dedent(CONFIG % {"dir": tmp_path})))
        daemon, inst = case.daemon, case.inst("gw")
        assert set(daemon.monitors.files) == {"offset", "drain"}
        # Primed before the router starts: it starts with 200 - 2 x 30.
        assert inst.router.priority == 140
        daemon.driver.feed(inst, TimerExpired(), now=1e9)
        assert inst.router.state is State.MASTER
        daemon.monitors.on_file("offset", 5)
        assert inst.router.priority == 50
        status = instance_status(inst, 0.0, daemon.notifier)
        assert status["trackers"][1:] == [
            {
                "kind": "file",
                "name": "offset",
                "state": "up",
                "effect": "value x -30",
                "contribution": -150,
                "value": 5,
                "implicit": False,
            },
            {
                "kind": "file",
                "name": "drain",
                "state": "up",
                "effect": "fault if non-zero",
                "contribution": 0,
                "value": 0,
                "implicit": False,
            },
        ]
        assert [f["name"] for f in daemon.status()["track_files"]] == ["offset", "drain"]
        daemon.monitors.on_file("drain", 1)
        assert inst.router.state is State.FAULT and inst.router.fault_reason == "track file drain holds 1"
        daemon.monitors.on_file("drain", None)
        assert inst.router.fault_reason == "track file drain missing or unreadable"
        assert inst.tracking.states[("file", "drain")] is TrackState.DOWN
        daemon.monitors.on_file("drain", 0)
        assert inst.router.state is State.BACKUP and inst.router.fault_reason is None
        await case.stop()

    asyncio.run(body())


def test_vrrpctl_status_table_shows_the_file_value() -> None:
    """Issue #5 point 3: `vrrpctl status` shows every tracker's state and contribution (and a file's value)."""
    from vrrpd.cli.status.trackers import render_trackers

    lines = render_trackers(
        [
            {
                "name": "gw",
                "trackers": [
                    {
                        "kind": "file",
                        "name": "offset",
                        "state": "up",
                        "effect": "value x -30",
                        "contribution": -150,
                        "value": 5,
                    },
                    {
                        "kind": "file",
                        "name": "drain",
                        "state": "down",
                        "effect": "fault if non-zero",
                        "contribution": 0,
                        "value": None,
                    },
                ],
            }
        ]
    )
    assert [line.split() for line in lines[1:]] == [
        ["INSTANCE", "KIND", "TRACKER", "STATE", "EFFECT", "CONTRIB"],
        ["gw", "file", "offset", "up", "(value", "5)", "value", "x", "-30", "-150"],
        ["gw", "file", "drain", "down", "fault", "if", "non-zero", "0"],
    ]


def test_a_file_flapping_between_problems_is_rate_limited(caplog: pytest.LogCaptureFixture) -> None:
    """A new problem is logged when it starts, but a file alternating between two problems every read does not
    flood the journal: at most the rate limiter's burst per window (fake clock: the window never ends)."""
    ratelog = RateLimitedLogger(log, burst=5, interval=60, clock=lambda: 0.0)
    monitor = FileMonitor(FileConfig("v", Path("/x"), on_missing=0), lambda _n, _v: None, ratelog)
    with caplog.at_level(logging.INFO):
        for i in range(40):
            monitor.apply(Reading(None, "missing" if i % 2 else "empty"))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 5
    assert monitor.problems == 40 and monitor.effective == 0
