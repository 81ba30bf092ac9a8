"""Wire codec: RFC 9568 §5 (VRRPv3) and RFC 3768 §5 (VRRPv2), checksum forms and typed rejections."""

from __future__ import annotations

import struct
from ipaddress import ip_address

import pytest

from vrrpd.protocol.packet import (
    Advert,
    AuthType,
    ChecksumForm,
    ChecksumMode,
    InvalidAdvert,
    decode,
    encode,
    internet_checksum,
)

SRC4, DST4 = ip_address("10.0.2.15"), ip_address("224.0.0.18")
SRC6, DST6 = ip_address("fe80::1"), ip_address("ff02::12")
V4_VECTOR = Advert(vrid=5, priority=200, interval_cs=100, addresses=(ip_address("10.0.2.16"),))
V6_VECTOR = Advert(vrid=5, priority=100, interval_cs=100, addresses=(ip_address("fe80::5"),))


def checksum_of(message: bytes) -> int:
    return struct.unpack_from("!H", message, 6)[0]


def reject_reason(data: bytes, src=SRC4, dst=DST4, mode=ChecksumMode.ACCEPT_BOTH) -> str:
    with pytest.raises(InvalidAdvert) as info:
        decode(data, src, dst, mode)
    return info.value.reason


def with_checksum(message: bytes, form: ChecksumForm = ChecksumForm.MESSAGE_ONLY) -> bytes:
    """Recompute the checksum of a hand-crafted message (message-only form unless asked)."""
    zeroed = message[:6] + b"\0\0" + message[8:]
    if form is ChecksumForm.MESSAGE_ONLY:
        csum = internet_checksum(zeroed)
    else:
        pseudo = SRC4.packed + DST4.packed + struct.pack("!BBH", 0, 112, len(zeroed))
        csum = internet_checksum(pseudo + zeroed)
    return zeroed[:6] + struct.pack("!H", csum) + zeroed[8:]


# --- the test vectors of docs/interop.md §2 -------------------------------------------------------------------


def test_9568_5_2_8_ipv4_vector_pseudo_header_checksum():
    wire = encode(V4_VECTOR, SRC4, DST4, ChecksumForm.PSEUDO_HEADER)
    assert wire == bytes.fromhex("3105c80100640de70a000210")
    assert checksum_of(wire) == 0x0DE7


def test_9568_5_2_8_ipv4_vector_message_only_checksum():
    wire = encode(V4_VECTOR, SRC4, DST4, ChecksumForm.MESSAGE_ONLY)
    assert checksum_of(wire) == 0xFA84


def test_9568_5_2_8_ipv6_vector_always_pseudo_header():
    # IPv6 uses the RFC 8200 pseudo-header whatever form is asked for.
    for form in ChecksumForm:
        wire = encode(V6_VECTOR, SRC6, DST6, form)
        assert checksum_of(wire) == 0x6DF0
        assert wire[:6] == bytes.fromhex("310564010064")
        assert wire[8:] == ip_address("fe80::5").packed


def test_encode_defaults_to_the_multicast_group_as_pseudo_header_destination():
    assert encode(V4_VECTOR, SRC4) == encode(V4_VECTOR, SRC4, DST4)
    assert encode(V6_VECTOR, SRC6) == encode(V6_VECTOR, SRC6, DST6)


# --- receive: checksum modes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "mode", "accepted"),
    [
        (ChecksumForm.PSEUDO_HEADER, ChecksumMode.ACCEPT_BOTH, ChecksumForm.PSEUDO_HEADER),
        (ChecksumForm.MESSAGE_ONLY, ChecksumMode.ACCEPT_BOTH, ChecksumForm.MESSAGE_ONLY),
        (ChecksumForm.PSEUDO_HEADER, ChecksumMode.PSEUDO_HEADER, ChecksumForm.PSEUDO_HEADER),
        (ChecksumForm.MESSAGE_ONLY, ChecksumMode.MESSAGE_ONLY, ChecksumForm.MESSAGE_ONLY),
        (ChecksumForm.MESSAGE_ONLY, ChecksumMode.PSEUDO_HEADER, None),
        (ChecksumForm.PSEUDO_HEADER, ChecksumMode.MESSAGE_ONLY, None),
    ],
)
def test_9568_5_2_8_receive_checksum_modes(sent, mode, accepted):
    wire = encode(V4_VECTOR, SRC4, DST4, sent)
    if accepted is None:
        assert reject_reason(wire, mode=mode) == "checksum"
    else:
        decoded = decode(wire, SRC4, DST4, mode)
        assert decoded.checksum_form is accepted
        assert decoded.advert == V4_VECTOR


def test_9568_5_2_8_pseudo_header_binds_the_source_address():
    wire = encode(V4_VECTOR, SRC4, DST4, ChecksumForm.PSEUDO_HEADER)
    assert reject_reason(wire, src=ip_address("10.0.2.99"), mode=ChecksumMode.PSEUDO_HEADER) == "checksum"


def test_9568_5_2_8_ipv6_bad_checksum_rejected_in_every_mode():
    wire = bytearray(encode(V6_VECTOR, SRC6, DST6))
    wire[7] ^= 0x01
    for mode in ChecksumMode:
        assert reject_reason(bytes(wire), SRC6, DST6, mode) == "checksum"


def test_any_flipped_bit_in_the_message_is_caught():
    wire = encode(V4_VECTOR, SRC4, DST4)
    for bit in range(len(wire) * 8):
        data = bytearray(wire)
        data[bit // 8] ^= 1 << (bit % 8)
        if bit // 8 == 4 and bit % 8 >= 4:
            continue  # reserved bits are covered by the checksum, but tested on their own below
        with pytest.raises(InvalidAdvert):
            decode(bytes(data), SRC4, DST4, ChecksumMode.PSEUDO_HEADER)


# --- receive: each rejection reason --------------------------------------------------------------------------


def test_9568_7_1_too_short_header():
    for n in range(8):
        assert reject_reason(encode(V4_VECTOR, SRC4)[:n]) == "too_short"


def test_9568_7_1_truncated_address_list():
    assert reject_reason(encode(V4_VECTOR, SRC4)[:-1]) == "too_short"


def test_9568_7_1_trailing_bytes_are_a_length_error():
    assert reject_reason(encode(V4_VECTOR, SRC4) + b"\0\0\0\0\0") == "length"


def test_9568_5_2_9_ipv6_addresses_in_an_ipv4_advert_are_mixed_family():
    message = bytes.fromhex("3105c8010064") + b"\0\0" + ip_address("2001:db8::1").packed
    assert reject_reason(with_checksum(message)) == "mixed_family"


def test_9568_7_1_wrong_version():
    for version in (0, 1, 4, 15):
        message = bytes([version << 4 | 1]) + encode(V4_VECTOR, SRC4)[1:]
        assert reject_reason(with_checksum(message)) == "version"


def test_9568_7_1_version_2_over_ipv6_is_rejected():
    message = bytes([0x21]) + encode(V6_VECTOR, SRC6)[1:]
    assert reject_reason(message, SRC6, DST6) == "version"


def test_9568_5_2_2_unknown_type():
    for ptype in (0, 2, 15):
        message = bytes([0x30 | ptype]) + encode(V4_VECTOR, SRC4)[1:]
        assert reject_reason(with_checksum(message)) == "type"


def test_9568_5_2_3_vrid_zero():
    message = encode(V4_VECTOR, SRC4)
    assert reject_reason(with_checksum(message[:1] + b"\0" + message[2:])) == "vrid"


def test_9568_erratum_8299_count_zero_is_ignored():
    message = bytes.fromhex("3105c8000064") + b"\0\0"
    assert reject_reason(with_checksum(message)) == "count_zero"


def test_9568_erratum_8301_interval_zero_is_dropped():
    message = bytes.fromhex("3105c8010000") + b"\0\0" + ip_address("10.0.2.16").packed
    assert reject_reason(with_checksum(message)) == "interval_zero"
    # Reserved bits set with a zero interval: still zero after masking.
    message = bytes.fromhex("3105c801f000") + b"\0\0" + ip_address("10.0.2.16").packed
    assert reject_reason(with_checksum(message)) == "interval_zero"


def test_9568_5_2_6_reserved_bits_are_masked_on_receive():
    message = bytes.fromhex("3105c801a064") + b"\0\0" + ip_address("10.0.2.16").packed
    decoded = decode(with_checksum(message, ChecksumForm.PSEUDO_HEADER), SRC4, DST4)
    assert decoded.advert.interval_cs == 100


def test_9568_5_2_6_reserved_bits_are_zero_on_transmit():
    for interval in (1, 100, 4095):
        wire = encode(Advert(5, 100, interval, (ip_address("10.0.2.16"),)), SRC4)
        assert wire[4] >> 4 == 0
        assert struct.unpack_from("!H", wire, 4)[0] == interval


def test_decode_errors_carry_a_detail_for_logs():
    with pytest.raises(InvalidAdvert) as info:
        decode(b"\x31\x05", SRC4, DST4)
    assert info.value.reason == "too_short"
    assert "2 bytes" in str(info.value)


# --- encode: our own values are validated --------------------------------------------------------------------


@pytest.mark.parametrize("interval", [0, 4096, -1])
def test_9568_5_2_7_interval_range_enforced_on_encode(interval):
    with pytest.raises(ValueError, match="interval"):
        encode(Advert(5, 100, interval, (ip_address("10.0.2.16"),)), SRC4)


@pytest.mark.parametrize(
    ("advert", "match"),
    [
        (Advert(0, 100, 100, (ip_address("10.0.2.16"),)), "VRID"),
        (Advert(256, 100, 100, (ip_address("10.0.2.16"),)), "VRID"),
        (Advert(5, 256, 100, (ip_address("10.0.2.16"),)), "priority"),
        (Advert(5, 100, 100, ()), "addresses"),
        (Advert(5, 100, 100, (ip_address("10.0.2.16"), ip_address("2001:db8::1"))), "one family"),
        (Advert(5, 100, 100, (ip_address("10.0.2.16"),), version=4), "version"),
    ],
)
def test_encode_rejects_values_that_cannot_go_on_the_wire(advert, match):
    with pytest.raises(ValueError, match=match):
        encode(advert, SRC4)


def test_encode_rejects_address_family_other_than_source():
    with pytest.raises(ValueError, match="one family"):
        encode(V6_VECTOR, SRC4)
    with pytest.raises(ValueError, match="different families"):
        encode(V4_VECTOR, SRC4, DST6)


def test_9568_5_2_5_many_addresses_in_configured_order():
    addresses = tuple(ip_address(f"2001:db8::{i:x}") for i in range(1, 256))
    advert = Advert(7, 150, 50, addresses)
    wire = encode(advert, SRC6)
    assert len(wire) == 8 + 16 * 255
    assert decode(wire, SRC6, DST6).advert.addresses == addresses


# --- VRRPv2 (RFC 3768 §5) -------------------------------------------------------------------------------------


def test_3768_5_v2_layout_and_message_only_checksum():
    advert = Advert(51, 150, 300, (ip_address("198.51.100.100"),), version=2)
    wire = encode(advert, ip_address("198.51.100.1"))
    assert wire[0] == 0x21
    assert wire[4] == 0  # auth type none
    assert wire[5] == 3  # whole seconds
    assert len(wire) == 8 + 4 + 8
    assert internet_checksum(wire) == 0  # no pseudo-header in v2
    decoded = decode(wire, ip_address("198.51.100.1"), DST4)
    assert decoded.advert == advert
    assert decoded.checksum_form is ChecksumForm.MESSAGE_ONLY


def test_3768_5_3_6_v2_simple_password_is_carried_in_the_auth_trailer():
    advert = Advert(
        51, 150, 100, (ip_address("198.51.100.100"),), version=2, auth_type=AuthType.SIMPLE, auth_data=b"s3cret"
    )
    wire = encode(advert, ip_address("198.51.100.1"))
    assert wire[4] == 1
    assert wire[-8:] == b"s3cret\0\0"
    assert decode(wire, ip_address("198.51.100.1"), DST4).advert == advert


def test_3768_v2_unknown_auth_type_rejected():
    wire = bytearray(encode(Advert(51, 150, 100, (ip_address("198.51.100.100"),), version=2), SRC4))
    wire[4] = 2  # IP Authentication Header: not supported
    assert reject_reason(with_checksum(bytes(wire))) == "auth_type"


def test_3768_v2_bad_checksum():
    wire = bytearray(encode(Advert(51, 150, 100, (ip_address("198.51.100.100"),), version=2), SRC4))
    wire[6] ^= 0xFF
    assert reject_reason(bytes(wire)) == "checksum"


@pytest.mark.parametrize("interval", [50, 150, 0, 25600])
def test_3768_v2_interval_must_be_whole_seconds_1_to_255(interval):
    with pytest.raises(ValueError, match="whole seconds"):
        encode(Advert(51, 150, interval, (ip_address("198.51.100.100"),), version=2), SRC4)


def test_3768_v2_rejects_ipv6_and_long_passwords():
    with pytest.raises(ValueError, match="IPv4 only"):
        encode(Advert(5, 100, 100, (ip_address("fe80::5"),), version=2), SRC6)
    with pytest.raises(ValueError, match="8 bytes"):
        encode(
            Advert(5, 100, 100, (ip_address("10.0.2.16"),), 2, AuthType.SIMPLE, b"123456789"),
            SRC4,
        )


def test_3768_v2_interval_zero_rejected():
    wire = bytearray(encode(Advert(51, 150, 100, (ip_address("198.51.100.100"),), version=2), SRC4))
    wire[5] = 0
    assert reject_reason(with_checksum(bytes(wire))) == "interval_zero"


def test_internet_checksum_odd_length_pads_with_zero():
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00")
