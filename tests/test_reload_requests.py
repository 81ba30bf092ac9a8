"""Reload requests (issue #11): one reload at a time, storms coalesced, a rejected file changes nothing, systemd
hears RELOADING=1 ... READY=1, and the status reports the configuration and the last reload. A daemon on fakes,
started from a real file (tests/daemoncase.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from daemoncase import started

from vrrpd.config import Config, parse_config
from vrrpd.config.reload import ReloadPlan
from vrrpd.daemon import reloader as reloader_module
from vrrpd.daemon.reload import ReloadRefused
from vrrpd.daemon.reloader import Reloader
from vrrpd.services import sdnotify
from vrrpd.services.control import ControlError

ONE = """\
control_socket: {socket}
instances:
  - {{name: a, interface: eth0, vrid: 1, priority: 150, virtual_addresses: [198.51.100.101/24]}}
"""
TWO = ONE + "  - {{name: b, interface: eth0, vrid: 2, virtual_addresses: [198.51.100.102/24]}}\n"


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def reloader_of(path: Path, config: Config, apply: Callable[[ReloadPlan], Awaitable[None]]) -> Reloader:
    return Reloader(path, lambda: config, apply, lambda: "1 master", asyncio.get_running_loop())


def test_requests_during_a_reload_share_exactly_one_more_reload_that_starts_after_they_asked(tmp_path):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(ONE.format(socket=tmp_path / "s"))
    config = parse_config(path.read_text(), str(path))
    applied: list[float] = []
    gate = asyncio.Event()

    async def apply(plan: ReloadPlan) -> None:
        applied.append(time.monotonic())
        await gate.wait()

    async def body() -> None:
        reloads = reloader_of(path, config, apply)
        first = reloads.request()
        await asyncio.sleep(0.01)
        asked_at = time.monotonic()
        later = [reloads.request() for _ in range(20)]
        assert all(f is later[0] for f in later)  # one shared "next" reload
        gate.set()
        outcomes = await asyncio.gather(first, *later)
        assert len(applied) == 2 and applied[1] > asked_at
        assert {o.result for o in outcomes} == {"applied"}

    run(body)


def test_fifty_sighups_in_a_second_are_at_most_two_reloads(tmp_path, monkeypatch):
    # As fifty SIGHUPs in one second with the real spacing of one second, on a shorter clock.
    monkeypatch.setattr(reloader_module, "SIGNAL_SPACING", 0.4)
    path = tmp_path / "vrrpd.yaml"
    path.write_text(ONE.format(socket=tmp_path / "s"))
    config = parse_config(path.read_text(), str(path))
    applied: list[float] = []

    async def apply(plan: ReloadPlan) -> None:
        applied.append(time.monotonic())

    async def body() -> None:
        reloads = reloader_of(path, config, apply)
        for _ in range(50):
            reloads.signalled()
            await asyncio.sleep(0.2 / 50)
        await asyncio.sleep(0.6)
        assert 1 <= len(applied) <= 2
        if len(applied) == 2:
            assert applied[1] - applied[0] >= 0.4 - 0.01  # the second waited for the spacing
        count = len(applied)
        reloads.signalled()  # a lone signal once the spacing has passed is applied at once
        await asyncio.sleep(0.05)
        assert len(applied) == count + 1
        await reloads.close()

    run(body)


def test_a_file_that_does_not_validate_is_rejected_with_its_sentence_and_nothing_is_applied(tmp_path):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(ONE.format(socket=tmp_path / "s"))
    config = parse_config(path.read_text(), str(path))
    path.write_text(ONE.format(socket=tmp_path / "s").replace("priority: 150", "priority: 300"))
    called: list[ReloadPlan] = []

    async def apply(plan: ReloadPlan) -> None:
        called.append(plan)

    async def body() -> None:
        reloads = reloader_of(path, config, apply)
        outcome = await reloads.request()
        assert outcome.result == "rejected" and called == []
        assert outcome.error == f"{path}: instances[0].priority (line 3): 300 is outside 1..255"
        assert reloads.generation == 1 and reloads.status()["last_reload"]["error"] == outcome.error

    run(body)


def test_a_refused_plan_is_rejected_and_a_failure_midway_is_reported_with_what_was_applied(tmp_path):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(ONE.format(socket=tmp_path / "s"))
    config = parse_config(path.read_text(), str(path))
    path.write_text(TWO.format(socket=tmp_path / "s"))
    failures: list[Exception] = [ReloadRefused("eth9 does not exist"), OSError("netlink went away")]

    async def apply(plan: ReloadPlan) -> None:
        raise failures.pop(0)

    async def body() -> None:
        reloads = reloader_of(path, config, apply)
        refused = await reloads.request()
        assert (refused.result, refused.error, reloads.generation) == ("rejected", "eth9 does not exist", 1)
        midway = await reloads.request()
        assert (midway.result, midway.error, midway.added) == ("applied", "netlink went away", ("b",))
        assert reloads.generation == 2

    run(body)


def test_systemd_hears_reloading_then_ready_with_a_fresh_status(tmp_path, monkeypatch):
    sent: list[tuple[str, ...]] = []
    monkeypatch.setattr(sdnotify, "notify", lambda *fields: sent.append(fields) or True)
    path = tmp_path / "vrrpd.yaml"
    path.write_text(ONE.format(socket=tmp_path / "s"))
    config = parse_config(path.read_text(), str(path))

    async def apply(plan: ReloadPlan) -> None:
        assert sent[-1][0] == "RELOADING=1"  # while the plan is carried out

    async def body() -> None:
        await reloader_of(path, config, apply).request()

    run(body)
    assert [fields[0] for fields in sent] == ["RELOADING=1", "READY=1"]
    assert sent[0][1].startswith("MONOTONIC_USEC=") and sent[1][1] == "STATUS=1 master"


def test_a_daemon_reloads_its_file_and_reports_it_in_the_status(tmp_path):
    async def body() -> None:
        case = await started(ONE.format(socket="/unused"))
        try:
            socket = case.daemon.config.control_socket
            path = case.rundir / "vrrpd.yaml"
            path.write_text(ONE.format(socket=socket))
            case.daemon.reloader.path = path
            before = case.daemon.status()["config"]
            assert (before["path"], before["generation"], before["last_reload"]) == (str(path), 1, None)

            path.write_text(TWO.format(socket=socket))
            answer = await case.daemon.reload_request()
            assert answer["summary"] == "1 unchanged, 0 changed, 1 added, 0 removed"
            assert sorted(case.daemon.instances) == ["a", "b"]
            after = case.daemon.status()["config"]
            last = after["last_reload"]
            assert after["generation"] == 2 and {key: answer[key] for key in last} == last
            assert (last["result"], last["added"], last["changed"], last["removed"]) == ("applied", ["b"], [], [])
            json.dumps(case.daemon.status())

            path.write_text("instances: [")  # broken: the daemon keeps running what it runs
            with pytest.raises(ControlError, match="invalid YAML"):
                await case.daemon.reload_request()
            assert sorted(case.daemon.instances) == ["a", "b"]
            status = case.daemon.status()["config"]
            assert status["generation"] == 2 and status["last_reload"]["result"] == "rejected"
            assert status["reloads"] == {"applied": 1, "rejected": 1}  # the exporter's vrrpd_reloads_total
        finally:
            await case.stop()

    run(body)
