"""A reload of trackers and sync groups on a running daemon (issue #11), without root: trackers keep their states
across the reload, monitors start and stop with their users, a sync group is re-created with its members when they
change and keeps them running when only its own trackers or hooks do. docs/reload.md names the rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from daemoncase import Case, until
from reloadcase import FALSE, TRUE, Watch, adverts, document, instance, lines, masters, reload, run

from vrrpd.config.reload import Change
from vrrpd.protocol import PriorityChanged, State
from vrrpd.protocol.tracking import TrackerKind, TrackState

A_VIP, B_VIP, C_VIP, D_VIP = (f"198.51.100.10{n}/24" for n in range(1, 5))


def scripts(**commands: str) -> str:
    return "track_scripts:\n" + "".join(
        f"  {name}: {{command: [{cmd}], interval: 60}}\n" for name, cmd in commands.items()
    )


def test_an_instances_trackers_changed_keep_the_states_of_those_kept(tmp_path: Path) -> None:
    """Rows `track_scripts` and `track_interfaces` (per instance), Master: a failing script's weight changes and an
    interface tracker comes; the script's state is kept (no return to unknown, no run), the interface's is read,
    and the new effective priority reaches the router at once (PriorityChanged, advertised); the state stays."""
    head = scripts(chk_a=FALSE)
    old = document(
        instance(tmp_path, "a", 1, A_VIP, track_scripts="[{name: chk_a, weight: -10}]"),
        instance(tmp_path, "b", 2, B_VIP),
        head=head,
    )
    new = old.replace(
        "track_scripts: [{name: chk_a, weight: -10}]",
        "track_scripts: [{name: chk_a, weight: -20}], track_interfaces: [{interface: eth1, weight: 5}]",
    )

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, monitor = case.inst("a"), case.daemon.monitors.scripts["chk_a"]
        await until(lambda: a.router.priority == 190)
        router, fed, watch = a.router, [], Watch(case, "b", tmp_path)
        feed = case.daemon.driver.feed
        case.daemon.driver.feed = lambda inst, event, now=None: (
            fed.append((inst.name, event)),
            feed(inst, event, now),
        )[1]  # type: ignore[method-assign]
        plan = await reload(case, new)
        assert [(p.name, p.keys) for p in plan.of(Change.CHANGED)] == [("a", ("track_scripts", "track_interfaces"))]
        assert a.router is router and router.state is State.MASTER and router.priority == 185
        assert a.tracking.states[(TrackerKind.SCRIPT, "chk_a")] is TrackState.DOWN
        assert a.tracking.states[(TrackerKind.INTERFACE, "eth1")] is TrackState.UP
        assert ("a", PriorityChanged(185)) in fed and case.daemon.monitors.scripts["chk_a"] is monitor
        assert monitor.counters.runs == 1 and adverts(case.sent("a"), 1)[-1][1].priority == 185
        await watch.check()

    run(old, body)


def test_a_script_a_reload_starts_using_gets_a_monitor_and_one_nobody_uses_stops(tmp_path: Path) -> None:
    """Row `track_scripts` (top level), added and removed: chk_new runs once a uses it, chk_old stops once a no
    longer does; b, whose script is untouched, never notices."""
    head = scripts(chk_old=TRUE, chk_b=TRUE)
    old = document(
        instance(tmp_path, "a", 1, A_VIP, track_scripts="[{name: chk_old, weight: -10}]"),
        instance(tmp_path, "b", 2, B_VIP, track_scripts="[{name: chk_b, weight: -10}]"),
        head=head,
    )
    new = old.replace("chk_old: {command", "chk_new: {command").replace("name: chk_old", "name: chk_new")

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        monitors = case.daemon.monitors
        await until(lambda: all(m.counters.runs == 1 for m in monitors.scripts.values()))
        gone, kept, watch = monitors.scripts["chk_old"], monitors.scripts["chk_b"], Watch(case, "b", tmp_path)
        await reload(case, new)
        assert set(monitors.scripts) == {"chk_new", "chk_b"} and not gone.started and monitors.scripts["chk_b"] is kept
        await until(lambda: monitors.scripts["chk_new"].counters.runs == 1)
        assert case.inst("a").tracking.states == {
            (TrackerKind.INTERFACE, "eth0"): TrackState.UP,
            (TrackerKind.SCRIPT, "chk_new"): TrackState.UP,
        }
        await watch.check()

    run(old, body)


def test_track_files_changed_added_and_removed(tmp_path: Path) -> None:
    """Row `track_files`: a changed definition's monitor restarts and reads at once (its value reaches the
    instance); a file nobody tracks any more stops being read; b never notices."""
    (tmp_path / "one").write_text("1\n")
    (tmp_path / "three").write_text("3\n")
    (tmp_path / "two").write_text("2\n")
    files = (
        "track_files:\n"
        f"  f: {{path: {tmp_path}/one, on_missing: fault, interval: 60}}\n"
        f"  g: {{path: {tmp_path}/two, on_missing: fault, interval: 60}}\n"
    )
    old = document(
        instance(tmp_path, "a", 1, A_VIP, track_files="[{name: f, weight: -10}, {name: g, weight: -1}]"),
        instance(tmp_path, "b", 2, B_VIP),
        head=files,
    )
    new = old.replace(f"{tmp_path}/one", f"{tmp_path}/three").replace(", {name: g, weight: -1}", "")
    new = new.replace(f"  g: {{path: {tmp_path}/two, on_missing: fault, interval: 60}}\n", "")

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        a, monitors = case.inst("a"), case.daemon.monitors
        assert a.router.priority == 200 - 10 - 2
        old_f, old_g, watch = monitors.files["f"], monitors.files["g"], Watch(case, "b", tmp_path)
        await reload(case, new)
        assert set(monitors.files) == {"f"} and monitors.files["f"] is not old_f and monitors.files["f"].effective == 3
        assert not old_f.started and not old_g.started and monitors.files["f"].started
        assert a.router.priority == 200 - 30 and a.router.state is State.MASTER
        await watch.check()

    run(old, body)


def group(members: str, extra: str = "") -> str:
    return f"sync_groups:\n  g: {{members: [{members}]{extra}}}\n"


def test_a_sync_group_whose_members_change_is_re_created_with_all_of_them(tmp_path: Path) -> None:
    """Row `sync_groups.members`: g [a, c] becomes g [a, d]: a and c stop as at shutdown (priority 0, VIPs
    removed, on_stop; the group's STOP), g is built again over a and d, which start and go Master together; c
    runs on alone; b, in no group, never notices."""
    a, b, c, d = (
        instance(tmp_path, n, i, v) for n, i, v in (("a", 1, A_VIP), ("b", 2, B_VIP), ("c", 3, C_VIP), ("d", 4, D_VIP))
    )
    old = document(a, b, c) + group("a, c")
    new = document(a, b, c, d) + group("a, d")

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b", "c")
        before = {name: case.inst(name).router for name in "ac"}
        watch = Watch(case, "b", tmp_path)
        plan = await reload(case, new)
        assert {p.name: p.change for p in plan.instances} == {
            "a": Change.RECREATED,
            "b": Change.UNCHANGED,
            "c": Change.RECREATED,
            "d": Change.ADDED,
        }
        assert adverts(case.sent("b"), 1)[-1][1].priority == 0 and adverts(case.sent("b"), 3)[-1][1].priority == 0
        sync = case.daemon.sync
        assert set(sync.groups["g"].members) == {"a", "d"} and sync.of("c") is None
        assert all(case.inst(name).router is not router for name, router in before.items())
        await masters(case, tmp_path, "a", "d")
        await until(lambda: case.inst("c").router.state is State.MASTER)
        assert sync.groups["g"].state is State.MASTER
        assert lines(tmp_path / "c")[:3] == ["c INITIALIZE BACKUP", "c BACKUP MASTER", "c MASTER STOP"]
        assert [g.members for g in case.daemon.config.sync_groups] == [("a", "d")]
        await watch.check()

    run(old, body)


def test_a_sync_group_whose_trackers_and_hooks_change_keeps_its_members_running(tmp_path: Path) -> None:
    """Rows `sync_groups.track_interfaces`, `sync_groups.track_scripts`, `sync_groups.notify`: the group gets the
    new trackers (an interface's state read at once, a script's monitor started) and hooks; its members keep their
    routers, state and timers (they never notice); a failing tracker then holds the group as it would have had it
    always been there (every member leaves Master, priority 0)."""
    a, b, c = (instance(tmp_path, n, i, v) for n, i, v in (("a", 1, A_VIP), ("b", 2, B_VIP), ("c", 3, C_VIP)))
    old = document(a, b, c, head=scripts(chk=TRUE)) + group("a, c")
    out = tmp_path / "group"
    hook = f'{{on_fault: [{TRUE}], notify: [sh, -c, "echo $VRRPD_NAME $VRRPD_STATE >> {out}"]}}'
    trackers = (
        "track_interfaces: [{interface: eth1, on_failure: fault}], track_scripts: [{name: chk, on_failure: fault}]"
    )
    new = document(a, b, c, head=scripts(chk=TRUE)) + group("a, c", f", {trackers}, notify: {hook}")

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b", "c")
        sync = case.daemon.sync.groups["g"]
        await until(lambda: sync.state is State.MASTER)
        watches = [Watch(case, name, tmp_path) for name in "abc"]
        plan = await reload(case, new)
        assert [p.change for p in plan.instances] == [Change.UNCHANGED] * 3 and plan.groups_recreated == ()
        assert case.daemon.sync.groups["g"] is sync and sync.state is State.MASTER
        assert sync.tracking.states[(TrackerKind.INTERFACE, "eth1")] is TrackState.UP
        monitor = case.daemon.monitors.scripts["chk"]  # its first user: made and started by the reload
        await until(lambda: sync.tracking.states[(TrackerKind.SCRIPT, "chk")] is TrackState.UP)
        assert monitor.started and sync.state is State.MASTER
        status = case.daemon.notifier.status("group", "g")
        assert status is not None and status["hooks"] == ["on_fault", "notify"]
        for watch in watches:
            await watch.check()
        case.netlink.set_up("eth1", False)
        assert {case.inst(n).router.state for n in "ac"} == {State.BACKUP} and sync.state is State.FAULT
        await until(lambda: lines(out) == ["g FAULT"])

    run(old, body)


@pytest.mark.parametrize("direction", ["added", "removed"])
def test_a_sync_group_added_or_removed_re_creates_its_members(tmp_path: Path, direction: str) -> None:
    """Row `sync_groups` (a group added, or removed): its members stop as at shutdown and start again, in the
    group or on their own; b, in no group, never notices."""
    a, b, c = (instance(tmp_path, n, i, v) for n, i, v in (("a", 1, A_VIP), ("b", 2, B_VIP), ("c", 3, C_VIP)))
    alone, grouped = document(a, b, c), document(a, b, c) + group("a, c")
    old, new = (alone, grouped) if direction == "added" else (grouped, alone)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b", "c")
        watch, routers = Watch(case, "b", tmp_path), {n: case.inst(n).router for n in "ac"}
        plan = await reload(case, new)
        assert {p.name: p.change for p in plan.instances if p.change is not Change.UNCHANGED} == {
            "a": Change.RECREATED,
            "c": Change.RECREATED,
        }
        assert all(case.inst(n).router is not routers[n] for n in "ac")
        assert set(case.daemon.sync.groups) == ({"g"} if direction == "added" else set())
        await until(lambda: all(len(lines(tmp_path / n)) >= 5 for n in "ac"))
        assert all(
            lines(tmp_path / n)[2:] == [f"{n} MASTER STOP", f"{n} INITIALIZE BACKUP", f"{n} BACKUP MASTER"]
            for n in "ac"
        )
        await watch.check()

    run(old, body)
