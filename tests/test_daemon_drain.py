"""`vrrpctl drain` / `vrrpctl resume` on a daemon over fakes (issue #15): the control commands and their refusals,
the state file across restarts and reloads, the status, and the drain, priority and reload events."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import shutil
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from pathlib import Path
from typing import Any

import pytest
from daemoncase import Case, started, until
from reloadcase import adverts

from vrrpd.cli.status import render_status
from vrrpd.protocol import Drain, State
from vrrpd.protocol.tracking import TrackState
from vrrpd.services.control import ControlError
from vrrpd.services.drainstate import DrainFile

TRUE = shutil.which("true")
INTERVAL = 0.05
MDI = 3 * INTERVAL + INTERVAL  # at most: Master_Down_Interval at any priority, 0.05 s adverts


def inst(name: str, vrid: int, priority: int = 200, **keys: object) -> str:
    keys = {
        "interface": "eth0",
        "vrid": vrid,
        "priority": priority,
        "advert_interval": INTERVAL,
        "virtual_addresses": f"[198.51.100.{100 + vrid}/24]",
        **keys,
    }
    return f"  - {{name: {name}, {', '.join(f'{k}: {v}' for k, v in keys.items())}}}\n"


CONFIG = (
    f"track_scripts:\n  chk: {{command: [{TRUE}]}}\n"
    "instances:\n"
    + inst("a", 1, track_scripts="[{name: chk, weight: -50}]")
    + inst("b", 2, priority=100)
    + inst("o", 3, priority=255)
    + inst("g1", 4)
    + inst("g2", 5)
    + "sync_groups:\n  g: {members: [g1, g2]}\n"
)


def run(body: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(body())


def drained_file(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / "drained.json").read_text())


def events(case: Case, event_type: str | None = None) -> list[dict[str, Any]]:
    return [e for e in case.daemon.notifier.events.recent(1000) if event_type is None or e["type"] == event_type]


def status_of(case: Case, name: str) -> dict[str, Any]:
    (found,) = [i for i in case.daemon.status()["instances"] if i["name"] == name]
    return found


def sent(case: Case, name: str) -> list[int]:
    """The priority of every advert instance `name` sent (its socket carries its neighbours' too)."""
    return [advert.priority for _, advert in adverts(case.sent(name), case.inst(name).config.vrid)]


def holds(case: Case, vip: str) -> bool:
    return case.netlink.holds(ip_address(vip))


async def masters(case: Case, *names: str) -> None:
    await until(lambda: all(case.inst(n).router.state is State.MASTER for n in names))


def test_a_drained_master_hands_over_with_priority_0_removes_its_addresses_and_stays_backup(tmp_path, caplog):
    caplog.set_level(logging.INFO, "vrrpd")

    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        try:
            await masters(case, "a", "b")
            await until(lambda: holds(case, "198.51.100.101"))
            answer = await case.daemon.drainer.drain({"names": ["a"]})
            assert answer == {"summary": "drained (hard): a", "changed": ["a"], "unchanged": []}
            router = case.inst("a").router
            # RFC 9568 §6.4.3: the shutdown advert, so the backups take over after Skew_Time.
            assert sent(case, "a")[-1] == 0 and router.state is State.BACKUP
            assert drained_file(tmp_path) == {"version": 1, "drained": {"a": "hard"}}
            await until(lambda: not holds(case, "198.51.100.101"))
            drain, transition = events(case)[-2:]
            assert (drain["type"], drain["name"], drain["mode"]) == ("drain", "a", "hard")
            assert drain["reason"] == "vrrpctl drain"
            assert (drain["vrid"], drain["interface"], drain["family"]) == (1, "eth0", "IPv4")
            assert (transition["type"], transition["old"], transition["new"]) == ("transition", "MASTER", "BACKUP")
            assert transition["reason"] == "drained: handed over with priority 0"

            # Alone on its VRID, it still never becomes Master, and says nobody serves the addresses.
            await asyncio.sleep(3 * MDI)
            assert router.state is State.BACKUP and not holds(case, "198.51.100.101")
            assert "nobody serves the virtual addresses" in caplog.text
            assert status_of(case, "a")["drained"] is True and status_of(case, "b")["drained"] is False
            text = render_status(case.daemon.status())
            assert "a: drained: never Master (vrrpctl resume a)" in text
            again = await case.daemon.drainer.drain({"names": ["a"]})
            assert again["summary"] == "already drained (hard): a" and len(events(case, "drain")) == 1

            answer = await case.daemon.drainer.resume({"names": ["a", "b"]})
            assert answer["summary"] == "resumed: a; not drained: b"
            assert drained_file(tmp_path) == {"version": 1, "drained": {}}
            assert events(case, "drain")[-1]["mode"] == "resumed"
            await masters(case, "a")  # nobody served: it takes over after Skew_Time
            await until(lambda: holds(case, "198.51.100.101"))
        finally:
            await case.stop()

    run(body)


def test_refused_drains_change_nothing(tmp_path):
    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        drainer = case.daemon.drainer
        try:
            await masters(case, "a", "o")
            refusals = {
                "o": "o is the address owner of VRID 3 (priority 255): no other router can take its addresses over, "
                "so it cannot be drained; nothing was drained",
                "zz": "no instance zz (instances: a, b, o, g1, g2); nothing was drained",
                "g1": "g1 is in sync group g, whose members are Master together or not at all: drain the sync group's "
                "members together: vrrpctl drain g1 g2 (g2 is missing); nothing was drained",
            }
            for name, sentence in refusals.items():
                with pytest.raises(ControlError) as refused:
                    await drainer.drain({"names": ["a", name]})
                assert str(refused.value) == sentence
            with pytest.raises(ControlError, match=r"o is the address owner .*\(--all: name the others to drain"):
                await drainer.drain({"all": True})
            with pytest.raises(ControlError, match="resume the sync group's members together: vrrpctl resume g1 g2"):
                await drainer.resume({"names": ["g2"]})
            bad = [{}, {"names": []}, {"names": "a"}, {"names": ["a"], "all": True}, {"all": 1}, {"bogus": 1}]
            for args in bad:
                with pytest.raises(ControlError, match=r"^drain: "):
                    await drainer.drain(args)
            with pytest.raises(ControlError, match="unknown argument 'soft'"):
                await drainer.resume({"names": ["a"], "soft": True})
            assert not (tmp_path / "drained.json").exists() and events(case, "drain") == []
            assert all(i.router.drain is None for i in case.daemon.instances.values())
            assert case.inst("a").router.state is State.MASTER

            # The whole group: both members hand over, and the group is held.
            assert (await drainer.drain({"names": ["g2", "g1"]}))["summary"] == "drained (hard): g2, g1"
            assert {case.inst(m).router.state for m in ("g1", "g2")} == {State.BACKUP}
            (group,) = case.daemon.status()["sync_groups"]
            assert group["held_by"] in ("member g1 is drained", "member g2 is drained")
        finally:
            await case.stop()

    run(body)


def test_a_drain_that_cannot_be_recorded_is_refused(tmp_path, monkeypatch):
    def full(self: DrainFile, drained: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        try:
            await masters(case, "a")
            monkeypatch.setattr(DrainFile, "save", full)
            with pytest.raises(ControlError) as refused:
                await case.daemon.drainer.drain({"names": ["a"]})
            assert str(refused.value) == (
                f"cannot record the drain in {tmp_path}/drained.json (No space left on device), so it would not "
                "survive a restart; nothing was drained"
            )
            assert case.inst("a").router.drain is None and case.inst("a").router.state is State.MASTER
        finally:
            await case.stop()

    run(body)


def test_the_drained_state_survives_a_restart(tmp_path):
    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        try:
            await masters(case, "a", "b")
            await case.daemon.drainer.drain({"names": ["b"]})
            await case.daemon.drainer.drain({"names": ["a"], "soft": True})
            assert drained_file(tmp_path) == {"version": 1, "drained": {"a": "soft", "b": "hard"}}
        finally:
            await case.stop()

        case = await started(CONFIG, state_dir=tmp_path)
        try:
            a, b = case.inst("a").router, case.inst("b").router
            assert (a.drain, b.drain) == (Drain.SOFT, Drain.HARD)
            reasons = {e["name"]: (e["mode"], e["reason"]) for e in events(case, "drain")}
            why = f"state file {tmp_path}/drained.json; vrrpd started"
            assert reasons == {"a": ("soft", why), "b": ("hard", why)}
            # Drained before its Startup event: the first transition is to BACKUP, and b never leaves it.
            first = next(e for e in events(case, "transition") if e["name"] == "b")
            assert (first["old"], first["new"]) == ("INITIALIZE", "BACKUP")
            await masters(case, "a")  # soft, and nobody else on its VRID: it serves, standing with priority 1
            assert sent(case, "a")[-1] == 1
            await asyncio.sleep(3 * MDI)
            assert b.state is State.BACKUP and b.counters.became_master == 0
            assert (status_of(case, "a")["drained"], status_of(case, "b")["drained"]) == ("soft", True)
            text = render_status(case.daemon.status())
            assert "a: drained (soft): Master only while no other router is heard" in text
        finally:
            await case.stop()

    run(body)


def test_an_unreadable_state_file_is_an_error_and_drains_nothing(tmp_path, caplog):
    (tmp_path / "drained.json").write_text('{"version": 1, "drained": {"a": "sideways"}}')

    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        try:
            error = f"{tmp_path}/drained.json: instance 'a' is drained 'sideways', which is neither "
            error += '"hard" nor "soft"'
            assert case.daemon.status()["drain_state"] == {"path": f"{tmp_path}/drained.json", "error": error}
            assert f"{error}; starting with no instance drained from it" in caplog.text
            await masters(case, "a")
            await case.daemon.drainer.drain({"names": ["b"]})
            assert drained_file(tmp_path) == {"version": 1, "drained": {"b": "hard"}}
            assert case.daemon.status()["drain_state"]["error"] is None
            assert "written anew, replacing the one that could not be used" in caplog.text
        finally:
            await case.stop()

    run(body)


def test_reloads_keep_drains_and_the_file_drops_what_the_configuration_no_longer_has(tmp_path):
    two = "instances:\n" + inst("a", 1) + inst("b", 2) + inst("c", 3, priority=100)

    async def body() -> None:
        case = await started(two, state_dir=tmp_path)
        daemon = case.daemon
        path = case.rundir / "vrrpd.yaml"
        socket = f"control_socket: {daemon.config.control_socket}\n"
        try:
            path.write_text(socket + two)
            daemon.reloader.path = path
            await masters(case, "a", "b", "c")
            await daemon.drainer.drain({"names": ["a", "b", "c"]})
            router_a = case.inst("a").router

            # a changed in place (same router, still drained), b removed, c becomes an address owner, d added.
            changed = inst("a", 1, priority=150) + inst("c", 3, priority=255) + inst("d", 4)
            path.write_text(socket + "instances:\n" + changed)
            assert (await daemon.reload_request())["summary"] == "0 unchanged, 2 changed, 1 added, 1 removed"
            assert case.inst("a").router is router_a and router_a.drain is Drain.HARD
            assert case.inst("c").router.drain is None and case.inst("d").router.drain is None
            assert drained_file(tmp_path) == {"version": 1, "drained": {"a": "hard"}}

            # a re-created (its VRID changes): the new router is drained before it starts.
            path.write_text(socket + "instances:\n" + inst("a", 11, priority=150) + inst("c", 3, priority=255))
            await daemon.reload_request()
            assert case.inst("a").router is not router_a and case.inst("a").router.drain is Drain.HARD
            assert events(case, "drain")[-1]["reason"] == f"state file {tmp_path}/drained.json; a reload (re)created it"
            await asyncio.sleep(3 * MDI)
            assert case.inst("a").router.state is State.BACKUP

            path.write_text("instances: [")
            with pytest.raises(ControlError):
                await daemon.reload_request()
            reloads = [{k: e[k] for k in list(e)[4:]} for e in events(case, "reload")]
            assert reloads[0] == {
                "result": "applied",
                "error": None,
                "generation": 2,
                "unchanged": 0,
                "changed": 2,
                "added": 1,
                "removed": 1,
            }
            assert (reloads[1]["result"], reloads[1]["changed"], reloads[1]["removed"]) == ("applied", 1, 1)
            assert reloads[2]["result"] == "rejected" and "invalid YAML" in reloads[2]["error"]
            assert reloads[2]["generation"] == 3
        finally:
            await case.stop()

    run(body)


def test_priority_events_name_what_moved_the_priority(tmp_path):
    async def body() -> None:
        case = await started(CONFIG, state_dir=tmp_path)
        try:
            await masters(case, "a")
            assert events(case, "priority") == []  # none before the routers run, nor while nothing moves
            case.daemon.monitors.on_script("chk", TrackState.DOWN)
            case.daemon.monitors.on_script("chk", TrackState.UP)
            found = [{k: e[k] for k in list(e)[4:]} for e in events(case, "priority")]
            common = {"kind": "instance", "name": "a", "vrid": 1, "interface": "eth0", "family": "IPv4"}
            assert found == [
                {**common, "old": 200, "new": 150, "reason": "base 200, track script chk down -50"},
                {**common, "old": 150, "new": 200, "reason": "base 200"},
            ]
            assert next(list(e)[4:] for e in events(case, "priority")) == [
                "kind",
                "name",
                "old",
                "new",
                "reason",
                "vrid",
                "interface",
                "family",
            ]
        finally:
            await case.stop()

    run(body)
