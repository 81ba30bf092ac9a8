"""VrrpSocket on a real kernel: two hosts on the lab bridge exchange adverts through vrrpd.net.sockets."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lab import Host, Lab

PROBE = str(Path(__file__).resolve().parent / "helpers" / "net_probe.py")


def probe(host: Host, *argv: str) -> list[dict[str, Any]]:
    out = host.run([sys.executable, PROBE, *argv], timeout=20).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def start_listener(host: Host, family: int, seconds: float = 1.5) -> subprocess.Popen:
    proc = host.popen(
        [sys.executable, PROBE, "recv", "eth0", "--family", str(family), "--seconds", str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready = json.loads(proc.stdout.readline())
    assert ready["ready"] and ready["loops_back"] is False
    return proc


def collect(proc: subprocess.Popen) -> list[dict[str, Any]]:
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def start_capture(host: Host, path: Path, bpf: str) -> subprocess.Popen:
    proc = host.popen(
        ["tcpdump", "--immediate-mode", "-n", "-U", "-i", "eth0", "-w", str(path), bpf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    # tcpdump says "listening on" once the capture is live; packets sent before that would be missed.
    line = proc.stderr.readline()
    assert "listening on" in line, line
    return proc


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    argv = ["tshark", "-r", str(path), "-Y", "vrrp", "-T", "fields"]
    for f in fields:
        argv += ["-e", f]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=30).stdout
    return [line.split("\t") for line in out.splitlines()]


@pytest.fixture
def pair(lab: Lab) -> tuple[Host, Host]:
    a = lab.add_host("a", ipv4="198.51.100.1/24", ipv6="2001:db8::1/64")
    b = lab.add_host("b", ipv4="198.51.100.2/24", ipv6="2001:db8::2/64")
    return a, b


@pytest.mark.parametrize(
    ("family", "vip"),
    [(4, "198.51.100.100"), (6, "fe80::100")],
    ids=["ipv4", "ipv6"],
)
def test_advert_crosses_the_link_and_not_back(lab: Lab, pair: tuple[Host, Host], family: int, vip: str) -> None:
    a, b = pair
    src = "198.51.100.1" if family == 4 else a.link_local
    group = "224.0.0.18" if family == 4 else "ff02::12"
    pcap = lab.workdir / f"vrrp{family}.pcap"
    capture = start_capture(b, pcap, "ip proto 112 or ip6 proto 112")
    listener = start_listener(b, family)

    (sent,) = probe(a, "send", "eth0", vip, "--family", str(family), "--count", "3")
    received = collect(listener)
    b.stop(capture)

    # RFC 9568 §5.1.x / R24: the sender and a second socket in its namespace see none of our adverts.
    assert sent == {"sent": 3, "src": src, "own_received": 0, "bystander": 0}
    assert len(received) == 3
    for rx in received:
        assert rx["src"] == src
        assert rx["dst"] == group
        assert rx["ttl"] == 255
        assert rx["length_mismatch"] is False
        assert rx["advert"] == {
            "vrid": 5,
            "priority": 100,
            "interval_cs": 100,
            "addresses": [vip],
            "checksum_form": "pseudo-header",
        }

    if shutil.which("tshark") is None:
        pytest.skip("tshark not installed: wire-level checks skipped")
    if family == 4:
        rows = tshark_fields(pcap, "ip.ttl", "ip.dsfield", "ip.src", "ip.dst", "vrrp.version", "vrrp.checksum.status")
        expected = ["255", "0xc0", src, group, "3", "1"]  # checksum.status 1 = good
    else:
        rows = tshark_fields(
            pcap, "ipv6.hlim", "ipv6.tclass", "ipv6.src", "ipv6.dst", "vrrp.version", "vrrp.checksum.status"
        )
        expected = ["255", "0x000000c0", src, group, "3", "1"]
    assert rows == [expected] * 3


def test_ipv4_source_is_forced_per_packet(lab: Lab, pair: tuple[Host, Host]) -> None:
    """IP_PKTINFO's ipi_spec_dst picks the source, not the kernel's own choice (the primary 198.51.100.1)."""
    a, b = pair
    a.run(["ip", "addr", "add", "198.51.100.50/24", "dev", "eth0"])  # a secondary address
    listener = start_listener(b, 4)
    (sent,) = probe(a, "send", "eth0", "198.51.100.100", "--src", "198.51.100.50", "--count", "1")
    (rx,) = collect(listener)
    assert sent["src"] == rx["src"] == "198.51.100.50"
    assert rx["advert"]["checksum_form"] == "pseudo-header"  # the checksum used the same, real source


def test_ipv6_source_is_forced_per_packet(lab: Lab, pair: tuple[Host, Host]) -> None:
    a, b = pair
    listener = start_listener(b, 6)
    (sent,) = probe(a, "send", "eth0", "fe80::100", "--family", "6", "--src", "2001:db8::1", "--count", "1")
    (rx,) = collect(listener)
    assert sent["src"] == rx["src"] == "2001:db8::1"
    assert rx["dst"] == "ff02::12" and rx["ttl"] == 255


def test_listener_ignores_other_interfaces_traffic(lab: Lab, pair: tuple[Host, Host]) -> None:
    """SO_BINDTODEVICE: a socket on `lo` of the receiving host hears nothing from eth0."""
    a, b = pair
    proc = b.popen(
        [sys.executable, "-c", _LO_LISTENER],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    probe(a, "send", "eth0", "198.51.100.100", "--count", "2")
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "0"


_LO_LISTENER = """
import time
from vrrpd.net.sockets import VrrpSocket
from vrrpd.protocol.packet import Family
with VrrpSocket("lo", Family.IPV4) as s:
    print("ready", flush=True)
    time.sleep(0.8)
    n = 0
    while s.recv() is not None:
        n += 1
    print(n)
"""


_FLAP_PEER = """
import sys, time
from ipaddress import ip_address
from vrrpd.net.sockets import VrrpSocket
from vrrpd.protocol.packet import Advert, Family, encode
family, src = Family(int(sys.argv[1])), ip_address(sys.argv[2])
with VrrpSocket("eth0", family) as s:
    print("ready", flush=True)
    sys.stdin.readline()  # the link is down now
    try:
        s.send(encode(Advert(5, 100, 100, (src,)), src), src)
        print("sent", flush=True)
    except OSError as err:
        print(f"error {err.errno}", flush=True)
    sys.stdin.readline()  # the link is up again and the peer has sent
    time.sleep(0.3)
    n = 0
    while s.recv() is not None:
        n += 1
    print(n, flush=True)
"""


@pytest.mark.parametrize("family", [4, 6], ids=["ipv4", "ipv6"])
def test_socket_survives_a_link_flap(pair: tuple[Host, Host], family: int) -> None:
    """Send on a down link raises OSError (ENETUNREACH for IPv4, EINVAL for IPv6: the caller counts it and goes
    on); the group membership survives down/up, so the same socket receives again afterwards."""
    a, b = pair
    src = "198.51.100.2" if family == 4 else b.link_local
    proc = b.popen(
        [sys.executable, "-c", _FLAP_PEER, str(family), src],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    b.link_set(False)
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.stdout.readline().startswith("error ")
    b.link_set(True)
    vip = "198.51.100.100" if family == 4 else "fe80::100"
    probe(a, "send", "eth0", vip, "--family", str(family), "--count", "2")
    proc.stdin.write("\n")
    proc.stdin.flush()
    out, _ = proc.communicate(timeout=10)
    assert out.strip() == "2"
