"""Notify hooks and the event stream on a real kernel (issue #5 point 4): two vrrpd daemons, a (priority 200) and
b (priority 100, with hooks). Hooks append lines to files in the lab workdir; `vrrpctl events` runs inside b's
namespace against b's control socket. Every wait is a condition with a deadline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from lab import Lab, ns_processes, wait_for
from vrrpd_runner import Vrrpd, flag_script, follow_events, instance, json_lines, two_hosts, vip_holders

VIP = "198.51.100.100/24"
SH = shutil.which("sh") or "/bin/sh"
SLEEP = shutil.which("sleep") or "/bin/sleep"

# One line per run: what the hook saw in its arguments and environment.
RECORD = r"""out=$1; shift
printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s\n' "$(date +%s.%N)" "$VRRPD_HOOK" "$VRRPD_STATE" \
  "$VRRPD_OLD_STATE" "$VRRPD_PRIORITY" "$VRRPD_NAME" "$VRRPD_KIND" "$VRRPD_VRID" "$VRRPD_INTERFACE" \
  "$VRRPD_FAMILY" "$VRRPD_VIRTUAL_ADDRESSES" "$VRRPD_SEQ" "$*" >> "$out"
"""


def recorder(lab: Lab, out: Path) -> list[str]:
    script = lab.workdir / "record.sh"
    if not script.exists():
        script.write_text(RECORD)
    return [SH, str(script), str(out)]


def records(out: Path) -> list[dict[str, str]]:
    keys = ("time", "hook", "state", "old", "priority", "name", "kind", "vrid", "interface", "family", "vips", "seq")
    result = []
    for line in out.read_text().splitlines() if out.exists() else []:
        *fields, args = line.split("|")
        result.append({**dict(zip(keys, fields, strict=True)), "args": args})
    return result


def test_hooks_run_in_transition_order_with_keepalived_arguments_environment_and_stop(lab):
    """backup -> master on takeover, fault on a fault tracker, stop on shutdown; `vrrpctl events` shows the same
    transitions as JSON lines, with the sequence numbers the hooks saw."""
    ha, hb = two_hosts(lab)
    out, events_out, flag = lab.workdir / "b-hooks", lab.workdir / "b-events", lab.workdir / "b-fails"
    hook = recorder(lab, out)
    notify = {"on_master": hook, "on_backup": hook, "on_fault": hook, "on_stop": hook, "notify": hook, "timeout": 5}
    a = Vrrpd(ha, [instance(priority=200)]).start()
    wait_for(lambda: a.state() == "MASTER", 10, message="a never became master")
    b_inst = instance(priority=100, notify=notify, track_scripts=[{"name": "chk", "on_failure": "fault"}])
    b = Vrrpd(hb, [b_inst], track_scripts={"chk": flag_script(flag)}).start()
    wait_for(lambda: b.state() == "BACKUP", 5, message="b never became backup")
    follower = follow_events(hb, b, events_out, "--replay", "10")
    # b's start waited in FAULT for chk's first result (issue #12), an event but no hook, as keepalived notifies
    # nothing for that wait (vrrp_scheduler.c `vrrp_init_state`).
    wait_for(lambda: len(json_lines(events_out)) == 2, 10, message="vrrpctl events printed no replay")

    a.stop()  # priority 0: b takes over after Skew_Time
    wait_for(lambda: b.state() == "MASTER", 5, message="b did not take over")
    wait_for(lambda: vip_holders([ha, hb], VIP) == ["b"], 3, message="VIP not on b")
    flag.touch()
    wait_for(lambda: b.state() == "FAULT", 5, message="b did not go to FAULT")
    flag.unlink()
    wait_for(lambda: b.state() == "MASTER", 10, message="b did not come back as master")
    wait_for(lambda: len(records(out)) == 10, 10, message=f"hooks did not all run: {records(out)}")
    assert b.stop() == 0
    assert follower.wait(10) == 1  # the daemon ended the stream
    assert events_out.with_suffix(".err").read_text() == "vrrpctl: vrrpd ended the event stream (stopped?)\n"

    seen = records(out)
    transitions = [
        ("BACKUP", "FAULT"),
        ("MASTER", "BACKUP"),
        ("FAULT", "MASTER"),
        ("BACKUP", "FAULT"),
        ("MASTER", "BACKUP"),
        ("STOP", "MASTER"),
    ]
    expected = []
    for seq, (state, old) in enumerate(transitions, start=2):
        specific = {"BACKUP": "on_backup", "MASTER": "on_master", "FAULT": "on_fault", "STOP": "on_stop"}[state]
        expected.append((specific, state, old, str(seq), ""))
        expected.append(("notify", state, old, str(seq), f"INSTANCE v {state} 100"))
    assert [(r["hook"], r["state"], r["old"], r["seq"], r["args"]) for r in seen] == expected
    for r in seen:
        assert (r["name"], r["kind"], r["priority"], r["vrid"], r["interface"]) == (
            "v",
            "instance",
            "100",
            "51",
            "eth0",
        )
        assert (r["family"], r["vips"]) == ("IPv4", VIP)
    times = [float(r["time"]) for r in seen]
    assert times == sorted(times)  # one at a time, in order

    events = json_lines(events_out)
    assert [(e["seq"], e["new"], e["old"]) for e in events] == [(1, "FAULT", "INITIALIZE")] + [
        (seq, state, old) for seq, (state, old) in enumerate(transitions, start=2)
    ]
    for e in events:
        assert (e["type"], e["kind"], e["name"], e["priority"], e["vrid"], e["interface"]) == (
            "transition",
            "instance",
            "v",
            100,
            51,
            "eth0",
        )
        assert e["reason"] and e["time"].endswith("Z")
    assert events[0]["reason"] == "track script chk has not reported yet"
    assert events[3]["reason"] == "track script chk failed"
    assert events[6]["reason"] == "shutdown"
    log = b.log()
    assert "hook on_master (BACKUP -> MASTER, seq 3): exit status 0" in log


def test_hanging_hook_is_killed_at_its_timeout_and_never_delays_a_takeover(lab):
    """b's hooks for BACKUP sleep forever (timeout 1 s each, on_backup then notify: 2 s of hanging); a crashes
    meanwhile. b must take over one Master_Down_Interval later, while the hooks still hang: its MASTER event
    precedes the start of on_master, which can only run once the hanging ones were killed."""
    ha, hb = two_hosts(lab)
    started, master = lab.workdir / "hang-started", lab.workdir / "on-master"
    hang = [SH, "-c", f"date +%s.%N >> {started}; exec {SLEEP} 100000"]
    notify = {
        "on_backup": hang,
        "notify": hang,
        "on_master": [SH, "-c", f"date +%s.%N > {master}"],
        "timeout": 1,
    }
    a = Vrrpd(ha, [instance(priority=200)]).start()
    wait_for(lambda: a.state() == "MASTER", 10, message="a never became master")
    b = Vrrpd(hb, [instance(priority=100, notify=notify)]).start()
    wait_for(lambda: b.state() == "BACKUP", 5)
    mdi = b.instance_status()["master_down_interval"]

    def sleepers() -> list[int]:
        return [pid for pid, (cmd, _) in ns_processes(hb).items() if cmd.startswith(f"{SLEEP} 100000")]

    wait_for(lambda: len(sleepers()) == 1, 5, message="on_backup never started")
    crashed = time.monotonic()
    a.crash()  # no priority 0: the takeover needs the full Master_Down_Interval
    wait_for(lambda: b.state() == "MASTER", 5, message="b did not take over")
    took = time.monotonic() - crashed
    assert took < mdi + 1.0, f"takeover {took:.3f}s after the crash; MDI {mdi:.3f}s"

    wait_for(lambda: master.exists(), 10, message="on_master never ran")
    events_out = lab.workdir / "b-events"
    follower = follow_events(hb, b, events_out, "--replay", "2", "--count", "2")
    assert follower.wait(10) == 0
    backup, took_over = json_lines(events_out)
    assert (backup["new"], took_over["new"]) == ("BACKUP", "MASTER")
    hang_starts = [float(t) for t in started.read_text().split()]
    on_master_at = float(master.read_text())
    # The takeover happened while the BACKUP hooks still hung: on_master started only after both were killed.
    assert took_over["timestamp"] < on_master_at
    assert on_master_at - hang_starts[0] >= 2 * 1.0 - 0.05, (hang_starts, on_master_at)

    # MASTER's generic notify hangs too: 3 timeouts in all, then nothing runs, nothing is left over.
    def hooks() -> dict:
        return b.instance_status()["hooks"]

    wait_for(lambda: hooks()["runs"] == 4 and hooks()["running"] is None, 10, message="hooks did not finish")
    assert (hooks()["timeouts"], hooks()["failures"], hooks()["pending"]) == (3, 3, 0)
    assert sleepers() == []
    assert not [p for p, (_, state) in ns_processes(hb).items() if state == "Z"], "zombies left behind"
    assert "hook on_backup (INITIALIZE -> BACKUP, seq 1) failed: timed out after" in b.log()
    assert b.instance_status()["state"] == "MASTER"


def test_stopping_with_a_saturated_hook_queue_still_runs_on_stop(lab):
    """Issue #13: shutdown must never drop on_stop, however long the queue. a's hooks hang (timeout 60 s) and
    a fault tracker flaps, queueing transition after transition behind it; then a is stopped. The waiting ones are
    dropped, the hanging hook is killed after a short grace, and on_stop runs; nothing is left in the namespace."""
    ha = lab.add_host("a", ipv4="198.51.100.11/24")
    flag, stopped = lab.workdir / "a-fails", lab.workdir / "on-stop"
    hang = [SH, "-c", f"exec {SLEEP} 100000"]
    notify = {
        "on_master": hang,
        "on_backup": hang,
        "on_fault": hang,
        "on_stop": [SH, "-c", f'echo "$VRRPD_OLD_STATE $VRRPD_SEQ" > {stopped}'],
        "timeout": 60,
    }
    a_inst = instance(priority=100, notify=notify, track_scripts=[{"name": "chk", "on_failure": "fault"}])
    a = Vrrpd(ha, [a_inst], track_scripts={"chk": flag_script(flag)}).start()
    wait_for(lambda: a.state() == "MASTER", 10, message="a never became master")

    def hooks() -> dict:
        return a.instance_status()["hooks"]

    for _ in range(4):
        flag.touch()
        wait_for(lambda: a.state() == "FAULT", 5, message="a never went to FAULT")
        flag.unlink()
        wait_for(lambda: a.state() == "MASTER", 10, message="a never came back as MASTER")
    queued = hooks()
    assert queued["running"] is not None and queued["pending"] >= 8, queued
    assert queued["runs"] == 0  # the first hook still hangs

    stopping = time.monotonic()
    assert a.stop(timeout=20) == 0
    took = time.monotonic() - stopping
    assert stopped.exists(), "on_stop never ran"
    assert stopped.read_text().split()[0] == "MASTER"
    assert took < 12, f"stopping took {took:.1f}s"  # the hooks' shutdown limit was not needed
    log = a.log()
    assert f"{queued['pending']} transition(s) still waiting for hooks after 2s dropped" in log, log[-2000:]
    assert f"killed hook {queued['running']}" in log
    print(f"\n{queued['pending']} transitions queued; vrrpd stopped in {took:.2f}s with on_stop run")
    wait_for(lambda: not ns_processes(ha), 5, message="processes left in a's namespace after vrrpd stopped")
