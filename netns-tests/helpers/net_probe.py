"""Drives vrrpd.net inside one lab namespace for the test_net_* tests (run via `ip netns exec NS python ...`).

Every subcommand prints JSON lines on stdout; a listener prints {"ready": true} once its socket is open, so a test
can start the sender only after that.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_interface
from typing import Any

from vrrpd.net.announce import Announcer
from vrrpd.net.netlink import Netlink
from vrrpd.net.sockets import Received, VrrpSocket
from vrrpd.protocol.packet import Advert, Family, InvalidAdvert, decode, encode

# asyncio debug mode logs every callback or task step that holds the loop longer than slow_callback_duration:
# a netlink or socket call that blocked would show up here.
SLOW_CALLBACKS: list[str] = []


class _SlowCallbackRecorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message:
            SLOW_CALLBACKS.append(message)


def emit(obj: dict[str, Any]) -> None:
    print(json.dumps(obj), flush=True)


def describe(rx: Received) -> dict[str, Any]:
    out: dict[str, Any] = {
        "src": str(rx.src),
        "dst": str(rx.dst),
        "ttl": rx.ttl,
        "ifindex": rx.ifindex,
        "length_mismatch": rx.length_mismatch,
        "payload": rx.payload.hex(),
    }
    try:
        decoded = decode(rx.payload, rx.src, rx.dst)
        out["advert"] = {
            "vrid": decoded.advert.vrid,
            "priority": decoded.advert.priority,
            "interval_cs": decoded.advert.interval_cs,
            "addresses": [str(a) for a in decoded.advert.addresses],
            "checksum_form": decoded.checksum_form.value,
        }
    except InvalidAdvert as err:
        out["invalid"] = err.reason
    return out


async def source_address(ifname: str, family: Family) -> IPv4Address | IPv6Address:
    nl = Netlink()
    try:
        link = await nl.link(ifname)
        address = await nl.primary_ipv4(link.index) if family is Family.IPV4 else await nl.link_local(link.index)
    finally:
        await nl.close()
    if address is None:
        raise SystemExit(f"no source address of family {family.name} on {ifname}")
    return address


async def listen(sock: VrrpSocket, seconds: float) -> list[Received]:
    """Collect packets through the event loop (add_reader), the way the daemon will."""
    loop = asyncio.get_running_loop()
    got: list[Received] = []

    def readable() -> None:
        while (rx := sock.recv()) is not None:
            got.append(rx)

    loop.add_reader(sock.fileno(), readable)
    try:
        await asyncio.sleep(seconds)
    finally:
        loop.remove_reader(sock.fileno())
    return got


async def cmd_recv(args: argparse.Namespace) -> None:
    with VrrpSocket(args.ifname, Family(args.family)) as sock:
        emit({"ready": True, "loops_back": sock.loops_back, "ifindex": sock.ifindex})
        for rx in await listen(sock, args.seconds):
            emit(describe(rx))


async def cmd_send(args: argparse.Namespace) -> None:
    family = Family(args.family)
    src = ip_address(args.src) if args.src else await source_address(args.ifname, family)
    addresses = tuple(ip_address(a) for a in args.address)
    advert = Advert(vrid=args.vrid, priority=args.priority, interval_cs=100, addresses=addresses)
    payload = encode(advert, src)
    # A second socket in the same namespace: with loop off, neither it nor the sender may see our adverts.
    with VrrpSocket(args.ifname, family) as sock, VrrpSocket(args.ifname, family) as bystander:
        for _ in range(args.count):
            sock.send(payload, src)
            await asyncio.sleep(0.05)
        own = await listen(sock, 0.3)
        seen_by_bystander = await listen(bystander, 0.01)
    emit({"sent": args.count, "src": str(src), "own_received": len(own), "bystander": len(seen_by_bystander)})


async def cmd_netlink(args: argparse.Namespace) -> None:
    nl = Netlink()
    try:
        link = await nl.link(args.ifname)
        ifaces = [ip_interface(a) for a in args.address]
        if args.op == "add":
            for iface in ifaces * 2:  # twice: must be idempotent
                await nl.add(link.index, iface)
        elif args.op == "remove":
            for iface in ifaces * 2:
                await nl.remove(link.index, iface)
        emit(
            {
                "link": {"index": link.index, "name": link.name, "mac": link.mac, "up": link.up, "mtu": link.mtu},
                "primary_ipv4": str(await nl.primary_ipv4(link.index)),
                "primary_ipv4_excluding": str(
                    await nl.primary_ipv4(link.index, exclude=[i.ip for i in ifaces if i.version == 4])
                ),
                "link_local": str(await nl.link_local(link.index)),
                "addresses": [str(a) for a in await nl.addresses(link.index)],
                "slow_callbacks": SLOW_CALLBACKS,
            }
        )
    finally:
        await nl.close()


async def cmd_batch(args: argparse.Namespace) -> None:
    """One add_many / remove_many call: the error (or null) of each address, then what the kernel holds.

    A batch takes tens of ms; it must let the loop run in between (addrbatch.SLICE), so here any step that
    holds the loop over 10 ms counts as slow (only there: opening pyroute2's socket may take longer)."""
    loop = asyncio.get_running_loop()
    nl = Netlink()
    try:
        link = await nl.link(args.ifname)
        ifaces = [ip_interface(a) for a in args.address]
        change = nl.add_many if args.op == "add" else nl.remove_many
        await asyncio.sleep(0)  # the threshold applies from the next step on
        loop.slow_callback_duration, default = 0.01, loop.slow_callback_duration
        errors = await change(link.index, ifaces)
        await asyncio.sleep(0)
        loop.slow_callback_duration = default
        emit(
            {
                "errors": {str(i): None if e is None else e.errno for i, e in zip(ifaces, errors, strict=True)},
                "addresses": [str(a) for a in await nl.addresses(link.index)],
                "ours": [str(a) for a in await nl.ours(link.index)],
                "slow_callbacks": SLOW_CALLBACKS,
            }
        )
    finally:
        await nl.close()


async def cmd_announce(args: argparse.Namespace) -> None:
    nl = Netlink()
    try:
        link = await nl.link(args.ifname)
        link_local = await nl.link_local(link.index)
    finally:
        await nl.close()
    with Announcer(args.ifname, link.mac, link_local) as announcer:
        for _ in range(args.count):
            announcer.announce(ip_address(a) for a in args.address)
            await asyncio.sleep(0.05)
    emit({"announced": args.address, "mac": link.mac, "link_local": str(link_local)})


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("recv")
    p.add_argument("ifname")
    p.add_argument("--family", type=int, default=4)
    p.add_argument("--seconds", type=float, default=2.0)
    p = sub.add_parser("send")
    p.add_argument("ifname")
    p.add_argument("address", nargs="+")
    p.add_argument("--family", type=int, default=4)
    p.add_argument("--vrid", type=int, default=5)
    p.add_argument("--priority", type=int, default=100)
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--src", help="source address (default: primary IPv4 / link-local)")
    p = sub.add_parser("netlink")
    p.add_argument("op", choices=["info", "add", "remove"])
    p.add_argument("ifname")
    p.add_argument("address", nargs="*")
    p = sub.add_parser("batch")
    p.add_argument("op", choices=["add", "remove"])
    p.add_argument("ifname")
    p.add_argument("address", nargs="*")
    p = sub.add_parser("announce")
    p.add_argument("ifname")
    p.add_argument("address", nargs="+")
    p.add_argument("--count", type=int, default=1)
    args = parser.parse_args(argv)
    handler = {
        "recv": cmd_recv,
        "send": cmd_send,
        "netlink": cmd_netlink,
        "batch": cmd_batch,
        "announce": cmd_announce,
    }[args.cmd]
    logging.getLogger("asyncio").addHandler(_SlowCallbackRecorder())

    async def run() -> None:
        asyncio.get_running_loop().slow_callback_duration = 0.05
        await handler(args)

    asyncio.run(run(), debug=True)


if __name__ == "__main__":
    main(sys.argv[1:])
