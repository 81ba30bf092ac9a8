"""VRRP advertisement wire codec: VRRPv3 (RFC 9568 §5) for IPv4/IPv6 and VRRPv2 (RFC 3768 §5) for IPv4.

Pure functions over bytes. Decoding remote data raises only `InvalidAdvert`, whose `reason` is a short
machine-readable string used as a drop-counter key; encoding our own values raises `ValueError` (a bug or a
config error on our side, never the peer's).

The IPv4 VRRPv3 checksum is disputed (docs/interop.md §2): RFC 5798 implementations (keepalived
2.2.7, FRR 8.4, tcpdump, scapy) prepend the IPv4 pseudo-header, RFC 9568 §5.2.8 sums the message only. We
transmit either form and on receive can accept both, reporting which one matched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from ipaddress import IPv4Address, IPv6Address

IPPROTO_VRRP = 112
VRRP_GROUP_V4 = IPv4Address("224.0.0.18")
VRRP_GROUP_V6 = IPv6Address("ff02::12")

TYPE_ADVERTISEMENT = 1
HEADER_LEN = 8
V2_AUTH_LEN = 8
MAX_INTERVAL_CS = 0x0FFF  # 12-bit Max Adver Int field (RFC 9568 §5.2.7): 40.95 s
MAX_V2_INTERVAL_S = 0xFF  # 8-bit Adver Int field in seconds (RFC 3768 §5.3.7)

IPAddress = IPv4Address | IPv6Address

_HEADER = struct.Struct("!BBBBHH")


class Family(IntEnum):
    IPV4 = 4
    IPV6 = 6

    @property
    def address_len(self) -> int:
        return 4 if self is Family.IPV4 else 16

    @property
    def group(self) -> IPAddress:
        return VRRP_GROUP_V4 if self is Family.IPV4 else VRRP_GROUP_V6

    @classmethod
    def of(cls, address: IPAddress) -> Family:
        return cls.IPV4 if address.version == 4 else cls.IPV6


class ChecksumForm(StrEnum):
    """How an IPv4 VRRPv3 checksum is computed (IPv6 is always PSEUDO_HEADER, VRRPv2 always MESSAGE_ONLY)."""

    PSEUDO_HEADER = "pseudo-header"
    """RFC 5798 reading: IPv4 pseudo-header + message (keepalived 2.2.7, FRR 8.4)."""
    MESSAGE_ONLY = "message-only"
    """RFC 9568 §5.2.8: the VRRP message alone (Cisco, Juniper)."""


class ChecksumMode(StrEnum):
    """Which IPv4 VRRPv3 checksum forms a receiver accepts."""

    PSEUDO_HEADER = "pseudo-header"
    MESSAGE_ONLY = "message-only"
    ACCEPT_BOTH = "accept-both"

    def accepts(self) -> tuple[ChecksumForm, ...]:
        if self is ChecksumMode.PSEUDO_HEADER:
            return (ChecksumForm.PSEUDO_HEADER,)
        if self is ChecksumMode.MESSAGE_ONLY:
            return (ChecksumForm.MESSAGE_ONLY,)
        return (ChecksumForm.PSEUDO_HEADER, ChecksumForm.MESSAGE_ONLY)


class AuthType(IntEnum):
    """VRRPv2 authentication types (RFC 3768 §5.3.6; type 2, IP AH, is not supported)."""

    NONE = 0
    SIMPLE = 1


class InvalidAdvert(Exception):
    """A received packet that is not a valid VRRP advertisement; `reason` keys the drop counters."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP ADVERTISEMENT, version-independent."""

    vrid: int
    priority: int
    interval_cs: int
    """Max Adver Int in centiseconds. VRRPv2 carries whole seconds, so v2 values are multiples of 100."""
    addresses: tuple[IPAddress, ...]
    version: int = 3
    auth_type: AuthType = AuthType.NONE
    """VRRPv2 only."""
    auth_data: bytes = b""
    """VRRPv2 only: the simple-text password, at most 8 bytes (zero padding is stripped on decode)."""

    @property
    def family(self) -> Family:
        return Family.of(self.addresses[0])


@dataclass(frozen=True, slots=True)
class Decoded:
    advert: Advert
    checksum_form: ChecksumForm
    """The checksum form that matched (always PSEUDO_HEADER for IPv6, MESSAGE_ONLY for VRRPv2)."""


def internet_checksum(data: bytes) -> int:
    """RFC 1071 one's-complement sum, complemented; 0 when `data` already contains a valid checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _pseudo_header(src: IPAddress, dst: IPAddress, length: int) -> bytes:
    if src.version == 4:
        # RFC 768-style IPv4 pseudo-header: src, dst, zero, protocol, length.
        return src.packed + dst.packed + struct.pack("!BBH", 0, IPPROTO_VRRP, length)
    # RFC 8200 §8.1: src, dst, upper-layer length (32 bit), 3 zero bytes, next header.
    return src.packed + dst.packed + struct.pack("!I3xB", length, IPPROTO_VRRP)


def _checksum(message: bytes, form: ChecksumForm, src: IPAddress, dst: IPAddress) -> int:
    if form is ChecksumForm.PSEUDO_HEADER:
        return internet_checksum(_pseudo_header(src, dst, len(message)) + message)
    return internet_checksum(message)


def encode(
    advert: Advert,
    src: IPAddress,
    dst: IPAddress | None = None,
    checksum_form: ChecksumForm = ChecksumForm.PSEUDO_HEADER,
) -> bytes:
    """Build the VRRP message (no IP header). `src`/`dst` feed the checksum pseudo-header; dst defaults to
    the VRRP multicast group. Raises ValueError for values that cannot go on the wire."""
    family = Family.of(src)
    dst = family.group if dst is None else dst
    if dst.version != src.version:
        raise ValueError(f"source {src} and destination {dst} are of different families")
    if not 1 <= advert.vrid <= 255:
        raise ValueError(f"VRID {advert.vrid} outside 1..255")
    if not 0 <= advert.priority <= 255:
        raise ValueError(f"priority {advert.priority} outside 0..255")
    if not 1 <= len(advert.addresses) <= 255:
        # RFC 9568 erratum 8299: a count of 0 is ignored by receivers, so it must never be sent.
        raise ValueError(f"{len(advert.addresses)} addresses; an advert carries 1..255")
    if any(a.version != src.version for a in advert.addresses):
        raise ValueError("addresses of one family only (RFC 9568 §5.2.9), matching the source address")
    addresses = b"".join(a.packed for a in advert.addresses)

    if advert.version == 3:
        if not 1 <= advert.interval_cs <= MAX_INTERVAL_CS:
            raise ValueError(f"advert interval {advert.interval_cs} cs outside 1..{MAX_INTERVAL_CS}")
        if family is Family.IPV6:
            checksum_form = ChecksumForm.PSEUDO_HEADER
        head = _HEADER.pack(0x31, advert.vrid, advert.priority, len(advert.addresses), advert.interval_cs, 0)
        message = head + addresses
        checksum = _checksum(message, checksum_form, src, dst)
    elif advert.version == 2:
        if family is not Family.IPV4:
            raise ValueError("VRRPv2 is IPv4 only (RFC 3768)")
        seconds, rest = divmod(advert.interval_cs, 100)
        if rest or not 1 <= seconds <= MAX_V2_INTERVAL_S:
            raise ValueError(f"VRRPv2 interval {advert.interval_cs} cs is not 1..255 whole seconds")
        if len(advert.auth_data) > V2_AUTH_LEN:
            raise ValueError("VRRPv2 simple password is at most 8 bytes")
        auth = advert.auth_data if advert.auth_type is AuthType.SIMPLE else b""
        head = struct.pack(
            "!BBBBBBH", 0x21, advert.vrid, advert.priority, len(advert.addresses), advert.auth_type, seconds, 0
        )
        message = head + addresses + auth.ljust(V2_AUTH_LEN, b"\x00")
        checksum = internet_checksum(message)
    else:
        raise ValueError(f"VRRP version {advert.version} is not 2 or 3")
    return message[:6] + struct.pack("!H", checksum) + message[8:]


def decode(
    data: bytes,
    src: IPAddress,
    dst: IPAddress,
    checksum_mode: ChecksumMode = ChecksumMode.ACCEPT_BOTH,
) -> Decoded:
    """Parse a received VRRP message (IP header already stripped). `src`/`dst` are the IP header's addresses.

    Reserved bits are masked (RFC 9568 §5.2.6). Raises only InvalidAdvert.
    """
    family = Family.of(src)
    if len(data) < HEADER_LEN:
        raise InvalidAdvert("too_short", f"{len(data)} bytes")
    ver_type, vrid, priority, count, word4, _ = _HEADER.unpack_from(data)
    version, ptype = ver_type >> 4, ver_type & 0x0F
    if version not in (2, 3) or (version == 2 and family is Family.IPV6):
        raise InvalidAdvert("version", f"version {version}")
    if ptype != TYPE_ADVERTISEMENT:
        raise InvalidAdvert("type", f"type {ptype}")
    if vrid == 0:
        raise InvalidAdvert("vrid", "VRID 0")
    if count == 0:
        raise InvalidAdvert("count_zero")  # RFC 9568 erratum 8299
    alen = family.address_len
    trailer = V2_AUTH_LEN if version == 2 else 0
    expected = HEADER_LEN + count * alen + trailer
    if len(data) != expected:
        other = 20 - alen  # the other family's address length
        if len(data) == HEADER_LEN + count * other + trailer:
            raise InvalidAdvert("mixed_family", f"{count} addresses sized for the other family")
        reason = "too_short" if len(data) < expected else "length"
        raise InvalidAdvert(reason, f"{len(data)} bytes for {count} addresses, expected {expected}")

    if version == 3:
        interval_cs = word4 & MAX_INTERVAL_CS
        forms = (ChecksumForm.PSEUDO_HEADER,) if family is Family.IPV6 else checksum_mode.accepts()
        for form in forms:
            if _checksum(data, form, src, dst) == 0:
                matched = form
                break
        else:
            raise InvalidAdvert("checksum", f"no {'/'.join(f.value for f in forms)} match")
        auth_type, auth_data = AuthType.NONE, b""
    else:
        raw_auth, seconds = data[4], data[5]
        interval_cs = seconds * 100
        if internet_checksum(data) != 0:
            raise InvalidAdvert("checksum", "VRRPv2 message checksum")
        matched = ChecksumForm.MESSAGE_ONLY
        if raw_auth not in (AuthType.NONE, AuthType.SIMPLE):
            raise InvalidAdvert("auth_type", f"authentication type {raw_auth}")
        auth_type = AuthType(raw_auth)
        auth_data = data[-V2_AUTH_LEN:].rstrip(b"\x00") if auth_type is AuthType.SIMPLE else b""

    if interval_cs == 0:
        raise InvalidAdvert("interval_zero")  # RFC 9568 erratum 8301: would make Master_Down_Interval = Skew
    body = data[HEADER_LEN : HEADER_LEN + count * alen]
    cls = IPv4Address if family is Family.IPV4 else IPv6Address
    addresses = tuple(cls(body[i : i + alen]) for i in range(0, len(body), alen))
    advert = Advert(
        vrid=vrid,
        priority=priority,
        interval_cs=interval_cs,
        addresses=addresses,
        version=version,
        auth_type=auth_type,
        auth_data=auth_data,
    )
    return Decoded(advert, matched)
