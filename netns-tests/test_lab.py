"""Self-tests of the namespace lab and the keepalived peer runner."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lab import Lab, wait_for
from peers import Keepalived

VIP = "198.51.100.100/24"


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); treat it as gone since it holds nothing.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def test_hosts_reach_each_other_ipv4_and_ipv6(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    b = lab.add_host("b", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")

    assert a.ns != b.ns
    assert "198.51.100.11/24" in a.addresses(socket.AF_INET)
    assert "2001:db8::11/64" in a.addresses(socket.AF_INET6)
    assert a.addresses(socket.AF_INET) == ["198.51.100.11/24"]
    assert a.link_local.startswith("fe80::")
    assert f"{a.link_local}/64" in a.addresses(socket.AF_INET6)
    assert a.mac != b.mac and len(a.mac.split(":")) == 6

    a.run(["ping", "-c", "1", "-W", "2", "198.51.100.12"])
    a.run(["ping", "-c", "1", "-W", "2", "2001:db8::12"])
    a.run(["ping", "-c", "1", "-W", "2", f"{b.link_local}%eth0"])
    # The neighbour entry proves the reply came over the bridge from b's eth0, not from some other path.
    neigh = a.run(["ip", "neigh", "show", "198.51.100.12", "dev", "eth0"]).stdout
    assert b.mac in neigh

    # DAD really is off: the address is usable at once and never marked tentative.
    assert "tentative" not in a.run(["ip", "-6", "addr", "show", "dev", "eth0"]).stdout
    sysctl = a.run(["sysctl", "-n", "net.ipv6.conf.eth0.accept_dad", "net.ipv6.conf.eth0.keep_addr_on_down"]).stdout
    assert sysctl.split() == ["0", "1"]


def test_link_down_keeps_ipv6_address(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    a.link_set(False)
    assert "2001:db8::11/64" in a.addresses(socket.AF_INET6)
    a.link_set(True)
    wait_for(lambda: a.run(["ip", "-j", "link", "show", "eth0"]).stdout.count('"UP"'), 5, message="eth0 back up")


def test_namespaces_and_processes_gone_after_failing_body() -> None:
    lab_ref = Lab()
    with pytest.raises(RuntimeError, match="boom"), lab_ref:
        host = lab_ref.add_host("a", ipv4="198.51.100.11/24")
        proc = host.popen(["sleep", "60"])
        pid = proc.pid
        assert {lab_ref.bridge_ns, host.ns} <= _netns_names()
        raise RuntimeError("boom")
    # Only this lab's namespaces: other labs (parallel runs, a benchmark) may come and go meanwhile.
    assert not {lab_ref.bridge_ns, host.ns} & _netns_names()
    assert not _alive(pid)
    lab_ref.close()  # idempotent


def test_close_ends_process_groups_and_ignores_sigterm() -> None:
    lab = Lab()
    lab.stop_grace = 0.3
    try:
        host = lab.add_host("a")
        # A parent that ignores SIGTERM plus a child in its group: close() must escalate and reach both.
        proc = host.popen(["sh", "-c", "trap '' TERM; sleep 60 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        child = int(proc.stdout.readline())
        assert _alive(proc.pid) and _alive(child)
    finally:
        lab.close()
    assert not _alive(proc.pid)
    wait_for(lambda: not _alive(child), 2, message="grandchild still alive")
    assert lab.bridge_ns not in _netns_names()
    assert host.ns not in _netns_names()


def test_sigterm_to_the_test_process_still_deletes_namespaces() -> None:
    # A CI timeout kills pytest with SIGTERM; fixtures do not unwind then, so lab.py's handler has to clean up.
    script = textwrap.dedent(
        f"""
        import json, sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from lab import Lab
        lab = Lab(prefix="vs")
        host = lab.add_host("a", ipv4="198.51.100.11/24")
        proc = host.popen(["sleep", "60"])
        print(json.dumps({{"ns": [lab.bridge_ns, host.ns], "pid": proc.pid}}), flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        assert set(info["ns"]) <= _netns_names()
        child.send_signal(signal.SIGTERM)
        assert child.wait(10) == -signal.SIGTERM
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not set(info["ns"]) & _netns_names()
    wait_for(lambda: not _alive(info["pid"]), 2, message="process in the lab survived")


def test_popen_after_close_is_refused() -> None:
    lab = Lab()
    host = lab.add_host("a")
    lab.close()
    with pytest.raises(RuntimeError, match="closed"):
        host.popen(["sleep", "60"])


def test_stop_returns_exit_code_and_kill_is_a_crash(lab: Lab) -> None:
    host = lab.add_host("a")
    proc = host.popen(["sleep", "60"])
    assert host.stop(proc) == -15
    proc = host.popen(["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.01; done"])
    # Signalled before `sh` has installed its trap it would just die of SIGTERM; wait until it runs the loop.
    wait_for(lambda: _children(proc.pid), 2, message="shell loop never started")
    assert host.stop(proc, timeout=5) == 3
    proc = host.popen(["sleep", "60"])
    host.kill(proc)
    assert proc.returncode == -9


def test_rejects_addresses_outside_test_ranges(lab: Lab) -> None:
    with pytest.raises(ValueError, match="outside the test ranges"):
        lab.add_host("bad", ipv4="192.0.2.1/24")
    assert "bad" not in lab.hosts


def test_keepalived_failover_v3_ipv4(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.11/24")
    b = lab.add_host("b", ipv4="198.51.100.12/24")
    ka = Keepalived(a, vrid=51, priority=200, addresses=[VIP], advert_int=0.1).start()
    kb = Keepalived(b, vrid=51, priority=100, addresses=[VIP], advert_int=0.1).start()

    # Master_Down_Interval at 0.1 s is ~0.3 s; the generous deadline only absorbs a loaded CI machine.
    wait_for(lambda: ka.state() == "MASTER", 5, message=f"a never became MASTER: {ka.transitions()}")
    wait_for(lambda: kb.state() == "BACKUP", 5, message=f"b not BACKUP: {kb.transitions()}")
    assert VIP in a.addresses(socket.AF_INET)
    assert VIP not in b.addresses(socket.AF_INET)
    assert "MASTER" not in kb.transitions()

    ka.crash()
    assert not ka.running
    wait_for(lambda: kb.state() == "MASTER", 5, message=f"b never took over: {kb.transitions()}")
    wait_for(lambda: VIP in b.addresses(socket.AF_INET), 2, message="VIP not on b")
    assert "Entering MASTER STATE" in kb.log()

    # Graceful stop of the new master: its STOP is reported and the VIP is released.
    assert kb.stop() == 0
    wait_for(lambda: kb.state() == "STOP", 2, message=f"no STOP report: {kb.transitions()}")
    assert VIP not in b.addresses(socket.AF_INET)


def test_keepalived_ipv6_instance(lab: Lab) -> None:
    a = lab.add_host("a", ipv6="2001:db8::11/64")
    b = lab.add_host("b", ipv6="2001:db8::12/64")
    vip6 = "2001:db8::100/64"
    ka = Keepalived(a, vrid=52, priority=200, addresses=[vip6], advert_int=0.1).start()
    kb = Keepalived(b, vrid=52, priority=100, addresses=[vip6], advert_int=0.1).start()
    wait_for(lambda: ka.state() == "MASTER", 5, message=f"a never became MASTER: {ka.transitions()}")
    wait_for(lambda: kb.state() == "BACKUP", 5, message=f"b not BACKUP: {kb.transitions()}")
    # Priority-0 on graceful stop makes the backup take over after Skew_Time instead of Master_Down_Interval.
    assert ka.stop() == 0
    wait_for(lambda: kb.state() == "MASTER", 5, message=f"b never took over: {kb.transitions()}")
    wait_for(lambda: vip6 in b.addresses(socket.AF_INET6), 2, message="VIP not on b")


def test_keepalived_argument_checks(lab: Lab) -> None:
    a = lab.add_host("a")
    with pytest.raises(ValueError, match="version 3"):
        Keepalived(a, vrid=1, priority=100, addresses=["2001:db8::1/64"], version=2)
    with pytest.raises(ValueError, match="one address family"):
        Keepalived(a, vrid=1, priority=100, addresses=["198.51.100.1/24", "2001:db8::1/64"])
    with pytest.raises(ValueError, match="outside the test ranges"):
        Keepalived(a, vrid=1, priority=100, addresses=["192.0.2.1/24"])
