"""Virtual-address adds and removals sent back to back on one rtnetlink socket, acks matched by sequence number.

Why (issue #6, "100 VIPs present <= 15 ms after the transition"): through pyroute2's AsyncIPRoute every address
change goes through its generic request pipeline (argument filters, a request object, a per-sequence message queue,
an async generator for the answer), ~190 us per address: 19 ms for 100 VIPs, most of the bring-up time. The
messages themselves are cheap. So here each request is still pyroute2's own `ifaddrmsg`, encoded by pyroute2, and
each ack is parsed by pyroute2's marshal (pyroute2 stays the netlink library); only the socket handling is ours:
the requests of a batch go out in one send(), each with NLM_F_ACK, and the acks are matched to them by sequence
number, so every address gets its own result.

rtnetlink handles a request inside the sender's send() call, so the acks are normally queued before send() returns
and reading them needs no event-loop round trip (`loop.sock_recv` reads at once when data is there, and waits
otherwise). The kernel processes each message of a batch on its own: one failing address (an unknown interface, a
bad prefix) gets its error ack and the others still go through.

The requests are the bytes `AsyncIPRoute.addr('replace' | 'del', ...)` sends for the same arguments (a unit test
compares them): RTM_NEWADDR with NLM_F_REPLACE | NLM_F_CREATE (idempotent), IFA_PROTO = IFA_PROTO_VRRPD, IFA_LOCAL
as well as IFA_ADDRESS for IPv4, and for IPv6 IFA_FLAGS = IFA_F_NODAD (see `Netlink.add`).
"""

from __future__ import annotations

import asyncio
import errno
import socket
import time
from collections.abc import Sequence
from ipaddress import IPv4Interface, IPv6Interface
from socket import AF_INET, AF_INET6

from vrrpd.net import pyroute2_lean

pyroute2_lean.prepare()
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg  # noqa: E402
from pyroute2.netlink.rtnl.marshal import MarshalRtnl  # noqa: E402

IPInterface = IPv4Interface | IPv6Interface

# <linux/rtnetlink.h>, <linux/netlink.h>
RTM_NEWADDR, RTM_DELADDR = 20, 21
NLM_F_REQUEST, NLM_F_ACK, NLM_F_REPLACE, NLM_F_CREATE = 0x1, 0x4, 0x100, 0x400
NLMSG_ERROR = 2
# <linux/if_addr.h>
IFA_F_NODAD = 0x02
IFA_PROTO_VRRPD = 0x56
"""0x56 = "V": tags the addresses vrrpd adds (IFA_PROTO, Linux >= 5.18); the kernel itself uses 0..3."""

_ADD_FLAGS = NLM_F_REQUEST | NLM_F_ACK | NLM_F_REPLACE | NLM_F_CREATE
_REMOVE_FLAGS = NLM_F_REQUEST | NLM_F_ACK

CHUNK = 16
"""Requests per send(), ~1 ms of work. Their acks wait in our receive buffer until we read them (a full buffer
would drop acks: ENOBUFS); 16 acks of ~1 KB of buffer each stay far below even the default 208 KB."""
SLICE = 0.001
"""Seconds of work after which a batch lets the event loop run (other instances' adverts and timers): the acks
usually need no wait, so without this a takeover with many addresses would hold the loop for all of them."""
_RCVBUF = 1 << 20
TIMEOUT = 5.0
"""Seconds to wait for the acks of one send(); they are normally there before send() returns."""


def encode(msg_type: int, ifindex: int, iface: IPInterface, seq: int) -> bytes:
    """One RTM_NEWADDR (`add`: replace, tagged, IPv6 without DAD) or RTM_DELADDR request, encoded by pyroute2."""
    address = str(iface.ip)
    msg = ifaddrmsg()
    msg["header"] = {
        "type": msg_type,
        "flags": _ADD_FLAGS if msg_type == RTM_NEWADDR else _REMOVE_FLAGS,
        "sequence_number": seq,
        "pid": 0,  # the kernel answers to the sending socket, whatever this says
    }
    msg["family"] = AF_INET if iface.version == 4 else AF_INET6
    msg["prefixlen"] = iface.network.prefixlen
    msg["index"] = ifindex
    attrs: list[tuple[str, object]] = [("IFA_ADDRESS", address)]
    if msg_type == RTM_NEWADDR:
        attrs.append(("IFA_PROTO", IFA_PROTO_VRRPD))
        if iface.version == 6:
            # A VIP moves between routers; waiting ~1 s for DAD would delay every takeover, and the VRRP
            # election already guarantees a single owner.
            attrs.append(("IFA_FLAGS", IFA_F_NODAD))
    if iface.version == 4:
        attrs.append(("IFA_LOCAL", address))  # IPv4's own address; IFA_ADDRESS alone would be a peer address
    msg["attrs"] = attrs
    msg.encode()
    return bytes(msg.data)


class AddressBatch:
    """Adds and removes addresses in batches; every call returns one errno per address (0: done).

    The socket is opened lazily (in the network namespace of the calling process, like pyroute2's) and used by
    one batch at a time (a lock), so no batch reads another's acks.
    """

    def __init__(self) -> None:
        self._sock: socket.socket | None = None
        self._seq = 0
        self._lock = asyncio.Lock()
        self._marshal = MarshalRtnl()
        self._slice_start = 0.0
        """When we last let the event loop run (time.monotonic)."""

    async def add(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[int]:
        return await self._run(RTM_NEWADDR, ifindex, ifaces)

    async def remove(self, ifindex: int, ifaces: Sequence[IPInterface]) -> list[int]:
        return await self._run(RTM_DELADDR, ifindex, ifaces)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _socket(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(
                socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
            )
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                sock.bind((0, 0))
            except BaseException:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFFFFFF + 1  # never 0, which the kernel's own notifications carry
        return self._seq

    async def _run(self, msg_type: int, ifindex: int, ifaces: Sequence[IPInterface]) -> list[int]:
        results = [0] * len(ifaces)
        async with self._lock:
            for start in range(0, len(ifaces), CHUNK):
                await self._chunk(msg_type, ifindex, ifaces, start, results)
        return results

    async def _chunk(
        self, msg_type: int, ifindex: int, ifaces: Sequence[IPInterface], start: int, results: list[int]
    ) -> None:
        if time.monotonic() - self._slice_start > SLICE:
            # Across calls too: the daemon adds a takeover's addresses with one call each.
            await asyncio.sleep(0)
            self._slice_start = time.monotonic()
        sock = self._socket()
        pending: dict[int, int] = {}
        """Sequence number -> position in `ifaces` of each request still waiting for its ack."""
        data = []
        for pos in range(start, min(start + CHUNK, len(ifaces))):
            seq = self._next_seq()
            pending[seq] = pos
            data.append(encode(msg_type, ifindex, ifaces[pos], seq))
        try:
            sock.send(b"".join(data))
        except OSError as exc:  # nothing was processed
            for pos in pending.values():
                results[pos] = exc.errno or errno.EIO
            return
        unanswered = errno.ETIMEDOUT
        deadline: float | None = None
        while pending:
            try:
                try:
                    received = sock.recv(1 << 16)  # the acks are normally queued already: no loop round trip
                except BlockingIOError:
                    loop = asyncio.get_running_loop()
                    deadline = deadline or loop.time() + TIMEOUT
                    async with asyncio.timeout_at(deadline):
                        received = await loop.sock_recv(sock, 1 << 16)
            except TimeoutError:
                break
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                unanswered = errno.ENOBUFS  # acks were dropped: those requests' outcome is unknown
                break
            for msg in self._marshal.parse(received):
                header = msg["header"]
                # An unknown sequence number is a late ack of a batch that timed out, reported already.
                if header["type"] == NLMSG_ERROR and header["sequence_number"] in pending:
                    # 0 acknowledges a request that succeeded; otherwise minus the errno.
                    results[pending.pop(header["sequence_number"])] = abs(msg["error"])
        for pos in pending.values():
            results[pos] = unanswered
