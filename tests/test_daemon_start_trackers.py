"""Start-up with fault trackers (issue #12, rule 5): a starting instance waits in FAULT for its `on_failure: fault`
scripts' first result, as keepalived 2.2.7 does (vrrp_track.c `initialise_track_script_state` counts a weight-0
script still in its init state in `num_script_init`; vrrp_scheduler.c `vrrp_init_state` keeps such an instance in
FAULT "(init)" and vrrp_track.c `process_script_update_priority` lets it up once the script has spoken). Before,
vrrpd took the VIP after Master_Down_Interval and dropped it when the check failed seconds later: a VIP flap at
every start.

`started` holds the monitors (daemoncase): the test plays each script's first result."""

from __future__ import annotations

import asyncio
import shutil
import textwrap
from ipaddress import ip_address
from pathlib import Path

import pytest
from daemoncase import SOURCE, Case, priorities, started, until
from reloadcase import FALSE, TRUE, document, instance, masters, reload, run

from vrrpd.cli.status import render_status
from vrrpd.config import parse_config
from vrrpd.importer import import_keepalived
from vrrpd.net.fakes import FakeNetlink
from vrrpd.protocol import State, TimerExpired
from vrrpd.protocol.tracking import TrackerKind, TrackState

VIP = ip_address("198.51.100.100")
WAITING = "track script chk has not reported yet"


def config(priority: int = 200, tracker: str = "{name: chk, on_failure: fault}", script: str = "") -> str:
    address = "198.51.100.100/24" if priority != 255 else f"{SOURCE}/24"
    return textwrap.dedent(f"""\
        control_socket: /tmp/vrrpd-test-unused.sock
        track_scripts:
          chk: {{command: [/bin/true]{script}}}
        instances:
          - name: gw
            interface: eth0
            vrid: 51
            priority: {priority}
            virtual_addresses: [{address}]
            track_scripts: [{tracker}]
        """)


async def make(text: str) -> Case:
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=[f"{SOURCE}/24"])
    return await started(parse_config(text), fake)


def test_a_fault_script_not_reported_yet_holds_the_start_in_fault_then_a_pass_starts_a_backup() -> None:
    """(a) FAULT, with its reason in `vrrpctl status`, no advert and no VIP, whatever the time; (b) the first pass
    is a normal start from FAULT recovery (RFC 9568 §6.4.1: a non-owner becomes Backup with
    Master_Down_Timer = Master_Down_Interval), then Master when that timer expires."""

    async def body() -> None:
        case = await make(config())
        daemon, inst, tx = case.daemon, case.inst("gw"), case.sent("gw")
        router = inst.router
        assert router.state is State.FAULT and router.fault_reason == WAITING
        assert router.counters.transitions == 1  # INITIALIZE -> FAULT, never through BACKUP
        daemon.driver.feed(inst, TimerExpired(), now=1e9)  # no Master_Down_Timer runs in FAULT
        assert router.state is State.FAULT and priorities(tx) == [] and not case.netlink.holds(VIP)
        status = daemon.status()
        (gw,) = status["instances"]
        assert gw["state"] == "FAULT" and gw["fault_reason"] == WAITING
        assert WAITING in render_status(status)
        (chk,) = [t for t in gw["trackers"] if t["name"] == "chk"]
        assert chk["state"] == "unknown"

        now = asyncio.get_running_loop().time()
        daemon.monitors.on_script("chk", TrackState.UP)
        assert router.state is State.BACKUP and router.fault_reason is None
        assert router.master_down_at == pytest.approx(now + router.master_down_interval, abs=0.5)
        assert priorities(tx) == [] and not case.netlink.holds(VIP)
        daemon.driver.feed(inst, TimerExpired(), now=1e9)
        assert router.state is State.MASTER and priorities(tx) == [200]
        await until(lambda: case.netlink.holds(VIP))
        await case.stop()

    asyncio.run(body())


def test_an_owner_waits_for_its_fault_script_then_starts_as_master() -> None:
    """(b) for the address owner: RFC 9568 §6.4.1, priority 255 goes straight to Master, once the script passed."""

    async def body() -> None:
        case = await make(config(priority=255))
        daemon, router, tx = case.daemon, case.inst("gw").router, case.sent("gw")
        assert router.state is State.FAULT and router.fault_reason == WAITING and priorities(tx) == []
        daemon.monitors.on_script("chk", TrackState.UP)
        assert router.state is State.MASTER and priorities(tx) == [255]
        await case.stop()

    asyncio.run(body())


def test_a_first_failure_keeps_the_fault_with_the_usual_reason() -> None:
    """(c) keepalived: `down_instance` at the first failure; the instance never left FAULT."""

    async def body() -> None:
        case = await make(config())
        daemon, router, tx = case.daemon, case.inst("gw").router, case.sent("gw")
        daemon.monitors.on_script("chk", TrackState.DOWN)
        assert router.state is State.FAULT and router.fault_reason == "track script chk failed"
        assert router.counters.transitions == 1 and priorities(tx) == []
        await case.stop()

    asyncio.run(body())


def test_a_weighted_script_does_not_hold_the_start_and_adds_nothing_before_it_reports() -> None:
    """keepalived 2.2.7 `initialise_track_script_state`: a weighted script in its init state changes nothing, so
    the instance starts as Backup at its base priority; the first result applies the weight."""

    async def body() -> None:
        case = await make(config(tracker="{name: chk, weight: 20}"))
        daemon, router = case.daemon, case.inst("gw").router
        assert router.state is State.BACKUP and router.priority == 200
        daemon.monitors.on_script("chk", TrackState.UP)
        assert router.priority == 220
        await case.stop()

    asyncio.run(body())


@pytest.mark.parametrize(
    ("tracker", "state", "priority", "reason"),
    [
        ("{name: chk, on_failure: fault}", State.FAULT, 200, "track script chk failed"),
        ("{name: chk, weight: -150}", State.BACKUP, 50, None),
        ("{name: chk, weight: 20}", State.BACKUP, 200, None),
    ],
)
def test_initial_state_down_counts_the_script_as_failed_from_the_start(
    tracker: str, state: State, priority: int, reason: str | None
) -> None:
    """keepalived's `init_fail` (vrrp_parser.c; vrrp_scheduler.c `vrrp_init_script` starts its result at 0, and
    `initialise_track_script_state` applies it: FAULT for weight 0, the negative weight, no positive weight)."""

    async def body() -> None:
        case = await make(config(tracker=tracker, script=", initial_state: down"))
        router = case.inst("gw").router
        assert case.daemon.monitors.scripts["chk"].state is TrackState.DOWN
        assert (router.state, router.priority, router.fault_reason) == (state, priority, reason)
        await case.stop()

    asyncio.run(body())


def test_a_group_script_not_reported_yet_holds_the_group() -> None:
    """keepalived 2.2.7 holds a sync group while a member waits for a script (`num_member_init`); vrrpd's group
    scripts hold their group the same way (group FAULT, members Backup: nothing sent, no VIP)."""
    text = textwrap.dedent("""\
        control_socket: /tmp/vrrpd-test-unused.sock
        track_scripts:
          chk: {command: [/bin/true]}
        instances:
          - {name: gw4, interface: eth0, vrid: 51, priority: 200, virtual_addresses: [198.51.100.100/24]}
          - {name: gw5, interface: eth0, vrid: 52, priority: 200, virtual_addresses: [198.51.100.101/24]}
        sync_groups:
          gw:
            members: [gw4, gw5]
            track_scripts: [{name: chk, on_failure: fault}]
        """)

    async def body() -> None:
        case = await make(text)
        daemon, insts = case.daemon, case.daemon.instances
        (group,) = daemon.status()["sync_groups"]
        assert group["state"] == "FAULT" and group["held_by"] == WAITING
        for name in insts:
            daemon.driver.feed(insts[name], TimerExpired(), now=1e9)
        assert {i.router.state for i in insts.values()} == {State.BACKUP}
        assert not case.netlink.holds(VIP)
        daemon.monitors.on_script("chk", TrackState.UP)  # both members' elections already say Master
        (group,) = daemon.status()["sync_groups"]
        assert group["state"] == "MASTER" and group["held_by"] is None
        assert {i.router.state for i in insts.values()} == {State.MASTER}
        await case.stop()

    asyncio.run(body())


def test_a_member_script_not_reported_yet_holds_its_group() -> None:
    """A member's own fault script: that member is FAULT, so its group is held (keepalived's `num_member_init`)."""
    text = textwrap.dedent("""\
        control_socket: /tmp/vrrpd-test-unused.sock
        track_scripts:
          chk: {command: [/bin/true]}
        instances:
          - name: gw4
            interface: eth0
            vrid: 51
            priority: 200
            virtual_addresses: [198.51.100.100/24]
            track_scripts: [{name: chk, on_failure: fault}]
          - {name: gw5, interface: eth0, vrid: 52, priority: 200, virtual_addresses: [198.51.100.101/24]}
        sync_groups:
          gw: {members: [gw4, gw5]}
        """)

    async def body() -> None:
        case = await make(text)
        daemon, insts = case.daemon, case.daemon.instances
        daemon.driver.feed(insts["gw5"], TimerExpired(), now=1e9)
        assert insts["gw4"].router.state is State.FAULT and insts["gw5"].router.state is State.BACKUP
        (group,) = daemon.status()["sync_groups"]
        assert group["held_by"] == f"member gw4 is in FAULT ({WAITING})"
        await case.stop()

    asyncio.run(body())


def test_a_reload_adding_a_fault_script_leaves_a_running_master_until_the_script_fails(tmp_path: Path) -> None:
    """docs/reload.md, row `track_scripts` (per instance): a new fault script does not knock a running Master into
    FAULT before it has spoken (keepalived 2.2.7: a script new at a reload is SCRIPT_INIT_STATE_INIT_RELOAD, not
    counted in `num_script_init`); its first failure faults the instance."""
    head = f"track_scripts:\n  slow: {{command: [{FALSE}], interval: 60}}\n  ok: {{command: [{TRUE}], interval: 60}}\n"
    old = document(instance(tmp_path, "a", 1, "198.51.100.101/24"), head=head)
    new = old.replace("notify:", "track_scripts: [{name: slow, on_failure: fault}], notify:", 1)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a")
        a = case.inst("a")
        gate = asyncio.Event()
        monitors = case.daemon.monitors
        make_monitor = monitors.make

        async def held_make(*args: object, **kwargs: object) -> None:  # the new script's first run waits for us
            await make_monitor(*args, **kwargs)  # type: ignore[arg-type]
            if (slow := monitors.scripts.get("slow")) is not None and not slow.started:
                run_now = slow.run_now

                async def later():  # type: ignore[no-untyped-def]
                    await gate.wait()
                    return await run_now()

                slow.run_now = later  # type: ignore[method-assign]

        monitors.make = held_make  # type: ignore[method-assign]
        await reload(case, new)
        assert a.tracking.states[(TrackerKind.SCRIPT, "slow")] is TrackState.UNKNOWN
        assert a.router.state is State.MASTER and a.tracking.faults == ()
        gate.set()
        await until(lambda: a.router.state is State.FAULT)
        assert a.router.fault_reason == "track script slow failed"

    run(old, body)


@pytest.mark.parametrize(("init_fail", "reason"), [("", WAITING), ("    init_fail\n", "track script chk failed")])
def test_imported_weight_0_script_starts_like_keepalived(tmp_path: Path, init_fail: str, reason: str) -> None:
    """`vrrpctl import-keepalived`: keepalived's `init_fail` (vrrp_parser.c `vrrp_vscript_init_fail_handler`)
    becomes `initial_state: down`; without it the instance waits for the check, as keepalived does."""
    conf = tmp_path / "keepalived.conf"
    conf.write_text(
        f"vrrp_script chk {{\n    script /bin/true\n    weight 0\n{init_fail}}}\n"
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    priority 200\n"
        "    track_script {\n        chk\n    }\n    virtual_ipaddress {\n        198.51.100.100/24\n    }\n}\n"
    )
    result = import_keepalived(str(conf))
    assert not [m for m in result.messages if "init_fail" in m.text], result.messages
    assert result.document["track_scripts"]["chk"].get("initial_state") == ("down" if init_fail else None)

    async def body() -> None:
        case = await make(result.yaml)
        router = case.inst("VI_1").router
        assert router.state is State.FAULT and router.fault_reason == reason
        await case.stop()

    asyncio.run(body())


@pytest.mark.parametrize(
    ("first", "hooks"),
    [
        (TrackState.DOWN, ["on_fault INITIALIZE 1", "notify INITIALIZE 1 INSTANCE gw FAULT 200"]),
        (TrackState.UP, ["on_backup FAULT 2", "notify FAULT 2 INSTANCE gw BACKUP 200"]),
    ],
)
def test_the_wait_runs_no_hook_a_failure_runs_the_fault_hooks_a_pass_the_backup_ones(
    tmp_path: Path, first: TrackState, hooks: list[str]
) -> None:
    """keepalived 2.2.7 runs no notify script for the start-up wait (vrrp_scheduler.c `vrrp_init_state` notifies
    the FAULT "(init)" only if `num_script_if_fault`); the first failure notifies FAULT (vrrp_track.c
    `down_instance`), the first pass BACKUP. vrrpd's event stream still shows the FAULT (with its reason)."""
    out = tmp_path / "hooks"
    hook = [shutil.which("sh"), "-c", f'echo "$VRRPD_HOOK $VRRPD_OLD_STATE $VRRPD_SEQ $*" >> {out}', "hook"]
    notify = {"on_fault": hook, "on_backup": hook, "notify": hook, "timeout": 5}
    text = config().replace("    track_scripts: [", f"    notify: {notify!r}\n    track_scripts: [")

    async def body() -> None:
        case = await make(text)
        daemon = case.daemon
        events = [(e["old"], e["new"], e["reason"]) for e in daemon.notifier.events.recent(10)]
        assert events == [("INITIALIZE", "FAULT", WAITING)]
        daemon.monitors.on_script("chk", first)
        await case.stop()  # the hooks' queues drain; the last line is the generic notify's STOP
        lines = [line.strip() for line in out.read_text().splitlines()]
        assert lines[:-1] == hooks and lines[-1].endswith(" STOP 200")

    asyncio.run(body())


@pytest.mark.parametrize("tracked_by", ["group", "member"])
def test_a_group_wait_runs_no_group_hook_and_its_failure_runs_the_fault_ones(tmp_path: Path, tracked_by: str) -> None:
    """keepalived 2.2.7 keeps a group whose members wait for scripts in its init state (vrrp_track.c
    `initialise_vrrp_tracking_priorities`: `num_member_init`) and notifies nothing; a failure notifies FAULT."""
    out = tmp_path / "hooks"
    hook = [shutil.which("sh"), "-c", f'echo "$VRRPD_HOOK $VRRPD_OLD_STATE $VRRPD_SEQ $*" >> {out}', "hook"]
    notify = {"on_fault": hook, "notify": hook, "timeout": 5}
    fault = "[{name: chk, on_failure: fault}]"
    member = f", track_scripts: {fault}" if tracked_by == "member" else ""
    group = f"    track_scripts: {fault}\n" if tracked_by == "group" else ""
    text = (
        textwrap.dedent(f"""\
        control_socket: /tmp/vrrpd-test-unused.sock
        track_scripts:
          chk: {{command: [/bin/true]}}
        instances:
          - {{name: gw4, interface: eth0, vrid: 51, priority: 200, virtual_addresses: [198.51.100.100/24]{member}}}
          - {{name: gw5, interface: eth0, vrid: 52, priority: 200, virtual_addresses: [198.51.100.101/24]}}
        sync_groups:
          gw:
            members: [gw4, gw5]
        """)
        + group
        + f"    notify: {notify!r}\n"
    )

    async def body() -> None:
        case = await make(text)
        daemon = case.daemon
        (status,) = daemon.status()["sync_groups"]
        assert status["state"] == "FAULT"
        (start,) = [e for e in daemon.notifier.events.recent(10) if e["kind"] == "group"]
        assert (start["old"], start["new"]) == ("INITIALIZE", "FAULT")
        daemon.monitors.on_script("chk", TrackState.DOWN)
        await case.stop()
        lines = [line.strip() for line in out.read_text().splitlines()]
        seq = start["seq"]  # the hooks of the event that put the group in FAULT, run late
        assert lines[:2] == [f"on_fault INITIALIZE {seq}", f"notify INITIALIZE {seq} GROUP gw FAULT 0"]

    asyncio.run(body())
