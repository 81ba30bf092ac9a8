"""Transmit-rule conformance (RFC 9568 §5.1, §5.2, §6.4, §7.2; docs/conformance.md R1, R2, R19, R20, R26, R27): what
vrrpd puts on the wire, captured by tshark in an observer namespace and decoded by tshark (an independent dissector),
with raw bytes read back by scapy where tshark hides them (the reserved nibble).

One capture serves most tests: a daemon with a pseudo-header, a message-only and an owner instance per family is
started while the observer captures, left Master for a second, then stopped with SIGTERM.
"""

from __future__ import annotations

import itertools
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from lab import Host, Lab, wait_for
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
from scapy.utils import rdpcap
from vrrpd_runner import Vrrpd, instance

FAMILIES = ("ipv4", "ipv6")
INTERVAL = 0.1
PRIMARY, SECONDARY = "198.51.100.11", "198.51.100.12"
# Deliberately unsorted, and for IPv6 with a link-local VIP first (RFC 9568 §5.2.9): order must survive as given.
VIPS = {
    "ipv4": ["198.51.100.100/24", "198.51.100.90/24", "198.51.100.101/24"],
    "ipv6": ["fe80::51/64", "2001:db8::100/64", "2001:db8::90/64"],
}
OWNER_VIPS = {"ipv4": ["198.51.100.103/24"], "ipv6": ["fe80::53/64", "2001:db8::103/64"]}
FIELDS = [
    "frame.number",
    "frame.time_relative",
    "ip.src",
    "ipv6.src",
    "ip.dst",
    "ipv6.dst",
    "ip.ttl",
    "ipv6.hlim",
    "ip.dsfield",
    "ipv6.tclass",
    "vrrp.version",
    "vrrp.type",
    "vrrp.virt_rtr_id",
    "vrrp.prio",
    "vrrp.addr_count",
    "vrrp.short_adver_int",
    "vrrp.checksum.status",
    "vrrp.ip_addr",
    "vrrp.ipv6_addr",
]
GOOD, BAD = "1", "0"  # tshark's checksum status values


@dataclass
class Advert:
    """One captured advert as tshark decodes it, plus its raw VRRP bytes."""

    family: str
    time: float
    src: str
    dst: str
    hops: int
    tos: int
    version: int
    type: int
    vrid: int
    priority: int
    count: int
    interval_cs: int
    checksum: str
    """tshark's checksum status with default preferences."""
    checksum_as_v2: str
    """...and with vrrp.v3_checksum_as_in_v2:TRUE (the RFC 9568 message-only IPv4 form)."""
    addresses: list[str]
    raw: bytes


class Capture:
    """tshark writing a pcap in an observer namespace; decode() reads it back while it is still running."""

    def __init__(self, observer: Host) -> None:
        self.host = observer
        lab = observer.lab
        self.pcap = lab.workdir / f"{observer.name}.pcapng"
        self.err = lab.workdir / f"{observer.name}.tshark.err"
        lab.logs[f"tshark {observer.name}"] = self.err
        with self.err.open("w") as err:
            argv = ["tshark", "-i", "eth0", "-q", "-w", str(self.pcap), "-f", "ip proto 112 or ip6 proto 112"]
            self.proc = observer.popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "Capturing on" in self.err.read_text(), 15, message="tshark never started capturing")

    def _fields(self, *prefs: str) -> list[list[str]]:
        argv = ["tshark", "-r", str(self.pcap), *prefs, "-T", "fields", "-E", "separator=|"]
        argv += [arg for f in FIELDS for arg in ("-e", f)]
        out = self.host.run(argv, timeout=30).stdout
        return [line.split("|") for line in out.splitlines() if line.strip()]

    def decode(self) -> list[Advert]:
        # dumpcap flushes the file every few hundred ms; a packet can be half written while it runs.
        plain = self._fields()
        as_v2 = {row[0]: row for row in self._fields("-o", "vrrp.v3_checksum_as_in_v2:TRUE")}
        raw = rdpcap(str(self.pcap)) if plain else []
        adverts = []
        for row in plain:
            values = dict(zip(FIELDS, row, strict=True))
            number = int(values["frame.number"])
            if number > len(raw) or values["frame.number"] not in as_v2:
                continue
            family = "ipv4" if values["ip.src"] else "ipv6"
            ip = "ip" if family == "ipv4" else "ipv6"
            packet = raw[number - 1]
            layer = packet[IP] if family == "ipv4" else packet[IPv6]
            addresses = values["vrrp.ip_addr"] or values["vrrp.ipv6_addr"]
            adverts.append(
                Advert(
                    family=family,
                    time=float(values["frame.time_relative"]),
                    src=values[f"{ip}.src"],
                    dst=values[f"{ip}.dst"],
                    hops=int(values["ip.ttl"] or values["ipv6.hlim"]),
                    tos=int(values["ip.dsfield"] or values["ipv6.tclass"], 0),
                    version=int(values["vrrp.version"]),
                    type=int(values["vrrp.type"]),
                    vrid=int(values["vrrp.virt_rtr_id"]),
                    priority=int(values["vrrp.prio"]),
                    count=int(values["vrrp.addr_count"]),
                    interval_cs=int(values["vrrp.short_adver_int"]),
                    checksum=values["vrrp.checksum.status"],
                    checksum_as_v2=dict(zip(FIELDS, as_v2[values["frame.number"]], strict=True))[
                        "vrrp.checksum.status"
                    ],
                    addresses=addresses.split(",") if addresses else [],
                    raw=bytes(layer.payload),
                )
            )
        return adverts

    def wait(self, predicate: Any, timeout: float, message: str) -> list[Advert]:
        """Poll the growing capture until `predicate(adverts)` holds; returns the adverts."""
        return wait_for(lambda: (lambda ads: ads if predicate(ads) else None)(self.decode()), timeout, 0.2, message)

    def stop(self) -> None:
        self.host.stop(self.proc)


@dataclass
class Shared:
    adverts: list[Advert]
    link_local: str
    instances: dict[str, dict[str, Any]]


# name -> (family, VRID, priority, VIPs, extra config)
INSTANCES: dict[str, tuple[str, int, int, list[str], dict[str, Any]]] = {
    "p4": ("ipv4", 51, 200, VIPS["ipv4"], {}),
    "m4": ("ipv4", 52, 200, ["198.51.100.102/24"], {"checksum": "message-only"}),
    "o4": ("ipv4", 53, 255, OWNER_VIPS["ipv4"], {}),
    "p6": ("ipv6", 51, 200, VIPS["ipv6"], {}),
    "o6": ("ipv6", 53, 255, OWNER_VIPS["ipv6"], {}),
}


@pytest.fixture(scope="module")
def shared(request: pytest.FixtureRequest) -> Iterator[Shared]:
    lab = Lab()
    failed = request.session.testsfailed
    try:
        a = lab.add_host("a", ipv4=f"{PRIMARY}/24", ipv6="2001:db8::11/64")
        # A secondary address on the same subnet: the source must stay the primary one (§5.1.1.1).
        a.run(["ip", "addr", "add", f"{SECONDARY}/24", "dev", "eth0"])
        observer = lab.add_host("o", ipv4="198.51.100.13/24", ipv6="2001:db8::13/64")
        cap = Capture(observer)
        configs = [
            instance(name=name, vrid=vrid, priority=prio, addresses=vips, advert_interval=INTERVAL, **extra)
            for name, (_, vrid, prio, vips, extra) in INSTANCES.items()
        ]
        d = Vrrpd(a, configs).start()
        wait_for(lambda: all(i["state"] == "MASTER" for i in d.status()["instances"]), 5)
        statuses = {i["name"]: i for i in d.status()["instances"]}
        sent = {name: s["counters"]["adverts_sent"] for name, s in statuses.items()}
        wait_for(lambda: all(i["counters"]["adverts_sent"] >= sent[i["name"]] + 8 for i in d.status()["instances"]), 5)
        assert d.stop() == 0
        # Every instance's last advert (priority 0) must reach the file before the capture is read.
        cap.wait(
            lambda ads: (
                {(a.family, a.vrid) for a in ads if a.priority == 0} == {(f, v) for f, v, *_ in INSTANCES.values()}
            ),
            10,
            "the priority-0 adverts never showed up in the capture",
        )
        cap.stop()
        yield Shared(cap.decode(), a.link_local, statuses)
    finally:
        if request.session.testsfailed > failed:
            print(lab.dump_logs())
        lab.close()


def of(shared: Shared, name: str) -> list[Advert]:
    family, vrid, *_ = INSTANCES[name]
    adverts = [a for a in shared.adverts if a.family == family and a.vrid == vrid]
    assert len(adverts) >= 10, adverts
    return adverts


def running(adverts: list[Advert]) -> list[Advert]:
    """The adverts sent while Master, without the final priority-0 one."""
    return [a for a in adverts if a.priority != 0]


def plain(family: str) -> str:
    return "p4" if family == "ipv4" else "p6"


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_1_1_3_and_5_1_2_3_ttl_and_hop_limit_are_255(shared, family):
    assert {a.hops for a in shared.adverts if a.family == family} == {255}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_1_tos_and_traffic_class_are_internetwork_control_0xc0_as_keepalived_and_frr(shared, family):
    assert {a.tos for a in shared.adverts if a.family == family} == {0xC0}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_1_1_2_and_5_1_2_2_destination_is_the_vrrp_group(shared, family):
    assert {a.dst for a in shared.adverts if a.family == family} == {"224.0.0.18" if family == "ipv4" else "ff02::12"}


def test_9568_5_1_1_1_ipv4_source_is_the_primary_address_not_a_secondary_or_a_vip(shared):
    assert {a.src for a in shared.adverts if a.family == "ipv4"} == {PRIMARY}


def test_9568_5_1_2_1_ipv6_source_is_the_link_local_address(shared):
    assert {a.src for a in shared.adverts if a.family == "ipv6"} == {shared.link_local}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_1_and_5_2_2_version_3_type_advertisement(shared, family):
    assert {(a.version, a.type) for a in shared.adverts if a.family == family} == {(3, 1)}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_6_reserved_bits_are_zero(shared, family):
    ads = [a for a in shared.adverts if a.family == family]
    assert ads and all(a.raw[4] >> 4 == 0 for a in ads), [a.raw[:8].hex() for a in ads if a.raw[4] >> 4]


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_7_and_7_2_configured_interval_is_advertised_and_kept(shared, family):
    ads = running(of(shared, plain(family)))
    assert {a.interval_cs for a in ads} == {round(INTERVAL * 100)}
    gaps = [b.time - a.time for a, b in itertools.pairwise(ads)]
    assert statistics.median(gaps) == pytest.approx(INTERVAL, rel=0.25), gaps


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_9_and_7_2_all_vips_in_configured_order(shared, family):
    expected = [v.split("/")[0] for v in VIPS[family]]
    for a in of(shared, plain(family)):  # the priority-0 advert too
        assert (a.count, a.addresses) == (len(expected), expected)


def test_9568_5_2_9_ipv6_link_local_vip_first_when_configured_first(shared):
    for name in ("p6", "o6"):
        assert {a.addresses[0] for a in of(shared, name)} == {INSTANCES[name][3][0].split("/")[0]}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_8_pseudo_header_checksum_is_good_for_tshark(shared, family):
    assert {a.checksum for a in shared.adverts if a.family == family and a.vrid != 52} == {GOOD}


def test_9568_5_2_8_ipv4_message_only_checksum_is_good_only_with_tshark_v3_checksum_as_in_v2(shared):
    # tshark verifies the IPv4 pseudo-header form by default; vrrp.v3_checksum_as_in_v2 switches it to the RFC
    # 9568 message-only form, so each instance must be Good under exactly its own form.
    message_only = of(shared, "m4")
    assert {(a.checksum, a.checksum_as_v2) for a in message_only} == {(BAD, GOOD)}
    assert {(a.checksum, a.checksum_as_v2) for a in of(shared, "p4")} == {(GOOD, BAD)}
    # ...and status says which form each one sends.
    assert transmit_form(shared.instances["m4"]) == "message-only"
    assert transmit_form(shared.instances["p4"]) == "pseudo-header"


def transmit_form(status: dict[str, Any]) -> str:
    checksum = status["checksum"]  # {"transmit": FORM, "receive": [FORMS]}
    return checksum["transmit"] if isinstance(checksum, dict) else checksum


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_6_4_3_shutdown_sends_exactly_one_priority_0_advert_last(shared, family):
    for name in INSTANCES:
        if INSTANCES[name][0] != family:
            continue
        priorities = [a.priority for a in of(shared, name)]
        assert priorities[-1] == 0 and priorities.count(0) == 1, (name, priorities)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_4_and_6_4_1_owner_advertises_255_at_once_a_backup_only_after_master_down(shared, family):
    owner, other = ("o4", "p4") if family == "ipv4" else ("o6", "p6")
    assert {a.priority for a in running(of(shared, owner))} == {255}
    assert {a.priority for a in running(of(shared, other))} == {200}
    # R1: the owner sends at start-up; R2: a non-owner first waits Master_Down_Interval (0.3 + 0.022 s).
    delay = of(shared, other)[0].time - of(shared, owner)[0].time
    assert delay == pytest.approx(3 * INTERVAL + (256 - 200) * INTERVAL / 256, abs=0.08), delay


# --- after Backup -> Master -------------------------------------------------------------------------------------


def test_9568_7_2_configured_interval_after_backup_to_master_not_the_learned_one(lab):
    # R20/R26: our Backup learns the master's 0.1 s (R11), takes over when it stops, and must then advertise its own
    # configured 0.3 s, for each family.
    ours_interval, theirs_interval = 0.3, 0.1
    ours = lab.add_host("ours", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    theirs = lab.add_host("theirs", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    observer = lab.add_host("o", ipv4="198.51.100.13/24", ipv6="2001:db8::13/64")

    def both(priority: int, interval: float) -> list[dict[str, Any]]:
        return [
            instance(name=f"v{f}", priority=priority, addresses=[vip], advert_interval=interval)
            for f, vip in (("4", "198.51.100.100/24"), ("6", "2001:db8::100/64"))
        ]

    master = Vrrpd(theirs, both(200, theirs_interval)).start()
    wait_for(lambda: master.state("v4") == master.state("v6") == "MASTER", 5)
    backup = Vrrpd(ours, both(100, ours_interval)).start()

    def learned() -> bool:
        return all(
            s["state"] == "BACKUP" and s["master_advert_interval"] == pytest.approx(theirs_interval)
            for s in backup.status()["instances"]
        )

    wait_for(learned, 5, message="our backup never learned the master's interval")
    cap = Capture(observer)
    assert master.stop() == 0
    wait_for(lambda: backup.state("v4") == backup.state("v6") == "MASTER", 3)
    sources = {"ipv4": "198.51.100.11", "ipv6": ours.link_local}

    def ours_only(ads: list[Advert]) -> dict[str, list[Advert]]:
        return {f: [a for a in ads if a.family == f and a.src == sources[f]] for f in FAMILIES}

    ads = ours_only(cap.wait(lambda ads: all(len(v) >= 6 for v in ours_only(ads).values()), 10, "too few adverts"))
    cap.stop()
    for family, mine in ads.items():
        assert {a.interval_cs for a in mine} == {round(ours_interval * 100)}, family
        gaps = [b.time - a.time for a, b in itertools.pairwise(mine)]
        assert statistics.median(gaps) == pytest.approx(ours_interval, rel=0.2), (family, gaps)
