"""A keepalived node and the vrrpd node converted from the same keepalived.conf behave the same (issue #5 point 8:
"a netns test shows a keepalived node and the converted vrrpd node behave the same").

The fixture tests/keepalived-confs/lab-equivalence.conf (VRRPv3 IPv4, advert_int 0.5, priority 150, preempt_delay 2,
three VIPs, a vrrp_script with weight -100, a track_interface with weight -30) runs on the lab host "node": first as
real keepalived 2.2.7, then converted by `vrrpctl import-keepalived` (run as a subprocess, as a user would) and run
by vrrpd. Both times the peer is the same keepalived (priority 100) and the same scenario is played:

1. node starts after the peer is master: it preempts, but only after preempt_delay;
2. the tracked interface loses carrier: node stays master and advertises 150 - 30 = 120; carrier back: 150;
3. the tracked script fails: node advertises 150 - 100 = 50 and the peer (100) preempts;
4. the script passes again: node preempts back (RFC 9568 §6.4.2, preempt) with priority 150.

A second fixture, lab-equivalence-nopreempt.conf (nopreempt, a track_file with weight -10 and init_file), plays:

1. node starts while the peer is master and, nopreempt, stays backup (sends nothing);
2. the peer stops (priority 0): node takes over; the peer restarts and stays backup;
3. the file is deleted: keepalived reads 0, the import says on_missing: {value: 0}: no change (150);
4. the file holds 8: node advertises 150 - 80 = 70 and the peer preempts;
5. the file holds 0 again: node is back at 150 but, nopreempt, stays backup.

The observations come from the wire, captured by an AF_PACKET sniffer in a third namespace (helpers/advert_sniffer.py,
which checks the checksum itself), and from the VIPs on the hosts. The two runs' observations must be equal; the
timings (preempt_delay, the preemptions) must fall within the same RFC bounds.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from lab import Host, Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd

HERE = Path(__file__).resolve().parent
CONFS = HERE.parent / "tests" / "keepalived-confs"
SNIFFER = HERE / "helpers" / "advert_sniffer.py"
NODE_IP, PEER_IP = "198.51.100.11", "198.51.100.12"
VIPS = ["198.51.100.100", "198.51.100.101", "198.51.100.102"]
VRID, INTERVAL = 61, 0.5
PREEMPT_DELAY = 2.0
# Master_Down_Interval of node (priority 150) at 0.5 s: 3 x 0.5 + (256 - 150) x 0.5 / 256.
MDI_NODE = 3 * INTERVAL + (256 - 150) * INTERVAL / 256
MARGIN = 1.5  # scheduling on a shared 2-vCPU machine, and a Python daemon's start-up; added to every RFC bound
SCRIPT_INTERVAL = 1.0


class Sniffer:
    """Every VRRP advert on the segment, as decoded by helpers/advert_sniffer.py (time = CLOCK_MONOTONIC)."""

    def __init__(self, host: Host) -> None:
        self.path = host.lab.workdir / "adverts.jsonl"
        self.proc = host.popen([sys.executable, str(SNIFFER), host.ifname, str(self.path)])
        wait_for(lambda: self.path.exists() and '"ready"' in self.path.read_text(), 10, message="sniffer not ready")

    def adverts(self, since: float = 0.0, src: str | None = None) -> list[dict[str, Any]]:
        records = [json.loads(line) for line in self.path.read_text().splitlines()[1:] if line.strip()]
        return [r for r in records if r.get("time", 0) >= since and (src is None or r["src"] == src)]

    def master(self, window: float = 3 * INTERVAL) -> str | None:
        """Who advertised over the last `window` seconds, if exactly one router did (with priority > 0)."""
        sources = {r["src"] for r in self.adverts(time.monotonic() - window) if r["priority"] > 0}
        return sources.pop() if len(sources) == 1 else None


class KeepalivedNode:
    """The fixture run as-is by keepalived in the node namespace."""

    kind = "keepalived"

    def __init__(self, host: Host, conf: str) -> None:
        self.host = host
        self.dir = host.lab.workdir / "node-keepalived"
        self.dir.mkdir(mode=0o700)
        self.conf = self.dir / "keepalived.conf"
        self.conf.write_text(conf)
        self.log_path = self.dir / "keepalived.log"
        host.lab.logs["keepalived node"] = self.log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        pids = ["-p", str(self.dir / "keepalived.pid"), "-r", str(self.dir / "vrrp.pid")]
        argv = ["keepalived", "-n", "-l", "-D", "-P", "-G", "-f", str(self.conf), *pids]
        with self.log_path.open("a") as log:
            self.proc = self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        assert self.proc is not None
        self.host.stop(self.proc)


class VrrpdNode:
    """The fixture converted by `vrrpctl import-keepalived` (a subprocess, exit 0) and run by vrrpd."""

    kind = "vrrpd"

    def __init__(self, host: Host, conf: str) -> None:
        source = host.lab.workdir / "node-for-import.conf"
        source.write_text(conf)
        done = subprocess.run(
            [sys.executable, "-m", "vrrpd.cli.ctl", "import-keepalived", str(source)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"import-keepalived exited {done.returncode}:\n{done.stderr}"
        self.yaml = done.stdout
        doc = yaml.safe_load(done.stdout)
        top = {key: value for key, value in doc.items() if key != "instances"}
        self.runner = Vrrpd(host, doc["instances"], **top)

    def start(self) -> None:
        self.runner.start(wait=False)

    def stop(self) -> None:
        self.runner.stop()


def node_vips(node: Host, vips: list[str]) -> list[str]:
    return sorted(a for a in node.addresses(socket.AF_INET) if a.split("/")[0] in vips)


def steady_advert(sniffer: Sniffer) -> dict[str, list[str]]:
    """The fields of node's adverts over the last second (each field's set of values, as JSON)."""
    steady = sniffer.adverts(time.monotonic() - 1.0, NODE_IP)
    keys = ("version", "type", "vrid", "priority", "count", "interval_cs", "addresses", "dst", "ttl", "checksum_ok")
    return {key: sorted({json.dumps(r[key]) for r in steady}) for key in keys}


def expected_advert(vrid: int, priority: int, vips: list[str]) -> dict[str, list[str]]:
    """RFC 9568 §5.1.1.3 and §5.2: TTL 255 to 224.0.0.18; version 3, type 1, the configured addresses in order,
    the interval in centiseconds, a checksum over the IPv4 pseudo-header that verifies."""
    return {
        "version": ["3"],
        "type": ["1"],
        "vrid": [str(vrid)],
        "priority": [str(priority)],
        "count": [str(len(vips))],
        "interval_cs": [str(round(INTERVAL * 100))],
        "addresses": [json.dumps(vips)],
        "dst": ['"224.0.0.18"'],
        "ttl": ["255"],
        "checksum_ok": ["true"],
    }


def both_runs(lab: Lab, fixture: str, vrid: int, vips: list[str], scenario: Any) -> dict[str, dict[str, Any]]:
    """Run `scenario` with keepalived on node, then with the converted vrrpd; the same peer and observer."""
    node = lab.add_host("node", ipv4=f"{NODE_IP}/24")
    peer_host = lab.add_host("peer", ipv4=f"{PEER_IP}/24")
    observer = lab.add_host("obs", ipv4="198.51.100.13/24")
    # The tracked eth1: a veth whose carrier follows its peer eth1p, both inside node's namespace.
    node.run(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"])
    for name in ("eth1", "eth1p"):
        node.run(["ip", "link", "set", name, "up"])
    scratch = lab.workdir / "equivalence"
    scratch.mkdir()
    conf = (CONFS / fixture).read_text().replace("/run/vrrpd-equivalence", str(scratch))
    sniffer = Sniffer(observer)
    peer = Keepalived(peer_host, vrid, 100, [f"{v}/24" for v in vips], advert_int=INTERVAL, version=3)
    results = {}
    for daemon in (KeepalivedNode(node, conf), VrrpdNode(node, conf)):
        for leftover in scratch.iterdir():
            leftover.unlink()
        peer.start()
        wait_for(lambda: sniffer.master() == PEER_IP, 15, message="the peer never became master alone")
        results[daemon.kind] = scenario(node, peer, sniffer, daemon, scratch)
        daemon.stop()
        if peer.running:
            peer.stop()
        wait_for(lambda: sniffer.master(window=1.0) is None, 10, message="adverts still flowing after the stop")
        wait_for(lambda: not node_vips(node, vips), 5, message="VIPs left on node")
    print(json.dumps(results, indent=1))
    return results


def preempting(node: Host, peer: Keepalived, sniffer: Sniffer, daemon: Any, scratch: Path) -> dict[str, Any]:
    """lab-equivalence.conf's scenario against `daemon` on node: what was seen, and the timings."""
    flag = scratch / "svc-down"
    seen: dict[str, Any] = {}
    started = time.monotonic()
    daemon.start()

    # 1. node preempts, after preempt_delay.
    wait_for(lambda: sniffer.adverts(started, NODE_IP), PREEMPT_DELAY + MDI_NODE + 10, message="node never advertised")
    first = sniffer.adverts(started, NODE_IP)[0]
    seen["preempt_after"] = first["time"] - started
    wait_for(lambda: sniffer.master() == NODE_IP, 5, message="node did not become the only master")
    wait_for(lambda: len(node_vips(node, VIPS)) == len(VIPS), 5, message="VIPs not on node")
    seen["advert"] = steady_advert(sniffer)
    seen["vips_on_node"] = node_vips(node, VIPS)

    # 2. tracked interface without carrier: -30, still master.
    node.run(["ip", "link", "set", "eth1p", "down"])
    wait_for(lambda: any(r["priority"] == 120 for r in sniffer.adverts(time.monotonic() - 0.6, NODE_IP)), 5)
    seen["iface_down_priority"] = 120
    seen["iface_down_master"] = sniffer.master()
    node.run(["ip", "link", "set", "eth1p", "up"])
    wait_for(lambda: any(r["priority"] == 150 for r in sniffer.adverts(time.monotonic() - 0.6, NODE_IP)), 5)

    # 3. the script fails: 150 - 100 = 50, the peer preempts.
    failed = time.monotonic()
    flag.touch()
    wait_for(lambda: sniffer.master() == PEER_IP, SCRIPT_INTERVAL + MDI_NODE + 10, message="peer did not preempt")
    seen["script_fail_priorities"] = sorted({r["priority"] for r in sniffer.adverts(failed, NODE_IP)} - {150})
    wait_for(lambda: not node_vips(node, VIPS), 5, message="VIPs left on node")

    # 4. the script passes again: node preempts back with 150.
    recovered = time.monotonic()
    flag.unlink()
    wait_for(lambda: sniffer.master() == NODE_IP, SCRIPT_INTERVAL + PREEMPT_DELAY + MDI_NODE + 10)
    back = sniffer.adverts(recovered, NODE_IP)
    seen["recover_after"] = back[0]["time"] - recovered
    seen["recover_priority"] = back[-1]["priority"]
    return seen


def test_preempt_delay_script_and_interface_weights_same_as_keepalived(lab: Lab) -> None:
    results = both_runs(lab, "lab-equivalence.conf", VRID, VIPS, preempting)
    ka, ours = results["keepalived"], results["vrrpd"]
    # The same on the wire, and the same VIPs on node.
    assert ka["advert"] == ours["advert"] == expected_advert(VRID, 150, VIPS)
    assert ka["vips_on_node"] == ours["vips_on_node"] == [f"{v}/24" for v in VIPS]
    # The tracked interface's weight and the script's weight move the advertised priority identically.
    assert ka["iface_down_master"] == ours["iface_down_master"] == NODE_IP
    assert ka["script_fail_priorities"] == ours["script_fail_priorities"] == [50]
    assert ka["recover_priority"] == ours["recover_priority"] == 150
    # preempt_delay holds the first preemption back beyond the Master_Down_Interval alone (measured: keepalived
    # 3.7 s, vrrpd 4.0 s, which includes its Python start-up); the recovery preemption waits at most a script
    # interval + preempt_delay + Master_Down_Interval. Both within the same bounds, and within MARGIN of each other.
    for name, seen in results.items():
        assert PREEMPT_DELAY + MDI_NODE - 0.3 <= seen["preempt_after"] <= PREEMPT_DELAY + MDI_NODE + MARGIN, name
        assert seen["recover_after"] <= SCRIPT_INTERVAL + PREEMPT_DELAY + MDI_NODE + MARGIN, (name, seen)
    assert abs(ka["preempt_after"] - ours["preempt_after"]) <= MARGIN
    assert abs(ka["recover_after"] - ours["recover_after"]) <= MARGIN


NP_VRID, NP_VIPS = 62, ["198.51.100.110", "198.51.100.111"]


def non_preempting(node: Host, peer: Keepalived, sniffer: Sniffer, daemon: Any, scratch: Path) -> dict[str, Any]:
    """lab-equivalence-nopreempt.conf's scenario against `daemon` on node."""
    load = scratch / "load"
    seen: dict[str, Any] = {}
    started = time.monotonic()
    daemon.start()
    # 1. nopreempt: a live lower-priority master is left alone. Watch for 3 x Master_Down_Interval + start-up.
    wait_for(lambda: load.exists(), 10, message="init_file did not create the file")
    seen["init_file"] = load.read_text().strip()
    deadline = started + 3 * MDI_NODE + MARGIN
    while time.monotonic() < deadline:
        assert not sniffer.adverts(started, NODE_IP), f"{daemon.kind}: node advertised despite nopreempt"
        assert sniffer.master() in (PEER_IP, None)
        time.sleep(0.1)
    seen["stayed_backup"] = sniffer.master() == PEER_IP and not node_vips(node, NP_VIPS)

    # 2. the peer stops (priority 0): node takes over; the peer restarts as backup and stays so (lower priority).
    peer.stop()
    wait_for(lambda: sniffer.master() == NODE_IP, 5, message="node did not take over from the stopped peer")
    wait_for(lambda: len(node_vips(node, NP_VIPS)) == len(NP_VIPS), 5, message="VIPs not on node")
    peer.start()
    wait_for(lambda: peer.state() == "BACKUP", 10, message="the restarted peer never reported BACKUP")
    seen["advert"] = steady_advert(sniffer)

    # 3. the file is deleted: keepalived reads 0; the import maps that to on_missing: {value: 0}. No change.
    deleted = time.monotonic()
    load.unlink()
    wait_for(lambda: time.monotonic() > deleted + 2 * SCRIPT_INTERVAL and sniffer.adverts(deleted + 1.5, NODE_IP), 5)
    seen["deleted_priorities"] = sorted({r["priority"] for r in sniffer.adverts(deleted, NODE_IP)})

    # 4. the file holds 8: 150 - 80 = 70 < 100, and the peer (preempt on) takes over.
    written = time.monotonic()
    load.write_text("8\n")
    wait_for(lambda: sniffer.master() == PEER_IP, SCRIPT_INTERVAL + 5, message="the peer did not preempt")
    seen["loaded_priorities"] = sorted({r["priority"] for r in sniffer.adverts(written, NODE_IP)} - {150})
    wait_for(lambda: not node_vips(node, NP_VIPS), 5, message="VIPs left on node")

    # 5. the file holds 0: node is back at 150, but nopreempt leaves the peer master.
    cleared = time.monotonic()
    load.write_text("0\n")
    while time.monotonic() < cleared + SCRIPT_INTERVAL + 3 * MDI_NODE:
        assert not sniffer.adverts(cleared + 0.2, NODE_IP), f"{daemon.kind}: node preempted despite nopreempt"
        time.sleep(0.1)
    seen["cleared_master"] = sniffer.master()
    return seen


def test_nopreempt_and_track_file_same_as_keepalived(lab: Lab) -> None:
    results = both_runs(lab, "lab-equivalence-nopreempt.conf", NP_VRID, NP_VIPS, non_preempting)
    ka, ours = results["keepalived"], results["vrrpd"]
    assert ka["init_file"] == ours["init_file"] == "0"
    assert ka["stayed_backup"] is ours["stayed_backup"] is True
    assert ka["advert"] == ours["advert"] == expected_advert(NP_VRID, 150, NP_VIPS)
    assert ka["deleted_priorities"] == ours["deleted_priorities"] == [150]
    assert ka["loaded_priorities"] == ours["loaded_priorities"] == [70]
    assert ka["cleared_master"] == ours["cleared_master"] == PEER_IP
