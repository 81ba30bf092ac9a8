"""Property tests of the codec: round trips and garbage (h2's fuzz idea: garbage only ever raises our rejection)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

from hypothesis import example, given, settings
from hypothesis import strategies as st

from vrrpd.protocol.packet import Advert, AuthType, ChecksumForm, ChecksumMode, InvalidAdvert, decode, encode

REASONS = {
    "too_short",
    "length",
    "version",
    "type",
    "checksum",
    "count_zero",
    "interval_zero",
    "mixed_family",
    "vrid",
    "auth_type",
}
v4 = st.builds(IPv4Address, st.integers(0, 2**32 - 1))
v6 = st.builds(IPv6Address, st.integers(0, 2**128 - 1))


@st.composite
def v3_adverts(draw: st.DrawFn) -> tuple[Advert, IPv4Address | IPv6Address]:
    family = draw(st.sampled_from([v4, v6]))
    addresses = tuple(draw(st.lists(family, min_size=1, max_size=20)))
    advert = Advert(draw(st.integers(1, 255)), draw(st.integers(0, 255)), draw(st.integers(1, 4095)), addresses)
    return advert, draw(family)


@st.composite
def v2_adverts(draw: st.DrawFn) -> tuple[Advert, IPv4Address]:
    auth = draw(st.sampled_from(AuthType))
    password = draw(st.binary(max_size=8)).rstrip(b"\0") if auth is AuthType.SIMPLE else b""
    advert = Advert(
        draw(st.integers(1, 255)),
        draw(st.integers(0, 255)),
        draw(st.integers(1, 255)) * 100,
        tuple(draw(st.lists(v4, min_size=1, max_size=20))),
        2,
        auth,
        password,
    )
    return advert, draw(v4)


@settings(max_examples=400)
@given(v3_adverts(), st.sampled_from(ChecksumForm))
def test_9568_5_v3_round_trip(case, form):
    advert, src = case
    dst = ip_address("224.0.0.18") if src.version == 4 else ip_address("ff02::12")
    decoded = decode(encode(advert, src, dst, form), src, dst, ChecksumMode.ACCEPT_BOTH)
    assert decoded.advert == advert
    expected = form if src.version == 4 else ChecksumForm.PSEUDO_HEADER
    assert decoded.checksum_form is expected


@settings(max_examples=300)
@given(v2_adverts())
def test_3768_5_v2_round_trip(case):
    advert, src = case
    dst = ip_address("224.0.0.18")
    decoded = decode(encode(advert, src, dst), src, dst)
    assert decoded.advert == advert
    assert decoded.checksum_form is ChecksumForm.MESSAGE_ONLY


@settings(max_examples=2000)
@given(
    st.binary(max_size=600),
    st.sampled_from([ip_address("198.51.100.1"), ip_address("fe80::1")]),
    st.sampled_from(ChecksumMode),
)
@example(b"\x31\x05\xc8\x00\x00\x64\x00\x00", ip_address("198.51.100.1"), ChecksumMode.ACCEPT_BOTH)
def test_arbitrary_bytes_only_ever_raise_the_typed_rejection(data, src, mode):
    dst = ip_address("224.0.0.18") if src.version == 4 else ip_address("ff02::12")
    try:
        decoded = decode(data, src, dst, mode)
    except InvalidAdvert as exc:
        assert exc.reason in REASONS
    else:
        assert 1 <= decoded.advert.interval_cs <= 4095
        assert all(a.version == src.version for a in decoded.advert.addresses)


@settings(max_examples=1000)
@given(v3_adverts(), st.data())
def test_mutated_valid_adverts_only_ever_raise_the_typed_rejection(case, data):
    advert, src = case
    dst = ip_address("224.0.0.18") if src.version == 4 else ip_address("ff02::12")
    wire = bytearray(encode(advert, src, dst))
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(wire) - 1))
        wire[index] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(wire)))
    try:
        decode(bytes(wire[:cut]), src, dst)
    except InvalidAdvert as exc:
        assert exc.reason in REASONS
