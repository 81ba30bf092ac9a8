"""`vrrpctl drain` / `vrrpctl resume` (issue #15): exit 0 and the daemon's summary, exit 1 and its sentence on stderr
when it refuses, exit 2 when no daemon listens; and `vrrpctl events --type`; against a ControlServer in this process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from controlcase import ServerThread

from vrrpd.cli.ctl import main
from vrrpd.daemon.daemon import events_stream
from vrrpd.services.control import ControlError
from vrrpd.services.eventlog import EventLog

OWNER = "o is the address owner of VRID 3 (priority 255): no other router can take its addresses over, so it cannot be drained; nothing was drained"  # noqa: E501


def invoke(tmp_path: Path, handlers: dict[str, Any], *args: str):
    path = tmp_path / "vrrpd.sock"
    with ServerThread(path, handlers):
        return CliRunner().invoke(main, ["--socket", str(path), *args])


def test_drain_sends_the_names_or_all_and_prints_the_summary(tmp_path):
    seen: list[dict[str, Any]] = []

    def drain(args: dict[str, Any]) -> Any:
        seen.append(args)
        return {"summary": "drained (hard): a, b", "changed": ["a", "b"], "unchanged": []}

    result = invoke(tmp_path, {"drain": drain}, "drain", "a", "b")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "drained (hard): a, b\n", "")
    invoke(tmp_path, {"drain": drain}, "drain", "--soft", "--all")
    assert seen == [{"names": ["a", "b"], "soft": False}, {"all": True, "soft": True}]


def test_resume_sends_the_names_or_all(tmp_path):
    seen: list[dict[str, Any]] = []

    def resume(args: dict[str, Any]) -> Any:
        seen.append(args)
        return {"summary": "resumed: a", "changed": ["a"], "unchanged": []}

    assert invoke(tmp_path, {"resume": resume}, "resume", "a").stdout == "resumed: a\n"
    assert invoke(tmp_path, {"resume": resume}, "resume", "--all").exit_code == 0
    assert seen == [{"names": ["a"]}, {"all": True}]


def test_a_refusal_prints_the_daemons_sentence_and_exits_1(tmp_path):
    def refuse(args: dict[str, Any]) -> Any:
        raise ControlError(OWNER)

    result = invoke(tmp_path, {"drain": refuse}, "drain", "o")
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", OWNER + "\n")


def test_no_daemon_exits_2(tmp_path):
    for command in ("drain", "resume"):
        result = CliRunner().invoke(main, ["--socket", str(tmp_path / "none.sock"), command, "a"])
        assert result.exit_code == 2 and "no vrrpd listening" in result.stderr


def test_names_or_all_but_not_both(tmp_path):
    for args in (["drain"], ["drain", "--all", "a"], ["resume"]):
        result = CliRunner().invoke(main, ["--socket", str(tmp_path / "none.sock"), *args])
        assert result.exit_code == 2 and "name the instances to" in result.stderr


def test_drain_waits_as_long_as_a_reload_unless_told(tmp_path, monkeypatch):
    seen: list[float] = []
    answer = {"summary": "drained (hard): a"}
    monkeypatch.setattr("vrrpd.cli.ctl.request", lambda path, command, timeout, **args: seen.append(timeout) or answer)
    runner = CliRunner()
    assert runner.invoke(main, ["--socket", str(tmp_path / "s"), "drain", "a"]).exit_code == 0
    assert runner.invoke(main, ["--socket", str(tmp_path / "s"), "--timeout", "7", "resume", "a"]).exit_code == 0
    assert seen == [120.0, 7.0]


def test_events_type_prints_only_those_and_count_counts_what_is_printed(tmp_path):
    log = EventLog()
    path = tmp_path / "vrrpd.sock"
    with ServerThread(path, {}, streams={"events": events_stream(log)}) as server:
        fields = {"kind": "instance", "name": "a"}
        for event_type in ("transition", "drain", "priority", "reload", "drain", "transition"):
            server.loop.call_soon_threadsafe(log.publish, fields, event_type)
        deadline = time.monotonic() + 10
        while log.seq < 6:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        runner = CliRunner()
        base = ["--socket", str(path), "events", "--replay", "6"]
        result = runner.invoke(main, [*base, "--type", "drain", "--type", "reload", "--count", "3"])
        assert result.exit_code == 0, result.output
        assert [(e["seq"], e["type"]) for e in map(json.loads, result.stdout.splitlines())] == [
            (2, "drain"),
            (4, "reload"),
            (5, "drain"),
        ]
        result = runner.invoke(main, [*base, "--count", "2"])
        assert [e["type"] for e in map(json.loads, result.stdout.splitlines())] == ["transition", "drain"]
        assert runner.invoke(main, [*base, "--type", "gap"]).exit_code == 2  # not a type one asks for
