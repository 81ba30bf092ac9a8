"""What reading the watched sockets before each deadline firing costs with N links (issue #13). Prints one line per N.

    .venv/bin/python bench/drain_cost.py [--links 1 10 100 1000] [--repeat 20000]

Before any deadline fires, vrrpd.services.scheduler asks one epoll instance, holding every watched socket, which of
them are readable (`epoll_wait` with a zero timeout) and drains only those. The alternative, a non-blocking recv
on every link that returns EAGAIN, costs a system call and a Python exception per link per firing. Both are
measured on idle sockets (the common case: nothing waits) using Unix datagram socket pairs, so nothing touches
a network. Run it with the interpreter the hosts use.
"""

from __future__ import annotations

import argparse
import select
import socket
import time
from collections.abc import Callable


def per_call(action: Callable[[], object], repeat: int) -> float:
    """Microseconds per call of `action`."""
    started = time.perf_counter()
    for _ in range(repeat):
        action()
    return (time.perf_counter() - started) / repeat * 1e6


def measure(links: int, repeat: int) -> tuple[float, float]:
    pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in range(links)]
    readers = [a for a, _ in pairs]
    for sock in readers:
        sock.setblocking(False)
    ready = select.epoll()
    for sock in readers:
        ready.register(sock.fileno(), select.EPOLLIN)

    def recv_each() -> None:
        for sock in readers:
            try:  # noqa: SIM105 - as vrrpd.net.sockets.VrrpSocket.recv does it (suppress() costs more)
                sock.recvmsg(8192, 64)
            except (BlockingIOError, InterruptedError):
                pass

    rounds = max(100, repeat // links)
    try:
        return per_call(lambda: ready.poll(0, links), repeat), per_call(recv_each, rounds)
    finally:
        ready.close()
        for a, b in pairs:
            a.close()
            b.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=20000)
    args = parser.parse_args()
    for links in args.links:
        epoll_us, recv_us = measure(links, args.repeat)
        print(f"{links:5d} links: one epoll_wait(0) {epoll_us:7.2f} us per firing; a recv each {recv_us:9.2f} us")


if __name__ == "__main__":
    main()
