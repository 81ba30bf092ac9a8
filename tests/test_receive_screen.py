"""The receive screen (vrrpd.protocol.receive), pure: RFC 9568 §7.1's checks, their order (which reason a packet is
counted under), the unicast filter and the repeat cache."""

from __future__ import annotations

from dataclasses import replace
from ipaddress import ip_address
from unittest import mock

import pytest

from vrrpd.net.sockets import Received
from vrrpd.protocol import Advert, AdvertReceived, ChecksumForm, ChecksumMode, Family, encode
from vrrpd.protocol import receive as receive_module
from vrrpd.protocol.receive import Drop, Receiver, UnicastFilter, screen

OURS, PEER, OTHER = ip_address("198.51.100.11"), ip_address("198.51.100.12"), ip_address("198.51.100.13")
GROUP = Family.IPV4.group
VIP = ip_address("198.51.100.100")
OWN = {OURS}


def packet(
    vrid: int = 51,
    src=PEER,
    dst=GROUP,
    ttl: int = 255,
    *,
    form: ChecksumForm = ChecksumForm.PSEUDO_HEADER,
    payload: bytes | None = None,
    length_mismatch: bool = False,
) -> Received:
    wire = encode(Advert(vrid, 200, 100, (VIP,)), src, dst, checksum_form=form) if payload is None else payload
    return Received(src=src, dst=dst, ttl=ttl, payload=wire, ifindex=2, length_mismatch=length_mismatch)


def multicast() -> Receiver:
    return Receiver(ChecksumMode.ACCEPT_BOTH)


def unicast(min_ttl: int = 254) -> Receiver:
    return Receiver(ChecksumMode.ACCEPT_BOTH, UnicastFilter(frozenset({PEER}), min_ttl))


def run(pkt: Received, receiver: Receiver | None) -> Drop | AdvertReceived:
    return screen(pkt, receiver, "eth0", GROUP, OWN)


def test_9568_7_1_a_valid_advert_becomes_the_routers_input():
    result = run(packet(), multicast())
    assert result == AdvertReceived(PEER, Advert(51, 200, 100, (VIP,)), ChecksumForm.PSEUDO_HEADER)


@pytest.mark.parametrize(
    ("pkt", "receiver", "expected"),
    [
        # The IP length first: nothing else about a packet cut short can be trusted.
        (packet(ttl=254, src=OURS, length_mismatch=True), multicast(), Drop("length", "IP length")),
        # §7.1: TTL / hop limit 255 (on-link only), before anything about the source.
        (packet(ttl=254, src=OURS), multicast(), Drop("ttl", "TTL/hop limit 254")),
        (packet(ttl=64, vrid=52), None, Drop("ttl", "TTL/hop limit 64")),  # unknown VRIDs too
        # One of our own advert sources, before the destination and the message.
        (packet(src=OURS, dst=OTHER, payload=b"\x00"), multicast(), Drop("own_address")),
        (packet(src=OURS, dst=OURS), unicast(), Drop("own_address")),
        # A unicast router: the group, then the peers, then its own minimum TTL.
        (
            packet(src=OTHER, dst=GROUP, ttl=1),
            unicast(),
            Drop("multicast", f"sent to {GROUP}, but this instance uses unicast peers"),
        ),
        (
            packet(src=OTHER, dst=OURS, ttl=1),
            unicast(),
            Drop("unicast_unknown_peer", f"{OTHER} is not in unicast_peers"),
        ),
        (packet(dst=OURS, ttl=253), unicast(), Drop("ttl", "TTL/hop limit 253 is below unicast_min_ttl 254")),
        # A multicast router takes nothing but the group, whatever the message holds.
        (packet(dst=OURS, payload=b"\x31"), multicast(), Drop("unicast", f"sent to {OURS}")),
        # Then the message (vrrpd.protocol.packet.decode's reasons), for a known VRID or not.
        (packet(payload=b"\x31\x33"), multicast(), Drop("too_short", "2 bytes")),
        (
            packet(payload=packet(dst=OURS).payload),
            multicast(),
            Drop("checksum", "no pseudo-header/message-only match"),
        ),
        (
            packet(vrid=52, payload=packet(vrid=52, dst=OURS).payload),
            None,
            Drop("checksum", "no pseudo-header/message-only match"),
        ),
        # Last: a valid advert for a VRID no router has on this link.
        (packet(vrid=52), None, Drop("vrid", "VRID 52 not configured on eth0")),
    ],
)
def test_9568_7_1_checks_in_order(pkt, receiver, expected):
    assert run(pkt, receiver) == expected


def test_9568_7_1_unicast_minimum_ttl_lets_a_routed_peer_in_and_only_as_far_as_allowed():
    assert isinstance(run(packet(dst=OURS, ttl=254), unicast(min_ttl=254)), AdvertReceived)
    assert run(packet(dst=OURS, ttl=254), unicast(min_ttl=255)) == Drop(
        "ttl", "TTL/hop limit 254 is below unicast_min_ttl 255"
    )


def test_9568_5_2_8_the_routers_checksum_mode_decides_which_forms_pass():
    message_only = packet(form=ChecksumForm.MESSAGE_ONLY)
    strict = Receiver(ChecksumMode.PSEUDO_HEADER)
    assert run(message_only, strict) == Drop("checksum", "no pseudo-header match")
    received = run(message_only, multicast())
    assert isinstance(received, AdvertReceived) and received.checksum_form is ChecksumForm.MESSAGE_ONLY


def test_9568_7_1_a_repeat_is_not_decoded_again_but_every_packet_fact_is_still_checked():
    """A master's unchanged advert passes without a second decoding (the CPU of a backup), but only when its bytes,
    source, destination and TTL are those of the last accepted one, and its IP length is right."""
    receiver = multicast()
    first = packet()
    with mock.patch.object(receive_module, "decode", wraps=receive_module.decode) as decode:
        accepted = run(first, receiver)
        assert isinstance(accepted, AdvertReceived)
        assert receiver.repeat is not None and receiver.repeat.received is accepted
        for _ in range(5):
            assert run(replace(first), receiver) is accepted
        assert decode.call_count == 1
        assert run(replace(first, ttl=254), receiver) == Drop("ttl", "TTL/hop limit 254")
        assert run(replace(first, length_mismatch=True), receiver) == Drop("length", "IP length")
        assert run(replace(first, src=OURS), receiver) == Drop("own_address")
        assert decode.call_count == 1
        # Other bytes (a new priority): decoded again, and remembered in place of the first.
        lower = packet()
        lower = replace(lower, payload=encode(Advert(51, 150, 100, (VIP,)), PEER))
        changed = run(lower, receiver)
        assert isinstance(changed, AdvertReceived) and changed.advert.priority == 150
        assert decode.call_count == 2
        assert receiver.repeat.received is changed
    # A refused packet is never remembered.
    corrupt = replace(first, payload=first.payload[:-1] + b"\x00")
    assert run(corrupt, receiver) == Drop("checksum", "no pseudo-header/message-only match")
    assert receiver.repeat.received is changed


def test_9568_7_1_remote_garbage_never_raises():
    """Every byte string, from any source to any destination, is either an input or a drop (zeroconf's rule)."""
    for length in range(0, 40):
        for fill in (0x00, 0x31, 0x21, 0xFF):
            for receiver in (multicast(), unicast(), None):
                result = run(packet(payload=bytes([fill]) * length), receiver)
                assert isinstance(result, Drop | AdvertReceived)
