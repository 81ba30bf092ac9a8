"""Receive-rule conformance (RFC 9568 §7.1, §5.1, §5.2; docs/conformance.md V1-V17): one test per rule.

A rogue namespace injects crafted adverts with scapy (helpers/inject.py) at a running vrrpd that is Master of every
instance. Each test checks the drop counter the rule names (exact deltas, so nothing else was counted either), or,
for a packet the kernel receive filter refuses (`KERNEL`, vrrpd.net.bpf; docs/hostile.md), that no counter moved
at all, and that the instance's state, transition count and master did not change. Unless a test says otherwise
the crafted packets claim priority 250, above our 200: had one been accepted, we would have stepped down.

Most packets are followed by a *sentinel* (a valid priority-1 advert, see inject.py --sentinel): once the daemon has
counted it, it has read everything sent before it, so "nothing happened" is a fact, not a timeout.

One lab and one daemon serve the whole module (the daemon stays Master throughout; the one test that makes it step
down waits until it is Master again), which keeps some 30 tests to a few seconds of wall time.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab import Lab, wait_for
from vrrpd_runner import Vrrpd, instance

INJECT = str(Path(__file__).parent / "helpers" / "inject.py")
FAMILIES = ("ipv4", "ipv6")
ROGUE_PRIORITY = 250
OUR_PRIORITY = 200
KERNEL = None
"""The reason of a packet the socket's kernel filter refuses (vrrpd.net.bpf): it never reaches vrrpd, so no drop
counter moves at all and only the sentinel after it is received. tests/test_receive_screen.py still checks the
reason the Python screen (defence in depth) would count it under."""
# instance kind -> (VRID, IPv4 VIP, IPv6 VIP, extra config)
KINDS: dict[str, tuple[int, str, str, dict[str, Any]]] = {
    "v": (51, "198.51.100.100/24", "2001:db8::100/64", {}),
    "drop": (61, "198.51.100.102/24", "2001:db8::102/64", {"address_check": "drop"}),
    "owner": (71, "198.51.100.104/24", "2001:db8::104/64", {"priority": 255}),
}


class Target:
    """vrrpd on host `a` (Master of every instance) and a rogue host on the same LAN."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
        self.rogue = lab.add_host("rogue", ipv4="198.51.100.66/24", ipv6="2001:db8::66/64")
        instances = []
        for kind, (vrid, vip4, vip6, extra) in KINDS.items():
            for family, vip in (("ipv4", vip4), ("ipv6", vip6)):
                settings = {"priority": OUR_PRIORITY, **extra}
                instances.append(instance(name=self.name(kind, family), vrid=vrid, addresses=[vip], **settings))
        self.d = Vrrpd(self.a, instances).start()
        wait_for(
            lambda: all(i["state"] == "MASTER" for i in self.d.status()["instances"]),
            5,
            message="vrrpd did not become master of every instance",
        )

    @staticmethod
    def name(kind: str, family: str) -> str:
        return f"{kind}{family[-1]}"

    def src(self, family: str) -> str:
        return "198.51.100.66" if family == "ipv4" else self.rogue.link_local

    def ours(self, family: str) -> str:
        return "198.51.100.11" if family == "ipv4" else self.a.link_local

    def status(self, kind: str, family: str) -> dict[str, Any]:
        return self.d.instance_status(self.name(kind, family))

    def link_drops(self, family: str) -> dict[str, int]:
        label = "IPv4" if family == "ipv4" else "IPv6"
        return next(i["drops"] for i in self.d.status()["interfaces"] if i["family"] == label)

    def inject(
        self,
        family: str,
        *cases: str,
        kind: str = "v",
        vips: str | None = None,
        src: str | None = None,
        sentinel: bool = True,
        **options: Any,
    ) -> None:
        vrid, vip4, vip6, _ = KINDS[kind]
        vip = vips or (vip4 if family == "ipv4" else vip6).split("/")[0]
        argv = [sys.executable, INJECT, "eth0", src or self.src(family), str(vrid), vip, *cases]
        options.setdefault("priority", ROGUE_PRIORITY)
        for key, value in options.items():
            argv += [f"--{key}", str(value)]
        if sentinel:
            argv.append("--sentinel")
        self.rogue.run(argv, timeout=60)


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    lab = Lab()
    failed = request.session.testsfailed
    try:
        yield Target(lab)
    finally:
        if request.session.testsfailed > failed:
            print(lab.dump_logs())  # shown with the failing test's teardown
        lab.close()


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}


def expect_drops(
    t: Target,
    family: str,
    *cases: str,
    reason: str | None,
    count: int = 3,
    on_interface: bool = False,
    reaches_router: bool = False,
    **inject_options: Any,
) -> dict[str, Any]:
    """Inject `cases` (`count` of each, then a sentinel) at instance "v" and check that exactly `count` per case
    were dropped as `reason` (None: nothing reached vrrpd at all), on the instance or on the interface, and that
    nothing changed. `reaches_router`: the packet is well-formed VRRP, so the state machine counts it as received
    before its own check drops it. Returns the instance status afterwards."""
    before, before_link = t.status("v", family), t.link_drops(family)
    c0 = before["counters"]
    t.inject(family, *cases, count=count, **inject_options)

    def sentinel_seen() -> bool:
        return t.status("v", family)["counters"]["lower_priority_received"] > c0["lower_priority_received"]

    wait_for(sentinel_seen, 5, message=f"the sentinel after {cases} never arrived")
    after, after_link = t.status("v", family), t.link_drops(family)
    c1 = after["counters"]
    sent = count * len(cases)
    expected = {reason: sent} if reason else {}
    assert delta(after_link, before_link) == (expected if on_interface else {})
    assert delta(c1["drops"], c0["drops"]) == ({} if on_interface else expected)
    assert c1["adverts_received"] - c0["adverts_received"] == 1 + (sent if reaches_router else 0)
    assert_unchanged(before, after)
    if reason and not reaches_router:
        # V17: SHOULD log. The log is rate-limited to 5 lines per (interface, reason) a minute, shared by both
        # families, so an earlier test may have used up the budget for this reason.
        src = inject_options.get("src") or t.src(family)
        lines = [line for line in t.d.log().splitlines() if "dropped advert from" in line and f": {reason}" in line]
        assert any(f"from {src}: {reason}" in line for line in lines) or len(lines) >= 5, lines
    return after


def assert_unchanged(before: dict[str, Any], after: dict[str, Any]) -> None:
    assert after["state"] == before["state"] == "MASTER"
    assert after["counters"]["transitions"] == before["counters"]["transitions"]
    assert after["master_address"] == before["master_address"] == before["primary_address"]


# --- IP layer --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_1_1_3_and_5_1_2_3_ttl_or_hop_limit_not_255_is_dropped(target, family):
    expect_drops(target, family, "ttl", reason=KERNEL)  # V1: sent with TTL / hop limit 64


def test_9568_5_1_1_ipv4_total_length_beyond_the_packet_never_reaches_vrrpd(target):
    # V5: the kernel discards an IPv4 packet whose total length exceeds what arrived (RFC 791; ip_rcv), so vrrpd
    # never sees it: no counter moves, only the sentinel after it is processed.
    expect_drops(target, "ipv4", "ip_len_long", reason=None)


def test_9568_5_1_1_ipv4_total_length_short_of_the_packet_truncates_the_message(target):
    # V5: the kernel trims the packet to its IP total length, which cuts 4 bytes off the VRRP message: its length
    # no longer fits its count, which the kernel filter refuses.
    expect_drops(target, "ipv4", "ip_len_short", reason=KERNEL)


def own_source(t: Target, family: str, reason: str | None) -> None:
    """Three priority-250 adverts from our own address, then a sentinel from the rogue's."""
    before = t.status("v", family)
    c0 = before["counters"]
    t.inject(family, "valid", src=t.ours(family), sentinel=False)
    t.inject(family, "valid", priority=1, count=1, sentinel=False)
    lower = c0["lower_priority_received"]
    wait_for(lambda: t.status("v", family)["counters"]["lower_priority_received"] > lower, 5)
    after = t.status("v", family)
    assert delta(after["counters"]["drops"], c0["drops"]) == ({reason: 3} if reason else {})
    assert after["counters"]["adverts_received"] == c0["adverts_received"] + 1  # the sentinel only
    assert_unchanged(before, after)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_own_adverts_never_loop_back_and_our_source_address_is_dropped(target, family):
    # V16/R24: multicast loop is off, so our own adverts never come back: while we send several, nothing arrives.
    status = target.status("v", family)
    sent, received = status["counters"]["adverts_sent"], status["counters"]["adverts_received"]
    wait_for(lambda: target.status("v", family)["counters"]["adverts_sent"] >= sent + 3, 2)
    assert target.status("v", family)["counters"]["adverts_received"] == received
    if family == "ipv6":
        # A packet that does carry our link-local source (spoofed, or looped back by a bridge) is dropped.
        own_source(target, family, "own_address")
        return
    # IPv4: the kernel itself discards a packet whose source is one of our addresses ("martian source",
    # fib_validate_source) before any socket sees it...
    own_source(target, family, None)
    # ...unless accept_local is on, in which case vrrpd's own check drops it.
    sysctl = "/proc/sys/net/ipv4/conf/eth0/accept_local"
    target.a.run(["sh", "-c", f"echo 1 > {sysctl}"])
    try:
        own_source(target, family, "own_address")
    finally:
        target.a.run(["sh", "-c", f"echo 0 > {sysctl}"])


@pytest.mark.parametrize("family", FAMILIES)
def test_impl_unicast_advert_to_our_address_is_dropped(target, family):
    # V15: we are configured for multicast (keepalived drops such packets too: '(VI_1) Expected multicast
    # packet but received unicast packet'); priority 100 keeps us Master whether or not it is processed.
    expect_drops(target, family, "unicast", dst=target.ours(family), priority=100, reason=KERNEL)


# --- VRRP header --------------------------------------------------------------------------------------------------


VERSION_CASES = {  # case -> (reason on IPv4, reason on IPv6, reaches the state machine on IPv4)
    # A well-formed VRRPv2 advert (keepalived's default) at a VRRPv3 router: the kernel filter takes only the
    # router's own version (the Python screen would pass it to the state machine, which counts it as a version drop).
    "version2": (KERNEL, KERNEL, False),
    "version4": (KERNEL, KERNEL, False),  # an unknown version
    # CARP shares protocol 112 and the first byte 0x21; its 36 bytes do not fit VRRPv2's Count (7) -> length;
    # the kernel filter refuses it either way
    "carp": (KERNEL, KERNEL, False),
}


@pytest.mark.parametrize("case", VERSION_CASES)
@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_version_other_than_3_is_dropped(target, family, case):
    reason4, reason6, reaches = VERSION_CASES[case]
    ipv4 = family == "ipv4"
    expect_drops(target, family, case, reason=reason4 if ipv4 else reason6, reaches_router=reaches and ipv4)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_2_unknown_type_is_dropped(target, family):
    expect_drops(target, family, "type", reason=KERNEL)  # V3: type 2, checksum valid


@pytest.mark.parametrize("case", ["truncated", "header_only"])
@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_short_packet_is_dropped(target, family, case):
    # V4: two bytes short of Count addresses, or shorter than the 8-byte header.
    expect_drops(target, family, case, reason=KERNEL)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_long_packet_is_dropped(target, family):
    # V4: 4 bytes beyond Count addresses (keepalived and FRR also check the exact length).
    expect_drops(target, family, "too_long", reason=KERNEL)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_9_addresses_of_the_other_family_are_dropped(target, family):
    expect_drops(target, family, "mixed_family", reason=KERNEL)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_8_bad_checksum_is_dropped(target, family):
    expect_drops(target, family, "checksum", reason=KERNEL)  # V6: the kernel filter checks it (both IPv4 forms)


def test_9568_5_2_8_ipv6_message_only_checksum_is_dropped(target):
    # V6: for IPv6 the pseudo-header is mandatory (RFC 8200 §8.1); the IPv4 leniency must not leak into IPv6.
    expect_drops(target, "ipv6", "message_only", reason=KERNEL)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_vrid_not_configured_is_dropped_on_the_interface(target, family):
    # V7: counted per interface, and the configured VRID on the same interface is not affected.
    expect_drops(target, family, "unknown_vrid", reason=KERNEL, on_interface=True)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_5_erratum_8299_count_zero_is_dropped(target, family):
    expect_drops(target, family, "count_zero", reason=KERNEL)  # V10


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_7_erratum_8301_interval_zero_is_dropped(target, family):
    expect_drops(target, family, "interval_zero", reason="interval_zero")  # V12


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_5_2_6_reserved_bits_are_masked_and_the_advert_processed(target, family):
    # V13: the reserved nibble set on a valid advert with Max Adver Int 30 cs: we must step down to it and learn
    # 0.3 s (an unmasked field would read 0xF01E cs), then take over again after its Master_Down_Interval.
    before = target.status("v", family)
    target.inject(family, "reserved_bits", count=1, interval=30, sentinel=False)
    wait_for(lambda: target.status("v", family)["state"] == "BACKUP", 3, message="reserved-bit advert not processed")
    backup = target.status("v", family)
    assert backup["master_address"] == target.src(family)
    assert backup["master_priority"] == ROGUE_PRIORITY
    assert backup["master_advert_interval"] == pytest.approx(0.3)
    assert backup["counters"]["drops"] == before["counters"]["drops"]
    mdi = 3 * 0.3 + (256 - OUR_PRIORITY) * 0.3 / 256
    assert backup["master_down_interval"] == pytest.approx(mdi, abs=0.005)
    wait_for(lambda: target.status("v", family)["state"] == "MASTER", mdi + 2, message="no takeover after the rogue")


# --- address list and owner --------------------------------------------------------------------------------------

OTHER_VIPS = {"ipv4": "198.51.100.199", "ipv6": "2001:db8::199"}


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_address_list_mismatch_is_logged_and_processed_by_default(target, family):
    # V9: MAY check, SHOULD log, no discard. Priority 100 so that processing shows without a state change: a
    # lower-priority advert is answered (R23) and counted.
    before = target.status("v", family)
    target.inject(family, "valid", vips=OTHER_VIPS[family], priority=100, sentinel=False)
    c0 = before["counters"]
    lower = c0["lower_priority_received"]
    wait_for(lambda: target.status("v", family)["counters"]["lower_priority_received"] == lower + 3, 5)
    after = target.status("v", family)
    assert after["counters"]["address_mismatches"] - c0["address_mismatches"] == 3
    assert delta(after["counters"]["drops"], c0["drops"]) == {}
    assert_unchanged(before, after)
    assert f"lists {OTHER_VIPS[family]}, we have" in target.d.log()


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_7_1_address_list_mismatch_is_dropped_with_address_check_drop(target, family):
    # V9 with `address_check: drop` (keepalived's behaviour): a priority-250 advert with another list is counted
    # and dropped; it would otherwise have made us step down.
    before = target.status("drop", family)
    c0 = before["counters"]
    target.inject(family, "valid", kind="drop", vips=OTHER_VIPS[family], sentinel=False)
    wait_for(lambda: delta(target.status("drop", family)["counters"]["drops"], c0["drops"]) == {"address_list": 3}, 5)
    after = target.status("drop", family)
    assert after["counters"]["address_mismatches"] - c0["address_mismatches"] == 3
    assert_unchanged(before, after)


@pytest.mark.parametrize("family", FAMILIES)
def test_5798_7_1_address_owner_discards_adverts(target, family):
    # V8: RFC 5798 §7.1 (the default here; RFC 9568 erratum 8298 would only log). Priority 254 from the rogue.
    before = target.status("owner", family)
    c0 = before["counters"]
    target.inject(family, "valid", kind="owner", priority=254, sentinel=False)
    wait_for(lambda: delta(target.status("owner", family)["counters"]["drops"], c0["drops"]) == {"owner": 3}, 5)
    after = target.status("owner", family)
    assert after["priority"] == after["effective_priority"] == 255
    assert_unchanged(before, after)
