"""vrrpd.net.addrbatch without a kernel: the requests are pyroute2's own, and acks are matched per address.

The real kernel's side (tags, NODAD, idempotence, a refused address among good ones) is in
netns-tests/test_net_live_netlink.py.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Callable
from ipaddress import ip_interface

import pytest
from pyroute2.iproute.linux import AsyncIPRoute, get_arguments_processor
from pyroute2.netlink.nlsocket import NetlinkRequest
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from vrrpd.net import addrbatch
from vrrpd.net.addrbatch import RTM_DELADDR, RTM_NEWADDR, AddressBatch, encode


def pyroute2_request(command: str, **kwargs: object) -> bytes:
    """The bytes `AsyncIPRoute.addr(command, **kwargs)` would send, built by its own request pipeline."""
    command_map = {"replace": (RTM_NEWADDR, "replace"), "del": (RTM_DELADDR, "req")}
    ipr = AsyncIPRoute()
    try:
        arguments = get_arguments_processor("addr", command, dict(kwargs))
        request = NetlinkRequest(ipr, ifaddrmsg(), command, command_map, None, arguments)
        request.msg.encode()
        return bytes(request.msg.data)
    finally:
        ipr.close()


def without_seq_and_pid(data: bytes) -> bytes:
    return data[:8] + data[16:]


@pytest.mark.parametrize(
    ("address", "extra"),
    [("203.0.113.5/24", {}), ("203.0.113.7/32", {}), ("2001:db8::5/64", {"flags": addrbatch.IFA_F_NODAD})],
)
def test_add_is_byte_for_byte_what_the_previous_pyroute2_replace_sent(address: str, extra: dict) -> None:
    """Issue #6 asks for speed, not a different request: the batch path's RTM_NEWADDR must equal
    AsyncIPRoute.addr('replace', ..., proto=0x56[, flags=NODAD]), which the add path used before it."""
    iface = ip_interface(address)
    expected = pyroute2_request(
        "replace",
        index=7,
        address=str(iface.ip),
        prefixlen=iface.network.prefixlen,
        proto=addrbatch.IFA_PROTO_VRRPD,
        **extra,
    )
    assert without_seq_and_pid(encode(RTM_NEWADDR, 7, iface, 42)) == without_seq_and_pid(expected)


@pytest.mark.parametrize("address", ["203.0.113.5/24", "2001:db8::5/64"])
def test_remove_is_byte_for_byte_pyroute2_del(address: str) -> None:
    iface = ip_interface(address)
    expected = pyroute2_request("del", index=7, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    assert without_seq_and_pid(encode(RTM_DELADDR, 7, iface, 42)) == without_seq_and_pid(expected)


def test_request_carries_its_sequence_number() -> None:
    data = encode(RTM_NEWADDR, 7, ip_interface("203.0.113.5/24"), 0xABCDEF)
    assert struct.unpack_from("I", data, 8)[0] == 0xABCDEF


Kernel = Callable[[list[tuple[int, bytes]]], list[bytes]]
"""Given the (sequence number, request) of each request in one send(), the acks to send back, in that order."""


def ack(seq: int, code: int, request: bytes) -> bytes:
    """An NLMSG_ERROR answer the way the kernel builds it: the errno negated, then the request's header (all of
    the request when it failed)."""
    echoed = request if code else request[:16]
    return struct.pack("IHHIIi", 20 + len(echoed), addrbatch.NLMSG_ERROR, 0, seq, 0, -code) + echoed


async def run_against(kernel: Kernel, count: int, *, timeout: float = 5.0) -> tuple[list[int], list[int]]:
    """Adds `count` addresses through AddressBatch talking to `kernel` over a socket pair; returns the results and
    the number of requests in each send()."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    ours.setblocking(False)
    theirs.setblocking(False)
    batch = AddressBatch()
    batch._sock = ours  # the kernel's end is a test double
    sizes: list[int] = []
    loop = asyncio.get_running_loop()

    def on_request() -> None:
        data = theirs.recv(1 << 20)
        seqs = [m["header"]["sequence_number"] for m in MarshalRtnl().parse(data)]  # parsed as a kernel would
        requests, offset = [], 0
        for seq in seqs:
            length = struct.unpack_from("I", data, offset)[0]
            requests.append((seq, data[offset : offset + length]))
            offset += length
        sizes.append(len(requests))
        for answer in kernel(requests):
            theirs.send(answer)

    loop.add_reader(theirs.fileno(), on_request)
    old_timeout, addrbatch.TIMEOUT = addrbatch.TIMEOUT, timeout
    try:
        ifaces = [ip_interface(f"2001:db8::{h:x}/64") for h in range(1, count + 1)]
        return await batch.add(7, ifaces), sizes
    finally:
        addrbatch.TIMEOUT = old_timeout
        loop.remove_reader(theirs.fileno())
        batch.close()
        theirs.close()


def test_acks_are_matched_by_sequence_number_and_errors_stay_per_address() -> None:
    """Acks answered in reverse order, with an alien one in between: each address still gets its own result."""

    def kernel(requests: list[tuple[int, bytes]]) -> list[bytes]:
        answers = [ack(seq, errno.EADDRNOTAVAIL if i == 1 else 0, raw) for i, (seq, raw) in enumerate(requests)]
        alien = ack(999_999, errno.EPERM, requests[0][1])  # e.g. the late ack of a batch that timed out
        return [alien, *reversed(answers)]

    results, sizes = asyncio.run(run_against(kernel, 3))
    assert results == [0, errno.EADDRNOTAVAIL, 0]
    assert sizes == [3]  # one send() for the batch


def test_large_batches_go_out_in_chunks_so_acks_cannot_overrun_the_receive_buffer() -> None:
    def kernel(requests: list[tuple[int, bytes]]) -> list[bytes]:
        return [ack(seq, 0, raw) for seq, raw in requests]

    results, sizes = asyncio.run(run_against(kernel, 2 * addrbatch.CHUNK + 5))
    assert results == [0] * (2 * addrbatch.CHUNK + 5)
    assert sizes == [addrbatch.CHUNK, addrbatch.CHUNK, 5]


def test_a_missing_ack_times_out_that_address_only() -> None:
    def kernel(requests: list[tuple[int, bytes]]) -> list[bytes]:
        return [ack(seq, 0, raw) for seq, raw in requests[:-1]]  # the last ack never comes

    results, _ = asyncio.run(run_against(kernel, 3, timeout=0.2))
    assert results == [0, 0, errno.ETIMEDOUT]
