"""The raw VRRP socket for one (interface, address family): IP protocol 112 to and from the VRRP group, and to
and from unicast peers (`send_to`; vrrpd.net.unicast).

One socket serves every virtual router of that family on the interface; the caller demultiplexes on the VRID.
The socket is non-blocking: register `fileno()` with `loop.add_reader` and call `recv()` until it returns None.

What the kernel does for us and what it does not (docs/interop.md §1):
- TTL / Hop Limit 255 and TOS / traffic class 0xC0 on transmit come from socket options, so every packet has them.
- Multicast loop is off: our own adverts never come back to any socket in this namespace (R24, V16).
- The kernel never computes the VRRP checksum (no IPV6_CHECKSUM): the codec in vrrpd.protocol.packet does. The
  socket filter below refuses a sum wrong in every form; one in a form the router does not accept reaches the
  caller to be counted as a drop.
- The source address is forced per packet with IP_PKTINFO / IPV6_PKTINFO; it must be a local, non-tentative
  address of this namespace or sendmsg fails (EINVAL / EADDRNOTAVAIL).
- A classic BPF filter (`set_filter`, built by vrrpd.net.bpf) keeps what cannot be a valid advert for this link's
  routers out of the receive queue, so a garbage flood cannot push real adverts out of it (issue #13); the daemon
  sets it as soon as a link has a router (vrrpd.daemon.model.Link.refilter). `stats` reads the queue's size, fill
  and overflow drops.
"""

from __future__ import annotations

import contextlib
import ctypes
import socket
import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Any

from vrrpd.net.bpf import ACCEPT_ALL, DROP_ALL, Insn, pack
from vrrpd.protocol.constants import VRRP_TTL
from vrrpd.protocol.packet import IPPROTO_VRRP, VRRP_GROUP_V4, VRRP_GROUP_V6, Family, IPAddress

IP_PKTINFO = 8  # <linux/in.h>; missing from Python 3.11's socket module
SO_ATTACH_FILTER = 26  # <asm-generic/socket.h>
SO_DETACH_FILTER = 27
SO_RCVBUFFORCE = 33
SO_MEMINFO = 55
_SK_MEMINFO = struct.Struct("=9I")  # u32 sk_meminfo[SK_MEMINFO_VARS]: rmem_alloc, rcvbuf, ..., drops (last)

RCVBUF = 1 << 20
"""Receive buffer asked for (the kernel doubles it for its bookkeeping: 2 MiB of skb truesize). A queued advert
costs 832 bytes of truesize on a veth (measured: 2,521 one-address adverts filled it), so this holds ~2,500
adverts: 100 ms of 255 VRIDs at 10 ms adverts, or a 2.5 s stall of the event loop with ten of them. Garbage no
longer queues (the filter), so this only covers bursts of real adverts and our own stalls; memory is charged only
while packets wait (the default, net.core.rmem_default, is 208 KiB: 250 adverts)."""

TOS_INTERNETCONTROL = 0xC0

# Large enough for the biggest VRRP packet (60-byte IPv4 header + 1028, or 4088 for IPv6) with room to spare;
# anything longer is reported as a length error, never read partially and trusted.
_RECV_BUFSIZE = 8192
_CMSG_SPACE = socket.CMSG_SPACE(20) + socket.CMSG_SPACE(4) + 64
"""IPv6's ancillary data: in6_pktinfo and the hop limit, with room to spare."""

_IN_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
_IN6_PKTINFO = struct.Struct("=16sI")  # struct in6_pktinfo: addr, ifindex
_IP_MREQN = struct.Struct("=4s4si")  # struct ip_mreqn: multiaddr, address, ifindex
_IPV6_MREQ = struct.Struct("=16sI")  # struct ipv6_mreq: multiaddr, ifindex
_INT = struct.Struct("=i")

_MSG_TRUNC = int(socket.MSG_TRUNC)
"""A plain int: `&` on the IntFlag member runs Python code on every packet."""


@dataclass(slots=True)
class Received:
    """One packet read from a VrrpSocket, with the IP-level facts the receive checks need.

    Not frozen: a frozen dataclass sets each field through object.__setattr__, which costs more than the rest
    of parsing a packet; nothing keeps or hashes these.
    """

    src: IPAddress
    dst: IPAddress
    """The IP destination: the VRRP group, or one of our addresses for a unicast advert (V15)."""
    ttl: int
    """IPv4 TTL or IPv6 Hop Limit as received; anything but 255 must be dropped (RFC 9568 §7.1)."""
    payload: bytes
    """The VRRP message without the IP header, cut to the IPv4 total length."""
    ifindex: int
    """The interface it came in on: IPv6 as the kernel reports it, IPv4 the one the socket is bound to."""
    length_mismatch: bool = False
    """The IPv4 total length disagrees with the bytes read, or the packet was truncated: drop as 'length'."""


@dataclass(frozen=True, slots=True)
class SocketStats:
    """A receive queue as the kernel sees it (SO_MEMINFO)."""

    rcvbuf: int
    """Its limit in bytes of skb truesize (twice what was asked for)."""
    queued: int
    """Bytes waiting to be read now."""
    drops: int
    """Packets the kernel dropped since the socket opened because the queue was full (sk_drops, the count
    SO_RXQ_OVFL would attach to each packet read; read here on demand instead). What the filter refuses is not
    in it, on IPv4 or IPv6 (netns-tests/test_flood.py)."""


class VrrpSocket:
    """A non-blocking raw IP socket (protocol 112) bound to one interface and joined to the VRRP group there.

    With `receive=False` it only sends (a virtual-MAC macvlan's transmit socket: adverts must leave with the
    virtual MAC, while the parent's socket receives): it joins no group and a drop-all socket filter keeps
    anything the kernel would still deliver to a raw socket from queueing up unread.
    """

    def __init__(self, ifname: str, family: Family, *, receive: bool = True) -> None:
        self.ifname = ifname
        self.family = family
        self.receive = receive
        self.ifindex = socket.if_nametoindex(ifname)
        self._send_args: dict[IPAddress, tuple[list[tuple[int, int, bytes]], int, tuple[Any, ...]]] = {}
        """Per advert source (ours: a handful), what sendmsg needs besides the payload."""
        self._last_src: IPAddress | None = None
        self._last_args: tuple[list[tuple[int, int, bytes]], int, tuple[Any, ...]] = ([], 0, ())
        if family is Family.IPV4:
            self._sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_VRRP)
        else:
            self._sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, IPPROTO_VRRP)
        try:
            self._sock.setblocking(False)
            # Scopes both receive (packets from other links never reach us) and transmit to this interface.
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
            if family is Family.IPV4:
                self._setup_v4()
            else:
                self._setup_v6()
            if not receive:
                _attach(self._sock, DROP_ALL)
            else:
                try:
                    self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF)
                except PermissionError:  # no CAP_NET_ADMIN: as much as net.core.rmem_max allows
                    self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        except BaseException:
            self._sock.close()
            raise

    def _setup_v4(self) -> None:
        s = self._sock
        mreqn = _IP_MREQN.pack(VRRP_GROUP_V4.packed, b"\0" * 4, self.ifindex)
        if self.receive:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_INTERNETCONTROL)
        # Unicast adverts to one of our addresses should also carry TTL 255 (keepalived unicast peers).
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
        # The IP header (with TTL and dst) comes with the data on a raw IPv4 socket: no IP_PKTINFO on receive.

    def _setup_v6(self) -> None:
        s = self._sock
        mreq = _IPV6_MREQ.pack(VRRP_GROUP_V6.packed, self.ifindex)
        if self.receive:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, self.ifindex)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, VRRP_TTL)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 0)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, TOS_INTERNETCONTROL)
        # A raw IPv6 socket delivers no IP header: the hop limit and destination arrive as ancillary data.
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)

    # --- public API ---------------------------------------------------------------------------------------------

    def fileno(self) -> int:
        return self._sock.fileno()

    @property
    def loops_back(self) -> bool:
        """Whether our own multicast adverts would be delivered back to this host (always False)."""
        if self.family is Family.IPV4:
            return bool(self._sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))
        return bool(self._sock.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP))

    def set_filter(self, insns: tuple[Insn, ...]) -> None:
        """Replace the socket's receive filter (vrrpd.net.bpf.program); the kernel swaps it atomically. A
        send-only socket keeps taking nothing."""
        if not self.receive:
            return
        if insns == ACCEPT_ALL:
            # Taking everything needs no program, and detaching cannot run out of net.core.optmem_max as
            # attaching can: this is the fallback when every program was refused.
            with contextlib.suppress(FileNotFoundError):  # ENOENT: no filter was attached
                self._sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_FILTER, 0)
            return
        _attach(self._sock, insns)

    def stats(self) -> SocketStats:
        """The receive queue as the kernel sees it now (SO_MEMINFO): a getsockopt, no per-packet cost."""
        values = _SK_MEMINFO.unpack_from(self._sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _SK_MEMINFO.size))
        return SocketStats(rcvbuf=values[1], queued=values[0], drops=values[8])

    def recv(self) -> Received | None:
        """Read one packet, or return None when none is waiting. Never blocks.

        Raises OSError only for socket errors other than EAGAIN/EINTR (e.g. ENETDOWN); remote garbage never
        raises here, it comes back as a Received for the codec to reject.
        """
        if self.family is Family.IPV6:
            try:
                data, ancdata, flags, address = self._sock.recvmsg(_RECV_BUFSIZE, _CMSG_SPACE)
            except (BlockingIOError, InterruptedError):
                return None
            return self._parse_v6(data, ancdata, address, bool(flags & _MSG_TRUNC))
        while True:
            data = self.recv_raw()
            if data is None:
                return None
            received = parse_ipv4(data, self.ifindex)
            if received is not None:
                return received
            # Not even an IPv4 header: skip it, since None would tell the caller the queue is empty.

    def recv_raw(self) -> bytes | None:
        """IPv4 only: one packet as read, IP header included (`parse_ipv4` splits it), or None when none is waiting.

        The header says all the receive checks need (source, destination, TTL, length) and the socket is bound to
        its interface, so a plain recv does: no ancillary data to build and parse (a third of the cost of a read,
        bench/receive_cost.py). A packet longer than the buffer is cut, and then its total length no longer matches
        what was read: `parse_ipv4` reports that as a length error, as MSG_TRUNC would have."""
        try:
            return self._sock.recv(_RECV_BUFSIZE)
        except (BlockingIOError, InterruptedError):
            return None

    def send(self, payload: bytes, src: IPAddress) -> None:
        """Send one VRRP message (no IP header) to the VRRP group from `src` on this interface.

        `src` must be the interface's primary IPv4 address or its IPv6 link-local, and is the same address that
        went into the checksum pseudo-header. Raises OSError (ENETDOWN, EADDRNOTAVAIL, ENOBUFS, ...); the caller
        counts it and carries on, as the next advert is only an interval away.
        """
        # By identity first: every instance on a link sends from the same address object, and hashing an
        # ipaddress object (hash(hex(int))) costs more than the rest of this call.
        if src is self._last_src:
            cached = self._last_args
        else:
            cached = self._send_args.get(src)
            if cached is None:
                cached = self._send_args[src] = self._group_send_args(src)
            self._last_src, self._last_args = src, cached
        self._sock.sendmsg([payload], *cached)

    def _group_send_args(self, src: IPAddress) -> tuple[list[tuple[int, int, bytes]], int, tuple[Any, ...]]:
        """sendmsg's ancillary data, flags and address for adverts to the group from `src`: built once per
        source, since a master sends the same ones every interval."""
        if self.family is Family.IPV4:
            if not isinstance(src, IPv4Address):
                raise ValueError(f"IPv4 socket cannot send from {src}")
            # ipi_spec_dst is the source for raw sockets: raw_sendmsg() takes saddr from it after ip_cmsg_send().
            info = _IN_PKTINFO.pack(self.ifindex, src.packed, b"\0" * 4)
            return [(socket.IPPROTO_IP, IP_PKTINFO, info)], 0, (str(VRRP_GROUP_V4), 0)
        if not isinstance(src, IPv6Address):
            raise ValueError(f"IPv6 socket cannot send from {src}")
        info = _IN6_PKTINFO.pack(src.packed, self.ifindex)
        return [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)], 0, (str(VRRP_GROUP_V6), 0, 0, self.ifindex)

    def send_to(self, payload: bytes, src: IPAddress, dst: IPAddress, ttl: int = VRRP_TTL) -> None:
        """Send one VRRP message to a unicast peer `dst` from `src`, with TTL / hop limit `ttl`.

        The checksum in `payload` must have been computed with `dst` in the pseudo-header. A TTL other than the
        socket's 255 goes per packet as IP_TTL / IPV6_HOPLIMIT ancillary data, since the socket is shared by
        every instance on the interface. Raises OSError (EHOSTUNREACH, ENETUNREACH, ...), like send().
        """
        if src.version != dst.version or src.version != self.family:
            raise ValueError(f"IPv{self.family} socket cannot send from {src} to {dst}")
        if isinstance(src, IPv4Address):
            info = _IN_PKTINFO.pack(self.ifindex, src.packed, b"\0" * 4)
            cmsg = [(socket.IPPROTO_IP, IP_PKTINFO, info)]
            if ttl != VRRP_TTL:
                cmsg.append((socket.IPPROTO_IP, socket.IP_TTL, _INT.pack(ttl)))
            self._sock.sendmsg([payload], cmsg, 0, (str(dst), 0))
        else:
            info = _IN6_PKTINFO.pack(src.packed, self.ifindex)
            cmsg = [(socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info)]
            if ttl != VRRP_TTL:
                cmsg.append((socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, _INT.pack(ttl)))
            scope = self.ifindex if dst.is_link_local else 0
            self._sock.sendmsg([payload], cmsg, 0, (str(dst), 0, 0, scope))

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VrrpSocket({self.ifname!r}, {self.family.name})"

    # --- parsing ------------------------------------------------------------------------------------------------

    def _parse_v6(
        self,
        data: bytes,
        ancdata: list[tuple[int, int, bytes]],
        address: tuple[str, int, int, int],
        truncated: bool,
    ) -> Received:
        # A missing hop limit reads as 0, so the TTL check drops the packet rather than trusting it.
        hoplimit, dst, ifindex = 0, VRRP_GROUP_V6, self.ifindex
        for level, kind, value in ancdata:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= _INT.size:
                hoplimit = _INT.unpack_from(value)[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= _IN6_PKTINFO.size:
                raw_dst, ifindex = _IN6_PKTINFO.unpack_from(value)
                dst = IPv6Address(raw_dst)
        # Link-local sources may come back as "fe80::1%eth0"; the scope is the ifindex we already have.
        src = IPv6Address(address[0].split("%", 1)[0])
        return Received(src=src, dst=dst, ttl=hoplimit, payload=bytes(data), ifindex=ifindex, length_mismatch=truncated)


def _attach(sock: socket.socket, insns: tuple[Insn, ...]) -> None:
    """Attach a classic BPF program (struct sock_fprog {len; *filter}); the kernel copies it."""
    program = ctypes.create_string_buffer(pack(insns))
    fprog = struct.pack("@HP", len(insns), ctypes.addressof(program))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def parse_ipv4(data: bytes, ifindex: int, truncated: bool = False) -> Received | None:
    """Split a raw IPv4 packet as a raw socket returns it (header included) into a Received.

    None for data that is not an IPv4 header at all. A total length that disagrees with the bytes read is
    reported in `length_mismatch`, not silently trusted or trimmed away.
    """
    size = len(data)
    if size < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    total_length = data[2] << 8 | data[3]
    mismatch = truncated or ihl < 20 or ihl > size or total_length != size
    start = max(ihl, 20)
    end = total_length if start <= total_length <= size else size
    # Positional: this runs for every packet.
    return Received(_ipv4(data[12:16]), _ipv4(data[16:20]), data[8], data[start:end], ifindex, mismatch)


_IPV4_CACHE: dict[bytes, IPv4Address] = {VRRP_GROUP_V4.packed: VRRP_GROUP_V4}
"""Seeded with the group, so a received destination usually *is* VRRP_GROUP_V4 (a cheap identity test)."""
_IPV4_CACHE_MAX = 4096


def _ipv4(raw: bytes) -> IPv4Address:
    """IPv4Address(raw), remembered: building one costs more than the rest of a packet's parsing, and a LAN has
    few VRRP sources. Bounded, since sources are remote input (a flood of spoofed ones just empties it)."""
    addr = _IPV4_CACHE.get(raw)
    if addr is None:
        if len(_IPV4_CACHE) >= _IPV4_CACHE_MAX:
            _IPV4_CACHE.clear()
            _IPV4_CACHE[VRRP_GROUP_V4.packed] = VRRP_GROUP_V4
        addr = _IPV4_CACHE[raw] = IPv4Address(raw)
    return addr
