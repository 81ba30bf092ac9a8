"""A reload that cannot work changes nothing (the preflight), one that fails midway still does the rest, and a
reload of many unchanged instances costs them nothing (issue #11), without root."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from daemoncase import SOURCE, Case, daemon_on_fakes
from reloadcase import TRUE, Watch, document, fake_netlink, instance, masters, reload, run

from vrrpd.config import parse_config
from vrrpd.config.reload import Change, plan_reload
from vrrpd.daemon import reload as reload_module
from vrrpd.daemon.reload import ReloadIncomplete, ReloadRefused, apply_plan
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import Family, State

A_VIP, B_VIP, C_VIP = (f"198.51.100.10{n}/24" for n in range(1, 4))
ETH1_VIP = "203.0.113.3/24"
HEAD = f"track_scripts:\n  chk: {{command: [{TRUE}], interval: 60}}\n"


def base(out: Path, *more: str, **a: object) -> str:
    return document(instance(out, "a", 1, A_VIP, **a), instance(out, "b", 2, B_VIP), *more, head=HEAD)


UNICAST = {"unicast_peers": "[198.51.100.200]"}


def world_writable_script(out: Path) -> str:
    """A script in a directory anyone can write to: anyone could replace what vrrpd runs as root."""
    directory = out / "ww"
    directory.mkdir(exist_ok=True)
    directory.chmod(0o777)
    script = directory / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return str(script)


REFUSED: dict[str, tuple[dict[str, object], Callable[[Path], str], str]] = {
    # name: (keys of a in the running file, the new file, how the refusal begins)
    "interface": (
        {},
        lambda out: base(out, instance(out, "c", 3, C_VIP, interface="eth9"), priority=150),
        "cannot reload: instance c: interface eth9: not found",
    ),
    "hook user": (
        {},
        lambda out: base(
            out, instance(out, "c", 3, ETH1_VIP, interface="eth1", notify=f"{{notify: [{TRUE}], user: nosuchuser-x}}")
        ),
        "cannot reload: instance c: notify.user: no such user 'nosuchuser-x'",
    ),
    "script user": (
        {},
        lambda out: base(out, priority=150, track_scripts="[{name: chk, weight: -10}]").replace(
            "interval: 60}", "interval: 60, user: nosuchuser-x}"
        ),
        "cannot reload: track script chk: no such user 'nosuchuser-x'",
    ),
    "insecure script": (
        {},
        lambda out: base(out, priority=150, track_scripts="[{name: chk, weight: -10}]").replace(
            f"[{TRUE}]", f"[{world_writable_script(out)}]"
        ),
        "cannot reload: vrrpd.yaml: track_scripts.chk.command (line 2): ",
    ),
    "missing hook": (
        {},
        lambda out: base(
            out, instance(out, "c", 3, ETH1_VIP, interface="eth1", notify="{on_master: [/nonexistent/x]}")
        ),
        "cannot reload: vrrpd.yaml: instances[2].notify.on_master (line 6): '/nonexistent/x' does not exist",
    ),
    "mtu": (
        {},
        lambda out: base(out, virtual_addresses="[" + ", ".join(f"198.51.100.{n}/24" for n in range(21, 51)) + "]"),
        "cannot reload: instance a: its advertisement would be 148 bytes with 30 addresses, more than eth0's MTU"
        " of 120",
    ),
    "unicast": (
        UNICAST,
        lambda out: base(out, unicast_peers=f"[{SOURCE}]"),
        f"cannot reload: instance a: every unicast peer ({SOURCE}) is an address of this host",
    ),
}


@pytest.mark.parametrize("case_name", list(REFUSED))
def test_a_reload_the_preflight_refuses_changes_nothing(tmp_path: Path, case_name: str) -> None:
    """The preflight (start-up's own checks, read only): a missing interface, a hooks' or script's user that does
    not exist, a script anyone may replace, a hook that does not exist, an advert larger than the MTU, unicast peers
    that are all this host's own. A refused reload is one
    sentence, and the daemon runs on exactly as before, every instance (a, whose priority some of these files
    change as well) untouched: no netlink call, no socket opened, no monitor, router or configuration changed."""
    running, text, message = REFUSED[case_name]

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        config, opened, calls = case.daemon.config, len(case.sockets.opened), len(case.netlink.calls)
        monitors, routers = (
            dict(case.daemon.monitors.scripts),
            {n: i.router.config for n, i in case.daemon.instances.items()},
        )
        watches = [Watch(case, name, tmp_path) for name in "ab"]
        with pytest.raises(ReloadRefused) as info:
            await reload(case, text(tmp_path))
        assert str(info.value).startswith(message) and str(info.value).endswith("; nothing was changed")
        assert case.daemon.config is config and len(case.sockets.opened) == opened and len(case.netlink.calls) == calls
        assert case.daemon.monitors.scripts == monitors
        assert {n: i.router.config for n, i in case.daemon.instances.items()} == routers
        for watch in watches:
            await watch.check()

    netlink = fake_netlink(eth0_mtu=120 if case_name == "mtu" else 1500)
    run(base(tmp_path, **running), body, netlink=netlink)


@contextlib.contextmanager
def eth1_gone_after_the_preflight(case: Case) -> Iterator[None]:
    """The race a preflight cannot see: eth1 goes away once the preflight has found it there."""
    real = reload_module.preflight

    async def racing(daemon: Any, plan: Any) -> Any:
        checked = await real(daemon, plan)
        case.netlink.remove_link("eth1")
        return checked

    reload_module.preflight = racing
    try:
        yield
    finally:
        reload_module.preflight = real


def test_an_instance_that_fails_to_start_after_the_preflight_is_left_out_and_the_rest_is_done(tmp_path: Path) -> None:
    """The race the preflight cannot see (eth1 goes away between the preflight and c's start): a's change is
    made, c is not running and not in the configuration, ReloadIncomplete names it; the next reload, once eth1 is
    back, adds it."""
    new = base(tmp_path, instance(tmp_path, "c", 3, ETH1_VIP, interface="eth1"), priority=150)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        watch = Watch(case, "b", tmp_path)
        with eth1_gone_after_the_preflight(case), pytest.raises(ReloadIncomplete) as info:
            await reload(case, new)
        assert str(info.value).startswith("reloaded, except for instance c (interface eth1: not found")
        assert info.value.failed.keys() == {"c"}
        assert "c" not in case.daemon.instances and [c.name for c in case.daemon.config.instances] == ["a", "b"]
        assert case.inst("a").router.priority == 150 and case.inst("a").router.state is State.MASTER
        case.netlink.add_link("eth1", addresses=["203.0.113.11/24"])
        plan = await reload(case, new)
        assert [(p.name, p.change) for p in plan.instances if p.change is not Change.UNCHANGED] == [("c", Change.ADDED)]
        await masters(case, tmp_path, "c")
        await watch.check()

    run(base(tmp_path), body)


def test_a_sync_group_one_of_whose_members_fails_to_start_is_left_out_whole(tmp_path: Path) -> None:
    """A group never runs with some members only: c fails (eth1 went away after the preflight), so d, built, is
    taken apart again without ever starting, and neither the group nor its members are in the configuration."""
    c, d = instance(tmp_path, "c", 3, ETH1_VIP, interface="eth1"), instance(tmp_path, "d", 4, C_VIP)
    new = base(tmp_path, c, d) + "sync_groups:\n  g: {members: [c, d]}\n"

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        watches = [Watch(case, name, tmp_path) for name in "ab"]
        with eth1_gone_after_the_preflight(case), pytest.raises(ReloadIncomplete) as info:
            await reload(case, new)
        assert info.value.failed == {
            "c": "interface eth1: not found ([Errno 19] No such device)",
            "d": "sync group g: its member c could not start",
        }
        assert set(case.daemon.instances) == {"a", "b"} and case.daemon.sync.groups == {}
        assert case.daemon.config.sync_groups == () and [c.name for c in case.daemon.config.instances] == ["a", "b"]
        assert ("eth1", Family.IPV4) not in case.daemon.links and case.daemon.links[
            ("eth0", Family.IPV4)
        ].routers.keys() == {1, 2}
        for watch in watches:
            await watch.check()

    run(base(tmp_path), body)


def test_a_thousand_instances_mostly_unchanged_cost_the_loop_next_to_nothing(tmp_path: Path) -> None:
    """One changed instance among 1000: the reload takes a few milliseconds, and no other instance's router gets
    an input, a new deadline or a new configuration object from it."""
    fake = FakeNetlink()
    for k in range(4):
        fake.add_link(f"eth{k}", addresses=[f"192.0.2.{k + 1}/24"])

    def text(priority: int) -> str:
        rows = [
            f"  - {{name: i{i}, interface: eth{i // 250}, vrid: {i % 250 + 1}, priority: {priority if i == 0 else 100},"
            f" virtual_addresses: [10.{i // 250}.{i % 250}.1/32]}}"
            for i in range(1000)
        ]
        return "instances:\n" + "\n".join(rows) + "\n"

    async def body() -> None:
        case = daemon_on_fakes(parse_config(text(100)), fake)
        await case.daemon.start()
        try:
            daemon = case.daemon
            new = dataclasses.replace(parse_config(text(150)), control_socket=daemon.config.control_socket)
            plan = plan_reload(daemon.config, new)
            assert plan.summary() == "999 unchanged, 1 changed, 0 added, 0 removed"
            fed: list[str] = []
            armed: list[str] = []
            feed, arm = daemon.driver.feed, daemon.scheduler.set  # type: ignore[union-attr]
            daemon.driver.feed = lambda inst, event, now=None: (fed.append(inst.name), feed(inst, event, now))[1]  # type: ignore[method-assign]
            daemon.scheduler.set = lambda key, deadline: (armed.append(key), arm(key, deadline))[1]  # type: ignore[method-assign,union-attr]
            routers = {name: inst.router.config for name, inst in daemon.instances.items()}
            started = time.monotonic()
            await apply_plan(daemon, plan)
            assert time.monotonic() - started < 0.25
            assert set(fed) == {"i0"} and set(armed) <= {"i0"}
            assert all(inst.router.config is routers[name] for name, inst in daemon.instances.items() if name != "i0")
            assert daemon.instances["i0"].router.priority == 150 and daemon.config is not None
        finally:
            await case.stop()

    asyncio.run(body())
