#!/usr/bin/env python3
"""What one received advert costs vrrpd in Python, from the socket's packet to the router (issue #16's backup lever).

Not a test: it prints figures. No root: a whole Daemon runs on the doubles of vrrpd.net.fakes (the way
tests/daemoncase.py builds one), N instances at 10 ms, every one a Backup following a master at priority 200. Then
the receive path is timed on repeats of that master's advert, the case a backup meets ~all the time:

- `parse`: the raw IPv4 packet into a `Received` (vrrpd.net.sockets.parse_ipv4), what VrrpSocket.recv does after
  its system call;
- `receive`: `Listener.receive` of one parsed packet (screen, router, deadline);
- `both`: the two: the whole path an advert takes when it is not a repeat a Backup follows;
- `lane`: `Listener.read_ipv4` on raw packets, what a Backup's IPv4 socket drain costs per advert: its repeats take
  the raw-repeat lane (no parsing, no screen) straight to the router's `heard_again`.

The system call is not in any of them (one recv per advert: 1-1.5 us on the lab VM, a third more with the ancillary
data an IPv6 read needs).

    PYTHONPATH=.venv/lib/python3.11/site-packages:. /usr/bin/python3 bench/receive_cost.py
    PYTHONPATH=. .venv/bin/python bench/receive_cost.py --instances 255

The interpreter matters (Debian's /usr/bin/python3 is an optimised build): the first line says which ran.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daemoncase import advert_packet, started

from vrrpd.net.sockets import parse_ipv4
from vrrpd.protocol import State


class RawStub:
    """A socket whose `recv_raw` hands out `packets` once per `refill`, then None (nothing waiting)."""

    def __init__(self, packets: list[bytes]) -> None:
        self.packets = packets
        self.queue: list[bytes] = []

    def refill(self) -> None:
        self.queue = self.packets[::-1]

    def recv_raw(self) -> bytes | None:
        return self.queue.pop() if self.queue else None


def config(instances: int) -> str:
    lines = ["instances:"]
    for vrid in range(1, instances + 1):
        lines.append(
            f"  - {{name: v{vrid}, interface: eth0, vrid: {vrid}, priority: 100, advert_interval: 0.01,"
            f" virtual_addresses: [203.0.113.{vrid}/24]}}"
        )
    return "\n".join(lines) + "\n"


async def measure(instances: int, rounds: int, repeats: int) -> dict[str, list[float]]:
    case = await started(config(instances))
    try:
        daemon = case.daemon
        listener = daemon.listener
        link = next(iter(daemon.links.values()))
        raw = [advert_packet(vrid, 200, "198.51.100.2", f"203.0.113.{vrid}") for vrid in range(1, instances + 1)]
        first = [parse_ipv4(packet, 1) for packet in raw]
        for packet in first:  # the first advert of each master: the full path once, then every one is a repeat
            assert packet is not None
            listener.receive(link, packet)
        states = {inst.router.state for inst in daemon.instances.values()}
        assert states == {State.BACKUP}, states
        figures: dict[str, list[float]] = {"parse": [], "receive": [], "both": [], "lane": []}
        socket, stub = link.sock, RawStub(raw)
        receive = listener.receive
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(rounds):
                for packet in raw:
                    parse_ipv4(packet, 1)
            figures["parse"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(rounds):
                for parsed in first:
                    receive(link, parsed)  # type: ignore[arg-type]
            figures["receive"].append(time.perf_counter() - start)
            start = time.perf_counter()
            for _ in range(rounds):
                for packet in raw:
                    receive(link, parse_ipv4(packet, 1))  # type: ignore[arg-type]
            figures["both"].append(time.perf_counter() - start)
            link.sock = stub  # type: ignore[assignment]
            try:
                start = time.perf_counter()
                for _ in range(rounds):
                    stub.refill()
                    listener.read_ipv4(link, len(raw) + 1)
                figures["lane"].append(time.perf_counter() - start)
            finally:
                link.sock = socket
        assert len(link.repeats) == instances  # every router's repeat took the lane
        received = sum(inst.router.counters.adverts_received for inst in daemon.instances.values())
        expected = instances * (1 + 3 * rounds * repeats)
        assert received == expected, (received, expected)  # every advert reached its router
        assert {inst.router.state for inst in daemon.instances.values()} == {State.BACKUP}
        return figures
    finally:
        await case.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--instances", type=int, default=100)
    p.add_argument("--rounds", type=int, default=200, help="passes over every instance's advert per repeat")
    p.add_argument("--repeats", type=int, default=7)
    args = p.parse_args()
    figures = asyncio.run(measure(args.instances, args.rounds, args.repeats))
    per = args.instances * args.rounds
    print(f"python {platform.python_version()} ({sys.executable}), {args.instances} backups, {per} adverts per repeat")
    for name, values in figures.items():
        us = [v / per * 1e6 for v in values]
        print(f"  {name:8s} median {statistics.median(us):6.2f} us/advert  (min {min(us):.2f}, max {max(us):.2f})")


if __name__ == "__main__":
    main()
