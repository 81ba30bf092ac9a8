"""Unicast peers on a real kernel (issue #5 point 7): vrrpd against itself and against keepalived 2.2.7's
`unicast_peer`, over IPv4 and IPv6.

Oracles: the daemons' own state (vrrpd's status JSON, keepalived's notify script), and a capture taken in the
bridge namespace on every bridge port (tshark -i any), which sees each frame the hosts exchange, so "nothing went
to the multicast group" is checked on the wire, not inferred. tshark decodes the captured adverts with its own
VRRP dissector, whose checksum check uses the packet's real destination in the pseudo-header.

Crafted adverts (helpers/inject.py) stand in for a router that is not listed as a peer, and for a routed peer
whose adverts arrive with a TTL below 255.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab import Host, Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd, instance, vip_holders

from vrrpd.importer import import_keepalived

INJECT = str(Path(__file__).parent / "helpers" / "inject.py")
FAMILIES = ("ipv4", "ipv6")
VIPS = {"ipv4": "198.51.100.100/24", "ipv6": "2001:db8::100/64"}
ADDRESSES = {"ipv4": ("198.51.100.11", "198.51.100.12"), "ipv6": ("2001:db8::11", "2001:db8::12")}
GROUPS = {"224.0.0.18", "ff02::12"}
VRID = 51
INTERVAL = 0.1
HIGH, LOW = 200, 100
SETTLE = 5.0
MARGIN = 0.5
FIELDS = ["ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "ip.ttl", "ipv6.hlim", "vrrp.prio", "vrrp.checksum.status"]


def master_down_interval(priority: int, interval: float) -> float:
    """RFC 9568 §6.1: 3 * Master_Adver_Interval + (256 - Priority) * Master_Adver_Interval / 256."""
    return 3 * interval + (256 - priority) * interval / 256


@dataclass(frozen=True)
class Frame:
    src: str
    dst: str
    ttl: int
    priority: int
    checksum: str
    """tshark's vrrp.checksum.status: "1" good, "0" bad."""


class BridgeCapture:
    """tshark on every port of the lab bridge: sees unicast between two hosts, which no third host would."""

    def __init__(self, lab: Lab) -> None:
        self.host = Host(lab, "sw", lab.bridge_ns)
        self.pcap = lab.workdir / "bridge.pcapng"
        self.err = lab.workdir / "bridge.tshark.err"
        lab.logs["tshark bridge"] = self.err
        with self.err.open("w") as err:
            argv = ["tshark", "-i", "any", "-q", "-w", str(self.pcap), "-f", "ip proto 112 or ip6 proto 112"]
            self.proc = self.host.popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "Capturing on" in self.err.read_text(), 15, message="tshark never started capturing")

    def frames(self) -> list[Frame]:
        argv = ["tshark", "-r", str(self.pcap), "-T", "fields", "-E", "separator=|"]
        argv += [arg for f in FIELDS for arg in ("-e", f)]
        out = self.host.run(argv, timeout=30).stdout
        frames = []
        for line in out.splitlines():
            v = dict(zip(FIELDS, line.split("|"), strict=True))
            if not v["vrrp.prio"]:
                continue  # a packet still being written
            frames.append(
                Frame(
                    src=v["ip.src"] or v["ipv6.src"],
                    dst=v["ip.dst"] or v["ipv6.dst"],
                    ttl=int(v["ip.ttl"] or v["ipv6.hlim"]),
                    priority=int(v["vrrp.prio"]),
                    checksum=v["vrrp.checksum.status"],
                )
            )
        return frames

    def wait(self, predicate: Any, timeout: float, message: str) -> list[Frame]:
        return wait_for(lambda: (lambda fs: fs if predicate(fs) else None)(self.frames()), timeout, 0.2, message)

    def stop(self) -> None:
        # SIGINT, as Ctrl-C: tshark then has dumpcap write out what it still holds (SIGTERM can lose the last
        # second or so of packets).
        self.host.stop(self.proc, signal.SIGINT)


def pair(lab: Lab) -> tuple[Host, Host]:
    a = lab.add_host("a", ipv4=f"{ADDRESSES['ipv4'][0]}/24", ipv6=f"{ADDRESSES['ipv6'][0]}/64")
    b = lab.add_host("b", ipv4=f"{ADDRESSES['ipv4'][1]}/24", ipv6=f"{ADDRESSES['ipv6'][1]}/64")
    return a, b


def tail(what: str, text: str, chars: int = 3000) -> str:
    return f"\n--- {what} ---\n{text[-chars:]}"


def takeover(event: Any, is_master: Any, what: str) -> float:
    started = time.monotonic()
    event()
    wait_for(is_master, SETTLE, interval=0.01, message=what)
    return time.monotonic() - started


# --- vrrpd <-> vrrpd -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_vrrpd_pair_fails_over_by_unicast_and_sends_nothing_to_the_group(lab, family):
    """Both nodes run the same instance listing both addresses (each leaves itself out). IPv4 uses the primary
    address as source; IPv6 the default link-local (RFC 9568 §5.1.2.1), so the peers are the link-locals."""
    a, b = pair(lab)
    cap = BridgeCapture(lab)
    peers = list(ADDRESSES["ipv4"]) if family == "ipv4" else [a.link_local, b.link_local]
    common = {"addresses": [VIPS[family]], "advert_interval": INTERVAL, "unicast_peers": peers}
    da = Vrrpd(a, [instance(priority=HIGH, **common)]).start()
    db = Vrrpd(b, [instance(priority=LOW, **common)]).start()
    wait_for(lambda: (da.state(), db.state()) == ("MASTER", "BACKUP"), SETTLE, message="no election")
    wait_for(lambda: vip_holders([a, b], VIPS[family]) == ["a"], 3, message="VIP not on a alone")
    status = da.instance_status()
    assert status["unicast"]["peers"] == [
        {
            "address": peers[1],
            "adverts_sent": status["unicast"]["peers"][0]["adverts_sent"],
            "send_errors": 0,
            "last_error": None,
        }
    ]
    assert status["unicast"]["source"] == peers[0]
    assert status["primary_address"] == peers[0]
    # `vrrpctl status`, as an operator runs it, lists the peer with its counters.
    ctl = [sys.executable, "-m", "vrrpd.cli.ctl", "--socket", str(da.socket), "status"]
    rows = [line.split() for line in a.run(ctl, timeout=20).stdout.splitlines()]
    assert ["v", peers[0], peers[1], "255", "255"] in [row[:5] for row in rows], rows

    # Crash: b takes over on its Master_Down_Timer, which only our unicast adverts kept from running out.
    mdi = master_down_interval(LOW, INTERVAL)
    took = takeover(da.crash, lambda: db.state() == "MASTER", "b did not take over" + tail("b", db.log()))
    assert mdi - INTERVAL - 0.05 <= took <= mdi + MARGIN
    # a comes back and preempts (RFC 9568 §6.4.2), then stops gracefully: b takes over after Skew_Time (priority 0
    # sent by unicast too).
    da = Vrrpd(a, [instance(priority=HIGH, **common)]).start()
    wait_for(lambda: (da.state(), db.state()) == ("MASTER", "BACKUP"), SETTLE, message="a did not preempt")
    took = takeover(da.stop, lambda: db.state() == "MASTER", "b did not take over after a's priority 0")
    assert took < mdi
    assert db.instance_status()["counters"]["priority_zero_received"] >= 1
    for d in (db,):
        assert d.instance_status()["counters"]["drops"] == {}

    frames = cap.wait(lambda fs: any(f.priority == 0 for f in fs), 5, "a's priority-0 advert never showed up")
    cap.stop()
    frames = cap.frames()
    assert frames, "nothing captured"
    # Nothing at all to 224.0.0.18 / ff02::12: unicast instances never fall back to multicast.
    assert {f.dst for f in frames} == set(peers), {f.dst for f in frames}
    assert {(f.src, f.dst) for f in frames} == {(peers[0], peers[1]), (peers[1], peers[0])}
    # TTL 255 (RFC 9568 §5.1.1.3) and a checksum tshark accepts with the peer in the pseudo-header.
    assert {f.ttl for f in frames} == {255}
    assert {f.checksum for f in frames} == {"1"}


# --- a second address in the primary's subnet ----------------------------------------------------------------------

SECONDARY = {"ipv4": ("198.51.100.21", "198.51.100.22"), "ipv6": ("2001:db8::21", "2001:db8::22")}
PLEN = {"ipv4": 24, "ipv6": 64}
IS_LOCAL = """
import json, socket, sys
from ipaddress import ip_address
from vrrpd.net.unicast import is_local
address, index = ip_address(sys.argv[1]), socket.if_nametoindex("eth0")
with socket.socket(socket.AF_INET if address.version == 4 else socket.AF_INET6, socket.SOCK_DGRAM) as s:
    s.connect((sys.argv[1], 9))
    print(json.dumps({"is_local": is_local(address, index), "connect_source": s.getsockname()[0]}))
"""


@pytest.mark.parametrize("family", FAMILIES)
def test_a_secondary_address_in_the_primarys_subnet_is_local_as_source_and_as_peer(lab, family):
    """The bug the reload tests found: the local route of a second address in the primary's subnet has the primary
    as its preferred source, so vrrpd.net.unicast.is_local (connect and read the source) said "not local": vrrpd
    refused it as `unicast_source` and kept it as a unicast peer of its own. a advertises from its secondary; b,
    with one file listing a's and its own secondary, leaves its own out and sends to a's alone."""
    a, b = pair(lab)
    a1, b1 = ADDRESSES[family]
    a2, b2 = SECONDARY[family]
    for host, address in ((a, a2), (b, b2)):
        host.run(["ip", "addr", "add", f"{address}/{PLEN[family]}", "dev", "eth0", *(["nodad"] * (family == "ipv6"))])
    probe = json.loads(a.run([sys.executable, "-c", IS_LOCAL, a2], timeout=20).stdout)
    assert probe["is_local"] is True, probe
    if family == "ipv4":
        # The connect check alone answers the primary here (`ip route show table local`: src 198.51.100.11).
        assert probe["connect_source"] == a1, probe
    # A listed peer that is a secondary of ours is left out: b runs, sending to a's secondary alone.
    common = {"addresses": [VIPS[family]], "advert_interval": INTERVAL}
    da = Vrrpd(a, [instance(priority=HIGH, unicast_source=a2, unicast_peers=[b1], **common)]).start()
    db = Vrrpd(b, [instance(priority=LOW, unicast_source=b1, unicast_peers=[a2, b2], **common)]).start()
    wait_for(lambda: (da.state(), db.state()) == ("MASTER", "BACKUP"), SETTLE, message="no election")
    assert f"unicast peer {b2} is an address of this host; left out" in db.log()
    a_status, b_status = da.instance_status(), db.instance_status()
    assert a_status["unicast"]["source"] == a2
    assert [p["address"] for p in b_status["unicast"]["peers"]] == [a2]
    # b hears a's adverts from the secondary address, and accepts them (a2 is its listed peer).
    wait_for(lambda: db.instance_status()["master_address"] == a2, 3, message="b never heard a from its secondary")
    assert db.instance_status()["counters"]["adverts_received"] > 0
    assert [d.instance_status()["counters"]["drops"] for d in (da, db)] == [{}, {}]
    assert [p["send_errors"] for p in a_status["unicast"]["peers"]] == [0]


# --- vrrpd <-> keepalived 2.2.7 -----------------------------------------------------------------------------------


def keepalived(host: Host, family: str, priority: int, source: str, peer: str) -> Keepalived:
    lines = [f"unicast_src_ip {source}", "unicast_peer {", f"    {peer}", "}"]
    return Keepalived(host, VRID, priority, [VIPS[family]], advert_int=INTERVAL, version=3, extra_instance_config=lines)


def ours_config(family: str, priority: int, source: str, peer: str, **extra: Any) -> dict[str, Any]:
    return instance(
        priority=priority,
        addresses=[VIPS[family]],
        advert_interval=INTERVAL,
        unicast_peers=[peer],
        unicast_source=source,
        **extra,
    )


KA_TTL = {"ipv4": {}, "ipv6": {"unicast_min_ttl": 64}}
"""keepalived 2.2.7 sends IPv6 unicast adverts with the kernel's default hop limit (64) unless `unicast_ttl` is set
(it passes IPV6_HOPLIMIT only for a configured TTL); IPv4 ones carry 255. So over IPv6 we accept 64 here."""


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("role", ["we_master", "we_backup"])
def test_issue5_7_keepalived_unicast_peer_interop(lab, family, role):
    """keepalived `unicast_src_ip` + `unicast_peer` against vrrpd `unicast_source` + `unicast_peers`: election,
    takeover after the master is killed (Master_Down_Interval), and preemption when it comes back."""
    a, k = pair(lab)
    ours_addr, ka_addr = ADDRESSES[family]
    ours_prio, ka_prio = (HIGH, LOW) if role == "we_master" else (LOW, HIGH)
    cap = BridgeCapture(lab)
    ka = keepalived(k, family, ka_prio, ka_addr, ours_addr).start()
    ours = Vrrpd(a, [ours_config(family, ours_prio, ours_addr, ka_addr, **KA_TTL[family])]).start()
    states = {"MASTER": "BACKUP", "BACKUP": "MASTER"}
    want = ("MASTER", "BACKUP") if role == "we_master" else ("BACKUP", "MASTER")
    wait_for(
        lambda: (ours.state(), ka.state()) == want,
        SETTLE,
        message=f"no agreement on {want}: ({ours.state()}, {ka.state()})" + tail("keepalived", ka.log()),
    )
    master_host = "a" if role == "we_master" else "b"
    wait_for(lambda: vip_holders([a, k], VIPS[family]) == [master_host], 3, message="VIP not on the master alone")

    if role == "we_master":
        # keepalived takes over when we are killed, and we preempt it back when we return.
        took = takeover(
            ours.crash, lambda: ka.state() == "MASTER", "keepalived did not take over" + tail("ka", ka.log())
        )
        assert took <= master_down_interval(ka_prio, INTERVAL) + MARGIN
        ours = Vrrpd(a, [ours_config(family, ours_prio, ours_addr, ka_addr, **KA_TTL[family])]).start()
        wait_for(lambda: (ours.state(), ka.state()) == want, SETTLE, message="we did not preempt keepalived")
    else:
        # We take over when keepalived is killed, and it preempts us back when it returns.
        took = takeover(ka.crash, lambda: ours.state() == "MASTER", "we did not take over" + tail("ours", ours.log()))
        mdi = master_down_interval(ours_prio, INTERVAL)
        assert mdi - INTERVAL - 0.05 <= took <= mdi + MARGIN
        ka.start()
        wait_for(
            lambda: (ours.state(), ka.state()) == want,
            SETTLE,
            message="keepalived did not preempt us" + tail("ka", ka.log()),
        )
    wait_for(lambda: vip_holders([a, k], VIPS[family]) == [master_host], 3, message="VIP not back on the master")
    assert states[want[0]] == want[1]

    status = ours.instance_status()
    assert status["counters"]["drops"] == {}, status["counters"]
    assert status["counters"]["adverts_received"] > 0
    assert [p["send_errors"] for p in status["unicast"]["peers"]] == [0]
    log = ka.log()
    for complaint in ("Invalid VRRPv3 checksum", "not a unicast peer", "Expected", "invalid TTL"):
        assert complaint not in log, tail("keepalived", log)

    # dumpcap writes with a lag and may lose its last moments on stop: wait until the final master's adverts
    # are in the file, then stop.
    final = ours_addr if role == "we_master" else ka_addr
    cap.wait(
        lambda fs: sum(f.src == final for f in fs) >= 20 and any(f.src != final for f in fs),
        10,
        "the capture never showed both routers' adverts",
    )
    cap.stop()
    frames = cap.frames()
    assert not {f.dst for f in frames} & GROUPS, "something went to the multicast group"
    ours_frames = [f for f in frames if f.src == ours_addr]
    ka_frames = [f for f in frames if f.src == ka_addr]
    assert ours_frames and ka_frames
    assert {f.dst for f in ours_frames} == {ka_addr} and {f.dst for f in ka_frames} == {ours_addr}
    assert {f.ttl for f in ours_frames} == {255}
    # What keepalived 2.2.7 puts on the wire (see KA_TTL), and that both checksums are the peer-destination form.
    assert {f.ttl for f in ka_frames} == ({255} if family == "ipv4" else {64})
    assert {f.checksum for f in frames} == {"1"}


# --- the receive filter against crafted adverts -------------------------------------------------------------------


class Lone:
    """vrrpd alone on `a` (Master), with `b` as its listed peer and `rogue` unlisted; b and rogue inject."""

    def __init__(self, lab: Lab, family: str, **extra: Any) -> None:
        self.family = family
        self.a, self.b = pair(lab)
        self.rogue = lab.add_host("rogue", ipv4="198.51.100.66/24", ipv6="2001:db8::66/64")
        self.ours, self.peer = ADDRESSES[family]
        self.d = Vrrpd(self.a, [ours_config(family, HIGH, self.ours, self.peer, **extra)]).start()
        wait_for(lambda: self.d.state() == "MASTER", SETTLE, message="vrrpd alone never became master")

    def inject(self, host: Host, src: str, *args: str) -> None:
        vip = VIPS[self.family].split("/")[0]
        argv = [sys.executable, INJECT, "eth0", src, str(VRID), vip, "unicast", "--dst", self.ours, *args]
        host.run(argv, timeout=60)

    def counters(self) -> dict[str, Any]:
        return self.d.instance_status()["counters"]


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_advert_from_a_source_not_in_unicast_peers_is_dropped(lab, family):
    t = Lone(lab, family)
    rogue_src = "198.51.100.66" if family == "ipv4" else "2001:db8::66"
    transitions = t.counters()["transitions"]
    t.inject(t.rogue, rogue_src, "--priority", "250", "--count", "5")
    wait_for(
        lambda: t.counters()["drops"].get("unicast_unknown_peer") == 5,
        5,
        message=f"the rogue's adverts were not counted as unicast_unknown_peer: {t.counters()}",
    )
    status = t.d.instance_status()
    assert status["state"] == "MASTER" and status["counters"]["transitions"] == transitions
    # The same advert from the listed peer is obeyed: priority 250 beats our 200 (RFC 9568 §6.4.3).
    t.inject(t.b, t.peer, "--priority", "250", "--count", "1")
    wait_for(lambda: t.d.state() == "BACKUP", 5, message="the listed peer's advert was not obeyed")
    assert t.d.instance_status()["master_address"] == t.peer


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_routed_peer_with_ttl_below_255_is_accepted_only_when_configured(lab, family):
    """RFC 9568 §7.1 drops TTL != 255; `unicast_min_ttl: 254` accepts a peer one router away, and still not two."""
    t = Lone(lab, family)
    t.inject(t.b, t.peer, "--priority", "250", "--count", "3", "--ttl", "254")
    refused_by_the_kernel(t)
    t.d.stop()

    t.d = Vrrpd(t.a, [ours_config(family, HIGH, t.ours, t.peer, unicast_min_ttl=254, unicast_ttl=64)]).start()
    wait_for(lambda: t.d.state() == "MASTER", SETTLE, message="vrrpd never became master")
    t.inject(t.b, t.peer, "--priority", "250", "--count", "3", "--ttl", "253")
    refused_by_the_kernel(t)
    t.inject(t.b, t.peer, "--priority", "250", "--count", "1", "--ttl", "254")
    wait_for(lambda: t.d.state() == "BACKUP", 5, message="TTL 254 from the peer was not accepted")


def refused_by_the_kernel(t: Lone) -> None:
    """The adverts just injected were below the minimum TTL, which the socket's kernel filter refuses (vrrpd.net.bpf):
    once a valid priority-1 sentinel from the peer has been received, nothing else was, nor counted as a drop."""
    before = t.counters()
    t.inject(t.b, t.peer, "--priority", "1", "--count", "1")
    wait_for(lambda: t.counters()["lower_priority_received"] > before["lower_priority_received"], 5)
    after = t.counters()
    assert after["adverts_received"] == before["adverts_received"] + 1 and after["drops"] == before["drops"]
    assert t.d.state() == "MASTER"


def test_issue5_7_unicast_ttl_is_what_goes_on_the_wire(lab):
    """`unicast_ttl` sets the TTL / hop limit per packet (the socket itself stays at 255 for multicast instances)."""
    a, _ = pair(lab)
    cap = BridgeCapture(lab)
    d = Vrrpd(
        a,
        [
            ours_config("ipv4", HIGH, ADDRESSES["ipv4"][0], ADDRESSES["ipv4"][1], name="u4", unicast_ttl=64),
            ours_config("ipv6", HIGH, ADDRESSES["ipv6"][0], ADDRESSES["ipv6"][1], name="u6", unicast_ttl=7),
            instance(name="m4", vrid=52, addresses=["198.51.100.101/24"], advert_interval=INTERVAL),
        ],
    ).start()
    wait_for(lambda: all(i["state"] == "MASTER" for i in d.status()["instances"]), SETTLE, message="not master")
    frames = cap.wait(
        lambda fs: {f.dst for f in fs} >= {ADDRESSES["ipv4"][1], ADDRESSES["ipv6"][1], "224.0.0.18"},
        10,
        "not every instance's adverts were captured",
    )
    cap.stop()
    ttls = {(f.dst, f.ttl) for f in frames}
    assert ttls == {(ADDRESSES["ipv4"][1], 64), (ADDRESSES["ipv6"][1], 7), ("224.0.0.18", 255)}, ttls
    assert {f.checksum for f in frames} == {"1"}


# --- the importer's output runs against keepalived -----------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_imported_keepalived_unicast_config_interoperates_with_keepalived(lab, family):
    """Issue #5 points 7 and 8: node a's keepalived.conf (unicast_src_ip, unicast_peer), converted with
    `import-keepalived`, runs as vrrpd against node b still on keepalived, and they elect and fail over. Over IPv6
    this needs the importer's unicast_min_ttl: 64 (keepalived's IPv6 unicast hop limit)."""
    a, b = pair(lab)
    ours_addr, ka_addr = ADDRESSES[family]
    conf = lab.workdir / "node-a-keepalived.conf"
    conf.write_text(keepalived(a, family, HIGH, ours_addr, ka_addr).config())
    result = import_keepalived(str(conf))
    instances = result.document["instances"]
    assert [i.get("unicast_min_ttl") for i in instances] == [None if family == "ipv4" else 64]
    # The notify script is the lab's oracle for keepalived, not part of what is being moved over.
    assert all("notify" in str(w) for w in result.warnings), result.warnings
    # So it is left behind: vrrpd refuses a hook whose command does not exist, and a's keepalived never ran to write it.
    moved = {**{k: v for k, v in instances[0].items() if k != "notify"}, "name": "v"}
    ka = keepalived(b, family, LOW, ka_addr, ours_addr).start()
    ours = Vrrpd(a, [moved]).start()
    wait_for(
        lambda: (ours.state(), ka.state()) == ("MASTER", "BACKUP"),
        SETTLE,
        message="the converted node and keepalived disagree" + tail("keepalived", ka.log()),
    )
    took = takeover(ours.crash, lambda: ka.state() == "MASTER", "keepalived did not take over" + tail("ka", ka.log()))
    assert took <= master_down_interval(LOW, INTERVAL) + MARGIN
    ours = Vrrpd(a, [moved]).start()
    wait_for(lambda: (ours.state(), ka.state()) == ("MASTER", "BACKUP"), SETTLE, message="no preemption back")
    assert ours.instance_status()["counters"]["drops"] == {}


# --- unicast with a virtual MAC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_unicast_with_virtual_mac_sends_from_the_interface_and_fails_over(lab, family):
    """With `virtual_mac: true` the VIPs live on the macvlan, but unicast adverts leave from the interface itself
    (as keepalived needs vmac_xmit_base for): a backup's macvlan is in protodown and has no route to the peer."""
    a, b = pair(lab)
    ours_addr, peer_addr = ADDRESSES[family]
    da = Vrrpd(a, [ours_config(family, HIGH, ours_addr, peer_addr, virtual_mac=True)]).start()
    db = Vrrpd(b, [ours_config(family, LOW, peer_addr, ours_addr, virtual_mac=True)]).start()
    wait_for(lambda: (da.state(), db.state()) == ("MASTER", "BACKUP"), SETTLE, message="no election")
    status = da.instance_status()
    assert status["virtual_mac"]["running"] is True
    assert status["unicast"]["source"] == ours_addr
    assert [p["send_errors"] for p in status["unicast"]["peers"]] == [0]
    took = takeover(da.crash, lambda: db.state() == "MASTER", "b did not take over" + tail("b", db.log()))
    assert took <= master_down_interval(LOW, INTERVAL) + MARGIN
    assert db.instance_status()["counters"]["drops"] == {}


# --- a real router between the peers -------------------------------------------------------------------------------

ROUTED = {
    "ipv4": ("198.51.100.11", "203.0.113.12", "198.51.100.1", "203.0.113.1", 24),
    "ipv6": ("2001:db8:1::11", "2001:db8:2::12", "2001:db8:1::1", "2001:db8:2::1", 64),
}


def routed_pair(lab: Lab, lab2: Lab, family: str) -> tuple[Host, Host]:
    """a on lab's bridge, b on lab2's, and a router namespace r with a leg on each: r's second leg is a lab2 host's
    eth0 moved into r (each lab still deletes what it made: the veth goes with either namespace)."""
    a_addr, b_addr, gw_a, gw_b, plen = ROUTED[family]
    v4 = family == "ipv4"
    a = lab.add_host("a", **({"ipv4": f"{a_addr}/{plen}"} if v4 else {"ipv6": f"{a_addr}/{plen}"}))
    r = lab.add_host("r", **({"ipv4": f"{gw_a}/{plen}"} if v4 else {"ipv6": f"{gw_a}/{plen}"}))
    b = lab2.add_host("b", **({"ipv4": f"{b_addr}/{plen}"} if v4 else {"ipv6": f"{b_addr}/{plen}"}))
    leg = lab2.add_host("r2")
    leg.run(["ip", "link", "set", "eth0", "netns", r.ns, "name", "eth1"])
    r.run(["sysctl", "-qw", "net.ipv6.conf.eth1.accept_dad=0"])
    r.run(["ip", "addr", "add", f"{gw_b}/{plen}", "dev", "eth1", *([] if v4 else ["nodad"])])
    r.run(["ip", "link", "set", "eth1", "up"])
    r.run(["sysctl", "-qw", "net.ipv4.ip_forward=1" if v4 else "net.ipv6.conf.all.forwarding=1"])
    a.run(["ip", "-4" if v4 else "-6", "route", "add", "default", "via", gw_a])
    b.run(["ip", "-4" if v4 else "-6", "route", "add", "default", "via", gw_b])
    wait_for(lambda: a.run(["ping", "-c1", "-W1", b_addr], check=False).returncode == 0, 10, message="no route a-b")
    return a, b


@pytest.mark.parametrize("family", FAMILIES)
def test_issue5_7_peers_one_router_apart_elect_only_with_unicast_min_ttl(lab, family):
    """A real router decrements the TTL / hop limit to 254. With the default unicast_min_ttl (255, RFC 9568 §7.1)
    each side's kernel filter drops the other's adverts and both are master; with 254 they elect one master, and the
    backup takes over when it is killed."""
    with Lab() as lab2:
        a, b = routed_pair(lab, lab2, family)
        a_addr, b_addr = ROUTED[family][:2]
        # A host route: with a prefix, the VIP on b would make a's subnet look on-link from b, and b's adverts
        # would no longer go through the router.
        vip = "198.51.100.100/32" if family == "ipv4" else "2001:db8:1::100/128"

        def start(min_ttl: int | None) -> tuple[Vrrpd, Vrrpd]:
            extra = {} if min_ttl is None else {"unicast_min_ttl": min_ttl}
            da = Vrrpd(
                a,
                [
                    instance(
                        priority=HIGH,
                        addresses=[vip],
                        advert_interval=INTERVAL,
                        unicast_peers=[b_addr],
                        unicast_source=a_addr,
                        **extra,
                    )
                ],
            ).start()
            db = Vrrpd(
                b,
                [
                    instance(
                        priority=LOW,
                        addresses=[vip],
                        advert_interval=INTERVAL,
                        unicast_peers=[a_addr],
                        unicast_source=b_addr,
                        **extra,
                    )
                ],
            ).start()
            return da, db

        try:
            da, db = start(None)
            wait_for(
                lambda: (
                    (da.state(), db.state()) == ("MASTER", "MASTER")
                    and all(d.instance_status()["counters"]["adverts_sent"] >= 3 for d in (da, db))
                ),
                SETTLE,
                message="without unicast_min_ttl the routed adverts were obeyed",
            )
            # The kernel filter refused the TTL-254 adverts (vrrpd.net.bpf): none reached either daemon.
            assert [d.instance_status()["counters"]["drops"] for d in (da, db)] == [{}, {}]
            assert da.instance_status()["counters"]["adverts_received"] == 0
            da.stop()
            db.stop()

            da, db = start(254)
            # b is Backup from its start; it has elected a once a's advert crossed the router.
            wait_for(
                lambda: (
                    (da.state(), db.state()) == ("MASTER", "BACKUP")
                    and db.instance_status()["master_address"] == a_addr
                ),
                SETTLE,
                message="no election",
            )
            assert [d.instance_status()["counters"]["drops"] for d in (da, db)] == [{}, {}]
            took = takeover(da.crash, lambda: db.state() == "MASTER", "b did not take over across the router")
            assert took <= master_down_interval(LOW, INTERVAL) + MARGIN
        except BaseException:
            print(lab2.dump_logs())  # b's log lives in lab2, which is gone by the time the fixture dumps lab's
            raise
