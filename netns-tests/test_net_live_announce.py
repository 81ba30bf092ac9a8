"""Announcer on a real kernel: a neighbour's capture decodes the frames and its neighbour table follows them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from lab import Host, Lab, wait_for
from scapy.all import ARP, Ether, ICMPv6ND_NA, IPv6, rdpcap
from scapy.layers.inet6 import ICMPv6NDOptDstLLAddr, in6_chksum

PROBE = str(Path(__file__).resolve().parent / "helpers" / "net_probe.py")
VIP4, VIP6 = "198.51.100.100", "2001:db8::100"
STALE_MAC = "02:00:00:00:00:99"


def neighbour_mac(host: Host, address: str) -> str | None:
    entries = json.loads(host.run(["ip", "-j", "neigh", "show", address, "dev", "eth0"]).stdout)
    return entries[0].get("lladdr") if entries else None


@pytest.fixture
def pair(lab: Lab) -> tuple[Host, Host]:
    a = lab.add_host("a", ipv4="198.51.100.1/24", ipv6="2001:db8::1/64")
    b = lab.add_host("b", ipv4="198.51.100.2/24", ipv6="2001:db8::2/64")
    return a, b


def test_garp_and_na_reach_the_neighbour_and_update_its_cache(lab: Lab, pair: tuple[Host, Host]) -> None:
    a, b = pair
    # b believes the VIPs live elsewhere; the announcements must move them to a's MAC (O=1 / GARP override).
    for vip in (VIP4, VIP6):
        b.run(["ip", "neigh", "replace", vip, "lladdr", STALE_MAC, "dev", "eth0", "nud", "stale"])
        assert neighbour_mac(b, vip) == STALE_MAC

    pcap = lab.workdir / "announce.pcap"
    capture = b.popen(
        ["tcpdump", "--immediate-mode", "-n", "-U", "-i", "eth0", "-w", str(pcap), "arp or icmp6"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert capture.stderr is not None and "listening on" in capture.stderr.readline()

    out = a.run([sys.executable, PROBE, "announce", "eth0", VIP4, VIP6]).stdout
    assert json.loads(out)["link_local"] == a.link_local

    wait_for(lambda: neighbour_mac(b, VIP4) == a.mac, 3, message="GARP did not update b's ARP cache")
    wait_for(lambda: neighbour_mac(b, VIP6) == a.mac, 3, message="NA did not update b's neighbour cache")
    b.stop(capture)

    frames = [Ether(bytes(p)) for p in rdpcap(str(pcap))]
    garps = [f for f in frames if ARP in f and f[ARP].psrc == VIP4]
    nas = [f for f in frames if ICMPv6ND_NA in f and f[ICMPv6ND_NA].tgt == VIP6]
    assert len(garps) == 1 and len(nas) == 1

    garp = garps[0]
    assert (garp.src, garp.dst) == (a.mac, "ff:ff:ff:ff:ff:ff")
    assert (garp[ARP].op, garp[ARP].hwsrc, garp[ARP].pdst) == (1, a.mac, VIP4)

    na = nas[0]
    assert (na.src, na.dst) == (a.mac, "33:33:00:00:00:01")
    assert (na[IPv6].src, na[IPv6].dst, na[IPv6].hlim) == (a.link_local, "ff02::1", 255)
    assert (na[ICMPv6ND_NA].R, na[ICMPv6ND_NA].S, na[ICMPv6ND_NA].O) == (1, 0, 1)
    assert na[ICMPv6NDOptDstLLAddr].lladdr == a.mac
    assert in6_chksum(58, na[IPv6], bytes(na[IPv6].payload)) == 0
