"""`vrrpctl events` (issue #5 point 4): JSON lines, one per event, flushed as they come, against a ControlServer
in this process (CliRunner) and as a real subprocess following a live stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from controlcase import ServerThread

from vrrpd.cli.ctl import main
from vrrpd.daemon.daemon import events_stream
from vrrpd.services.eventlog import EventLog


class Daemon:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.log = EventLog()
        self.thread = ServerThread(path, {"status": lambda args: {}}, streams={"events": events_stream(self.log)})

    def publish(self, name: str, old: str, new: str) -> None:
        """On the server's loop, as the daemon would."""
        fields = {"kind": "instance", "name": name, "old": old, "new": new, "reason": "test", "priority": 100}
        self.thread.loop.call_soon_threadsafe(self.log.publish, fields)

    def followers(self) -> int:
        async def count() -> int:
            return self.log.followers

        return self.thread.run(count())


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(tmp_path / "vrrpd.sock")
    with d.thread:
        yield d


def wait(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def command() -> list[str]:
    script = Path(sys.executable).with_name("vrrpctl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vrrpd.cli.ctl"]


def test_replay_and_count_print_json_lines(daemon):
    daemon.publish("gw", "INITIALIZE", "BACKUP")
    daemon.publish("gw", "BACKUP", "MASTER")
    daemon.publish("gw", "MASTER", "FAULT")
    wait(lambda: daemon.log.seq == 3)
    result = CliRunner().invoke(main, ["--socket", str(daemon.path), "events", "--replay", "2", "--count", "2"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [(e["seq"], e["old"], e["new"]) for e in events] == [(2, "BACKUP", "MASTER"), (3, "MASTER", "FAULT")]
    assert all(e["type"] == "transition" and e["name"] == "gw" for e in events)


def test_follows_live_events_flushing_each_line_and_reports_the_end_of_the_stream(daemon):
    env = {**os.environ, "VRRPCTL_SOCKET": str(daemon.path)}
    proc = subprocess.Popen([*command(), "events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    try:
        wait(lambda: daemon.followers() == 1)
        daemon.publish("gw", "BACKUP", "MASTER")
        # Read while the process still runs: the line must arrive without the process exiting (flushed).
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert proc.poll() is None
        assert (first["seq"], first["new"]) == (1, "MASTER")
        daemon.publish("gw", "MASTER", "BACKUP")
        assert json.loads(proc.stdout.readline())["new"] == "BACKUP"
        daemon.thread.run(daemon.log.close(1.0))  # what the daemon does when it stops
        assert proc.wait(timeout=10) == 1
        assert proc.stderr is not None
        assert proc.stderr.read() == "vrrpctl: vrrpd ended the event stream (stopped?)\n"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_daemon_refusal_and_no_daemon_are_exit_1(daemon, tmp_path):
    result = CliRunner().invoke(main, ["--socket", str(daemon.path), "events", "--replay", "5000"])
    assert result.exit_code == 1
    assert "vrrpctl: events: replay must be a whole number 0..1000, got 5000" in result.output
    missing = tmp_path / "missing.sock"
    result = CliRunner().invoke(main, ["--socket", str(missing), "events"])
    assert result.exit_code == 1
    assert f"vrrpctl: no vrrpd listening on {missing} (is it running?)" in result.output


def test_negative_replay_is_a_usage_error():
    assert CliRunner().invoke(main, ["events", "--replay", "-1"]).exit_code == 2


def test_status_table_shows_hook_counters_only_for_instances_with_hooks():
    from vrrpd.cli.status import render_status

    hooks = {"hooks": ["on_master", "notify"], "runs": 7, "failures": 2, "timeouts": 1, "dropped": 0}
    status = {
        "version": "1",
        "pid": 1,
        "uptime": 5,
        "instances": [
            {"name": "gw", "state": "MASTER", "hooks": {**hooks, "pending": 1, "running": "notify"}},
            {"name": "quiet", "state": "BACKUP", "hooks": None},
        ],
    }
    lines = render_status(status).splitlines()
    assert lines[-2:] == ["", "gw: hooks (on_master, notify): 7 runs, 2 failed, 1 timed out, 1 waiting, running notify"]


def test_a_reader_that_goes_away_ends_vrrpctl_quietly(daemon):
    """`vrrpctl events | head -1`: the next write hits a closed pipe; exit 0 and no traceback."""
    env = {**os.environ, "VRRPCTL_SOCKET": str(daemon.path)}
    proc = subprocess.Popen([*command(), "events"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        wait(lambda: daemon.followers() == 1)
        daemon.publish("gw", "BACKUP", "MASTER")
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["seq"] == 1
        proc.stdout.close()  # the reader is gone
        daemon.publish("gw", "MASTER", "BACKUP")
        assert proc.wait(timeout=10) == 0
        assert proc.stderr is not None
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
