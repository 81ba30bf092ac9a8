"""vrrpd.net.netlink.Netlink on a real kernel, started the way the daemon is: `ip netns exec NS python ...`."""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Any

from lab import Host, Lab

PROBE = str(Path(__file__).resolve().parent / "helpers" / "net_probe.py")


def netlink(host: Host, op: str, *addresses: str) -> dict[str, Any]:
    out = host.run([sys.executable, PROBE, "netlink", op, "eth0", *addresses], timeout=20).stdout
    (result,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    return result


def kernel_addresses(host: Host) -> dict[str, dict[str, Any]]:
    """`ip -j addr` of eth0, keyed by 'address/prefixlen'."""
    (dev,) = json.loads(host.run(["ip", "-j", "addr", "show", "dev", "eth0"]).stdout)
    return {f"{a['local']}/{a['prefixlen']}": a for a in dev["addr_info"]}


def test_link_facts_match_the_kernel(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.1/24", ipv6="2001:db8::1/64")
    info = netlink(a, "info")
    (link,) = json.loads(a.run(["ip", "-j", "link", "show", "dev", "eth0"]).stdout)
    assert info["link"] == {"index": link["ifindex"], "name": "eth0", "mac": a.mac, "up": True, "mtu": link["mtu"]}
    assert info["primary_ipv4"] == "198.51.100.1"
    assert info["link_local"] == a.link_local
    assert set(info["addresses"]) == set(kernel_addresses(a))
    assert info["slow_callbacks"] == []  # no netlink call held the event loop


def test_add_and_remove_are_idempotent(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.1/24", ipv6="2001:db8::1/64")
    # Turn DAD back on for eth0, so a VIP that is not tentative proves IFA_F_NODAD and not the lab's sysctls.
    a.run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=3"])
    vips = ["198.51.100.100/24", "203.0.113.7/32", "2001:db8::100/64"]

    added = netlink(a, "add", *vips)  # each address is added twice
    kernel = kernel_addresses(a)
    for vip in vips:
        assert vip in kernel
        assert vip in added["addresses"]
    v6 = kernel["2001:db8::100/64"]
    assert v6.get("nodad") is True
    assert not v6.get("tentative") and not v6.get("dadfailed")
    assert kernel["198.51.100.100/24"].get("secondary") is True  # same subnet as the primary
    # 203.0.113.7/32 is a primary of its own; excluding the VIPs still finds the real primary.
    assert added["primary_ipv4"] == "198.51.100.1"
    assert added["primary_ipv4_excluding"] == "198.51.100.1"

    assert added["slow_callbacks"] == []

    removed = netlink(a, "remove", *vips)  # each address is removed twice
    assert removed["slow_callbacks"] == []
    kernel = kernel_addresses(a)
    for vip in vips:
        assert vip not in kernel
        assert vip not in removed["addresses"]
    assert {"198.51.100.1/24", "2001:db8::1/64"} <= set(kernel)


def test_primary_ipv4_skips_a_vip_added_before_the_real_address(lab: Lab) -> None:
    """A VIP outside every subnet becomes a primary; `exclude` keeps it from being taken for the source."""
    a = lab.add_host("a", ipv6="2001:db8::1/64")
    netlink(a, "add", "203.0.113.7/32")
    a.run(["ip", "addr", "add", "198.51.100.1/24", "dev", "eth0"])
    info = netlink(a, "info", "203.0.113.7/32")
    assert info["primary_ipv4"] == "203.0.113.7"
    assert info["primary_ipv4_excluding"] == "198.51.100.1"


def test_link_down_is_reported(lab: Lab) -> None:
    a = lab.add_host("a", ipv4="198.51.100.1/24")
    a.link_set(False)
    assert netlink(a, "info")["link"]["up"] is False


def batch(host: Host, op: str, *addresses: str) -> dict[str, Any]:
    out = host.run([sys.executable, PROBE, "batch", op, "eth0", *addresses], timeout=60).stdout
    (result,) = [json.loads(line) for line in out.splitlines() if line.strip()]
    return result


def test_batch_adds_many_addresses_at_once_tagged_and_without_dad(lab: Lab) -> None:
    """Issue #6 (100 VIPs <= 15 ms): add_many sends the requests back to back. More addresses than one send()
    carries (addrbatch.CHUNK), both families: each is acknowledged, tagged IFA_PROTO 0x56 (vrrpd's own, so a
    restart can tell them from the admin's), and the IPv6 ones are usable at once (IFA_F_NODAD). The acks need no
    wait, so the batch itself must let the event loop run between chunks (no step over 10 ms: slow_callbacks)."""
    a = lab.add_host("a", ipv4="198.51.100.1/24", ipv6="2001:db8::1/64")
    a.run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1", "net.ipv6.conf.eth0.dad_transmits=3"])
    vips = [f"203.0.113.{h}/24" for h in range(1, 151)] + [f"2001:db8:1::{h:x}/64" for h in range(1, 151)]

    added = batch(a, "add", *vips)

    assert added["errors"] == dict.fromkeys(vips)
    kernel = kernel_addresses(a)
    assert set(vips) <= set(kernel)
    assert all(kernel[v].get("nodad") is True and not kernel[v].get("tentative") for v in vips if ":" in v)
    assert set(added["ours"]) == {v.split("/")[0] for v in vips}  # the admin's own addresses are not tagged
    assert "198.51.100.1" not in added["ours"] and "2001:db8::1" not in added["ours"]
    assert added["slow_callbacks"] == []

    removed = batch(a, "remove", *vips)
    assert removed["errors"] == dict.fromkeys(vips)
    assert not set(vips) & set(kernel_addresses(a))
    assert {"198.51.100.1/24", "2001:db8::1/64"} <= set(kernel_addresses(a))


def test_batch_replace_and_remove_are_idempotent(lab: Lab) -> None:
    """A takeover may repeat an add (replace: the same address again succeeds, once in the table) and a release
    may remove an address that is already gone (success: the state we wanted)."""
    a = lab.add_host("a", ipv4="198.51.100.1/24")
    vips = ["198.51.100.100/24", "203.0.113.7/32", "2001:db8::100/64"]

    batch(a, "add", *vips)
    again = batch(a, "add", *vips, *vips)  # already there, and twice within one batch

    assert again["errors"] == dict.fromkeys(vips)
    assert all(again["addresses"].count(v) == 1 for v in vips)
    assert kernel_addresses(a)["198.51.100.100/24"].get("secondary") is True  # same subnet as the primary
    batch(a, "remove", *vips)
    gone = batch(a, "remove", *vips)
    assert gone["errors"] == dict.fromkeys(vips)
    assert not set(vips) & set(gone["addresses"])


def test_batch_reports_a_failing_address_and_adds_the_others(lab: Lab) -> None:
    """Each request gets its own ack: the kernel refuses a multicast address (EADDRNOTAVAIL), and that error is
    reported for that address alone while the addresses before and after it are added."""
    a = lab.add_host("a", ipv4="198.51.100.1/24")
    good = ["203.0.113.1/24", "2001:db8::5/64", "203.0.113.2/24"]
    refused = "ff02::db8/64"

    added = batch(a, "add", good[0], good[1], refused, good[2])

    assert added["errors"] == {**dict.fromkeys(good), refused: errno.EADDRNOTAVAIL}
    assert set(good) <= set(kernel_addresses(a))
    assert refused not in kernel_addresses(a)
