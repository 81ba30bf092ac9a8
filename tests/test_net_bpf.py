"""The kernel receive filter (vrrpd.net.bpf), run through a classic BPF interpreter written here from
<linux/filter.h>: each rule refuses what RFC 9568 §7.1 says to discard, and the filter never refuses an advert the
Python screen (vrrpd.protocol.receive) would accept. netns-tests/test_flood.py runs it on a real kernel."""

from __future__ import annotations

import ctypes
import functools
import socket
import struct
from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrpd.net import bpf
from vrrpd.net.bpf import Accept, Insn, program
from vrrpd.net.sockets import Received
from vrrpd.protocol import Advert, AdvertReceived, ChecksumForm, ChecksumMode, Family, encode
from vrrpd.protocol.packet import AuthType
from vrrpd.protocol.receive import Receiver, UnicastFilter, screen

PEER4, OURS4 = ip_address("198.51.100.12"), ip_address("198.51.100.11")
PEER6, OURS6 = ip_address("fe80::12"), ip_address("fe80::11")
VIP4, VIP6 = ip_address("198.51.100.100"), ip_address("2001:db8::100")
NET = bpf.SKF_NET_OFF & 0xFFFFFFFF


def run(insns: tuple[Insn, ...], data: bytes, net: bytes) -> int:
    """What the kernel's classic BPF would return for a packet: `data` is what offset 0 reads, `net` the network
    header onward (reached at SKF_NET_OFF). A load out of bounds ends the program with 0, as in the kernel."""
    a = x = 0
    mem = [0] * 16
    pc = 0

    def load(offset: int, size: int) -> int | None:
        buf = data
        if offset >= NET:
            buf, offset = net, offset - NET
        if offset < 0 or offset + size > len(buf):
            return None
        return int.from_bytes(buf[offset : offset + size], "big")

    while True:
        insn = insns[pc]
        pc += 1
        code, k = insn.code, insn.k
        cls = code & 0x07
        if cls in (bpf.LD, bpf.LDX):
            mode, size = code & 0xE0, {bpf.W: 4, bpf.H: 2, bpf.B: 1}[code & 0x18]
            if mode == bpf.IMM:
                value = k
            elif mode == bpf.MEM:
                value = mem[k]
            elif mode == bpf.LEN:
                value = len(data)
            elif mode == bpf.MSH:
                byte = load(k, 1)
                if byte is None:
                    return 0
                value = 4 * (byte & 0x0F)
            else:
                loaded = load(k + (x if mode == bpf.IND else 0), size)
                if loaded is None:
                    return 0
                value = loaded
            if cls == bpf.LD:
                a = value
            else:
                x = value
        elif cls == bpf.ST:
            mem[k] = a
        elif cls == bpf.ALU:
            operand = x if code & bpf.X else k
            op = code & 0xF0
            a = {
                bpf.ADD: a + operand,
                bpf.SUB: a - operand,
                bpf.AND: a & operand,
                bpf.LSH: a << operand,
                bpf.RSH: a >> operand,
            }[op] & 0xFFFFFFFF
        elif cls == bpf.JMP:
            op = code & 0xF0
            if op == bpf.JA:
                pc += k
                continue
            operand = x if code & bpf.X else k
            taken = {bpf.JEQ: a == operand, bpf.JGE: a >= operand, bpf.JSET: bool(a & operand)}[op]
            pc += insn.jt if taken else insn.jf
        elif cls == bpf.RET:
            return k
        elif cls == bpf.MISC and code & 0xF8 == bpf.TAX:
            x = a
        elif cls == bpf.MISC and code & 0xF8 == bpf.TXA:
            a = x
        else:
            raise AssertionError(f"instruction {insn} not interpreted")


def ipv4(payload: bytes, src=PEER4, dst=None, ttl: int = 255, frag: int = 0, ihl: int = 5) -> bytes:
    dst = Family.IPV4.group if dst is None else dst
    options = b"\x01" * (4 * ihl - 20)
    length = 4 * ihl + len(payload)
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0xC0, length, 1, frag, ttl, 112, 0, src.packed, dst.packed)
    return head + options + payload


def ipv6(payload: bytes, src=PEER6, dst=None, hops: int = 255) -> bytes:
    dst = Family.IPV6.group if dst is None else dst
    return struct.pack("!IHBB16s16s", 0x6E000000, len(payload), 112, hops, src.packed, dst.packed) + payload


def verdict(insns: tuple[Insn, ...], family: Family, payload: bytes, **ip: object) -> bool:
    if family is Family.IPV4:
        packet = ipv4(payload, **ip)  # type: ignore[arg-type]
        return run(insns, packet, packet) != 0
    packet = ipv6(payload, **ip)  # type: ignore[arg-type]
    return run(insns, payload, packet) != 0


def advert(vrid: int = 51, family: Family = Family.IPV4, version: int = 3, count: int = 1, **kw: object) -> bytes:
    src, vip = (PEER4, VIP4) if family is Family.IPV4 else (PEER6, VIP6)
    interval = 100 if version == 2 else 10
    auth = AuthType.SIMPLE if version == 2 else AuthType.NONE
    password = b"pw" if version == 2 else b""
    return encode(Advert(vrid, 200, interval, (vip,) * count, version, auth, password), src, **kw)  # type: ignore[arg-type]


V4 = program(Family.IPV4, {51: Accept(3), 52: Accept(2), 60: Accept(3, 5, unicast=True)})
V6 = program(Family.IPV6, {51: Accept(3), 60: Accept(3, 64, unicast=True)})


def test_valid_adverts_pass_for_each_configured_vrid_and_version():
    assert verdict(V4, Family.IPV4, advert(51))
    assert verdict(V4, Family.IPV4, advert(51, count=20))
    assert verdict(V4, Family.IPV4, advert(52, version=2))
    assert verdict(V4, Family.IPV4, advert(60, dst=OURS4), dst=OURS4, ttl=5)
    assert verdict(V4, Family.IPV4, advert(51), ihl=6)  # IP options: the VRRP message is found after them
    assert verdict(V6, Family.IPV6, advert(51, Family.IPV6))
    assert verdict(V6, Family.IPV6, advert(51, Family.IPV6, count=3))
    assert verdict(V6, Family.IPV6, advert(60, Family.IPV6, dst=OURS6), dst=OURS6, hops=64)


@pytest.mark.parametrize("vrid", [1, 50, 53, 59, 61, 255])
def test_an_unconfigured_vrid_is_refused(vrid):
    """§7.1: "MUST discard" a VRID not configured on the interface."""
    assert not verdict(V4, Family.IPV4, advert(vrid))
    assert not verdict(V6, Family.IPV6, advert(vrid, Family.IPV6))


@pytest.mark.parametrize("ttl", [0, 1, 64, 254])
def test_a_multicast_router_takes_ttl_255_only(ttl):
    """§7.1: the TTL / hop limit must be 255."""
    assert not verdict(V4, Family.IPV4, advert(51), ttl=ttl)
    assert not verdict(V4, Family.IPV4, advert(52, version=2), ttl=ttl)
    assert not verdict(V6, Family.IPV6, advert(51, Family.IPV6), hops=ttl)


def test_a_unicast_router_takes_its_minimum_ttl_and_above():
    assert verdict(V4, Family.IPV4, advert(60, dst=OURS4), dst=OURS4, ttl=200)
    assert not verdict(V4, Family.IPV4, advert(60, dst=OURS4), dst=OURS4, ttl=4)
    assert not verdict(V6, Family.IPV6, advert(60, Family.IPV6, dst=OURS6), dst=OURS6, hops=63)


def test_destination_a_multicast_router_the_group_a_unicast_router_not_multicast():
    assert not verdict(V4, Family.IPV4, advert(51, dst=OURS4), dst=OURS4)
    assert not verdict(V4, Family.IPV4, advert(60))  # to the group
    assert not verdict(V4, Family.IPV4, advert(60, dst=ip_address("239.1.1.1")), dst=ip_address("239.1.1.1"))
    assert not verdict(V6, Family.IPV6, advert(51, Family.IPV6, dst=OURS6), dst=OURS6)
    other_group = ip_address("ff02::13")
    assert not verdict(V6, Family.IPV6, advert(51, Family.IPV6, dst=other_group), dst=other_group)
    assert not verdict(V6, Family.IPV6, advert(60, Family.IPV6))


def with_byte(payload: bytes, index: int, value: int) -> bytes:
    return payload[:index] + bytes([value]) + payload[index + 1 :]


@pytest.mark.parametrize("ver_type", [0x11, 0x41, 0xF1, 0x30, 0x32, 0x3F, 0x21])
def test_version_and_type_must_be_the_routers(ver_type):
    """§7.1 / §5.2.1-2: version 3 (2 for a VRRPv2 router) and type 1; VRID 51 is a v3 router, so v2 is refused."""
    assert not verdict(V4, Family.IPV4, with_byte(advert(51), 0, ver_type))
    assert not verdict(V6, Family.IPV6, with_byte(advert(51, Family.IPV6), 0, ver_type))


def test_a_v2_router_refuses_v3():
    assert not verdict(V4, Family.IPV4, with_byte(advert(52, version=2), 0, 0x31))


@pytest.mark.parametrize("count", [0, 2, 3, 255])
def test_a_count_that_lies_about_the_length_is_refused(count):
    """The count of one address; 0 is refused too (erratum 8299)."""
    assert not verdict(V4, Family.IPV4, with_byte(advert(51), 3, count))
    assert not verdict(V4, Family.IPV4, with_byte(advert(52, version=2), 3, count))
    assert not verdict(V6, Family.IPV6, with_byte(advert(51, Family.IPV6), 3, count))


def test_truncated_or_padded_messages_are_refused():
    for family, program_ in ((Family.IPV4, V4), (Family.IPV6, V6)):
        good = advert(51, family)
        assert not verdict(program_, family, good[:-1])
        assert not verdict(program_, family, good + b"\0\0\0\0")
        assert not verdict(program_, family, good[:4])
        assert not verdict(program_, family, b"")


def test_an_ipv4_fragment_is_refused():
    assert not verdict(V4, Family.IPV4, advert(51), frag=0x2000)  # MF
    assert not verdict(V4, Family.IPV4, advert(51), frag=0x0001)  # an offset
    assert verdict(V4, Family.IPV4, advert(51), frag=0x4000)  # DF alone is fine


def test_no_routers_takes_nothing():
    assert program(Family.IPV4, {}) == bpf.DROP_ALL


def test_a_bad_checksum_is_refused_in_every_form_and_either_ipv4_form_passes():
    """§5.2.8: IPv4 VRRPv3 adverts come with the pseudo-header checksum or the message-only one (Python tells
    which the router accepts); IPv6 with the pseudo-header only. VRRPv2 is left to Python."""
    for count in (1, 2, 7, 255):
        good = advert(51, count=count)
        assert verdict(V4, Family.IPV4, good), count
        assert verdict(V4, Family.IPV4, advert(51, count=count, checksum_form=ChecksumForm.MESSAGE_ONLY)), count
        assert not verdict(V4, Family.IPV4, with_byte(good, 6, good[6] ^ 0xFF)), count
        assert not verdict(V4, Family.IPV4, with_byte(good, len(good) - 1, good[-1] ^ 1)), count  # last address
    for count in (1, 3, bpf.CHECKSUM_MAX_COUNT[Family.IPV6]):
        good = advert(51, Family.IPV6, count=count)
        assert verdict(V6, Family.IPV6, good), count
        assert not verdict(V6, Family.IPV6, with_byte(good, 7, good[7] ^ 0x10)), count
        assert not verdict(V6, Family.IPV6, with_byte(good, len(good) - 2, good[-2] ^ 1)), count
    # The pseudo-header counts: the same message from another source does not check out.
    other = ip_address("198.51.100.77")
    assert not verdict(V4, Family.IPV4, advert(51), src=other)
    assert not verdict(V6, Family.IPV6, advert(51, Family.IPV6), src=ip_address("fe80::77"))


def test_what_the_checksum_check_leaves_to_python():
    """VRRPv2, an IPv4 header with options, an IPv6 count above CHECKSUM_MAX_COUNT, and `checksum=False`."""
    v2 = advert(52, version=2)
    assert verdict(V4, Family.IPV4, with_byte(v2, 6, v2[6] ^ 0xFF))
    bad = with_byte(advert(51), 6, advert(51)[6] ^ 0xFF)
    assert verdict(V4, Family.IPV4, bad, ihl=6)
    many = advert(51, Family.IPV6, count=bpf.CHECKSUM_MAX_COUNT[Family.IPV6] + 1)
    assert verdict(V6, Family.IPV6, with_byte(many, 6, many[6] ^ 0xFF))
    assert verdict(program(Family.IPV4, {51: Accept(3)}, checksum=False), Family.IPV4, bad)


def test_255_vrids_of_mixed_kinds_fit_and_each_is_found():
    kinds = [Accept(3), Accept(2), Accept(3, 10, unicast=True)]
    vrids = {v: kinds[v % 3] for v in range(1, 256)}
    insns = program(Family.IPV4, vrids)
    assert len(insns) < bpf.MAX_INSNS
    for v in (1, 2, 3, 128, 254, 255):
        accept = vrids[v]
        dst = OURS4 if accept.unicast else None
        payload = advert(v, version=accept.version, dst=dst)
        assert verdict(insns, Family.IPV4, payload, dst=dst or Family.IPV4.group, ttl=255)
        assert not verdict(insns, Family.IPV4, payload, dst=dst or Family.IPV4.group, ttl=9)


def test_pack_is_the_struct_sock_filter_array():
    insns = program(Family.IPV6, {7: Accept(3)})
    raw = bpf.pack(insns)
    assert len(raw) == 8 * len(insns)
    assert struct.unpack_from("=HBBI", raw, 8 * (len(insns) - 1)) == (bpf.RET, 0, 0, bpf.ACCEPT)


# --- the filter never refuses what the screen accepts ------------------------------------------------------------

ACCEPTS = st.sampled_from([Accept(3), Accept(2), Accept(3, 1, unicast=True), Accept(3, 200, unicast=True)])


@functools.lru_cache(maxsize=64)
def cached_program(family: Family, vrids: frozenset[tuple[int, Accept]]) -> tuple[Insn, ...]:
    return program(family, dict(vrids))


@settings(max_examples=100, deadline=None)
@given(
    vrids=st.dictionaries(st.integers(1, 255), ACCEPTS, min_size=1, max_size=6),
    pick=st.integers(0, 5),
    ttl=st.sampled_from([1, 64, 199, 200, 254, 255]),
    count=st.integers(1, 4),
    mutate=st.one_of(st.none(), st.tuples(st.integers(0, 40), st.integers(0, 255))),
    ipv6_=st.booleans(),
)
def test_what_the_screen_accepts_the_filter_passes(vrids, pick, ttl, count, mutate, ipv6_):
    family = Family.IPV6 if ipv6_ else Family.IPV4
    vrids = {v: a for v, a in vrids.items() if not (ipv6_ and a.version == 2)} or {9: Accept(3)}
    vrid = sorted(vrids)[pick % len(vrids)]
    accept = vrids[vrid]
    src, ours = (PEER4, OURS4) if family is Family.IPV4 else (PEER6, OURS6)
    dst = ours if accept.unicast else family.group
    payload = advert(vrid, family, accept.version, count, dst=dst)
    if mutate is not None and mutate[0] < len(payload):
        payload = with_byte(payload, *mutate)
    payload_vrid = payload[1]
    named = vrids.get(payload_vrid)  # a mutated VRID may name another router, or none
    receiver = None
    if named is not None:
        unicast = UnicastFilter(frozenset({src}), named.min_ttl) if named.unicast else None
        receiver = Receiver(ChecksumMode.ACCEPT_BOTH, unicast)
    screened = screen(Received(src, dst, ttl, payload, 2), receiver, "eth0", family.group, {ours})
    ip = {"dst": dst, "ttl": ttl} if family is Family.IPV4 else {"dst": dst, "hops": ttl}
    passed = verdict(cached_program(family, frozenset(vrids.items())), family, payload, **ip)
    if isinstance(screened, AdvertReceived):
        assert passed, f"the filter refused what the screen accepted: {payload.hex()}"
    if named is None:
        assert not passed


@pytest.mark.parametrize("family", list(Family))
def test_the_kernels_checker_takes_every_kind_of_program(family):
    """SO_ATTACH_FILTER runs the kernel's classic BPF checker (jumps in range, scratch memory stored before it is
    loaded on every path); a UDP socket needs no privilege and sends nothing."""
    kinds = [Accept(3), Accept(3, 10, unicast=True)] + ([Accept(2)] if family is Family.IPV4 else [])
    for vrids in ({51: Accept(3)}, {v: kinds[v % len(kinds)] for v in range(1, 256)}, {}):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            insns = program(family, vrids)
            fprog = struct.pack(
                "@HP", len(insns), ctypes.addressof(buf := ctypes.create_string_buffer(bpf.pack(insns)))
            )
            sock.setsockopt(socket.SOL_SOCKET, 26, fprog)  # SO_ATTACH_FILTER: raises EINVAL if refused
            assert buf.raw
