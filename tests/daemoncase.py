"""Shared by the daemon tests that run without root (tests/test_daemon_*.py, tests/test_filetrack.py, ...): a whole
Daemon started on the doubles of vrrpd.net.fakes (FakeNetlink, FakeSockets, FakeFirewall), its control socket in a
temporary directory. Instances are built and started the way vrrpd builds them; adverts land in FakeVrrpSockets."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import ip_address
from pathlib import Path

from vrrpd.config import Config, parse_config
from vrrpd.daemon import Daemon, Instance, Openers
from vrrpd.net.fakes import FakeFirewall, FakeNetlink, FakeSockets, FakeVrrpSocket
from vrrpd.protocol import decode
from vrrpd.protocol.packet import Advert, encode

SOURCE = ip_address("198.51.100.11")
"""eth0's address on the default FakeNetlink: the advert source of its IPv4 instances."""

FAST_BACKUP = """\
instances:
  - {name: v1, interface: eth0, vrid: 1, priority: 100, advert_interval: 0.01, virtual_addresses: [203.0.113.1/24]}
"""
"""One instance advertising every 10 ms, a backup to the adverts of `advert_packet(1, 200, ...)`."""


@dataclass
class Case:
    """A started daemon and the doubles under it."""

    daemon: Daemon
    netlink: FakeNetlink
    sockets: FakeSockets
    firewall: FakeFirewall
    rundir: Path

    def inst(self, name: str) -> Instance:
        return self.daemon.instances[name]

    def sent(self, name: str) -> FakeVrrpSocket:
        """Where instance `name`'s adverts go."""
        tx = self.daemon.instances[name].tx
        assert isinstance(tx, FakeVrrpSocket)
        return tx

    async def stop(self) -> None:
        await self.daemon.stop()
        self.sockets.close()
        shutil.rmtree(self.rundir, ignore_errors=True)


def default_netlink() -> FakeNetlink:
    fake = FakeNetlink()
    fake.add_link("eth0", addresses=[f"{SOURCE}/24"])
    return fake


def daemon_on_fakes(config: Config | str, netlink: FakeNetlink | None = None, state_dir: Path | None = None) -> Case:
    """A Daemon (not started) of `config` over fakes, its control socket in a fresh temporary directory, and its
    drained state file too unless `state_dir` says where (a test that restarts a daemon gives the same one)."""
    if isinstance(config, str):
        config = parse_config(config)
    rundir = Path(tempfile.mkdtemp(prefix="vrrpd-test-"))
    config = dataclasses.replace(config, control_socket=rundir / "vrrpd.sock")
    netlink = netlink if netlink is not None else default_netlink()
    sockets = FakeSockets(netlink)
    firewall = FakeFirewall()
    openers = Openers(sockets.vrrp_socket, sockets.announcer, sockets.is_local)
    daemon = Daemon(config, netlink, openers=openers, firewall=firewall, state_dir=state_dir or rundir)
    return Case(daemon, netlink, sockets, firewall, rundir)


async def started(
    config: Config | str, netlink: FakeNetlink | None = None, *, hold: bool = True, state_dir: Path | None = None
) -> Case:
    """`daemon_on_fakes`, started. `hold`: the track scripts and files do not run on their own schedule; the test
    plays their part (daemon.monitors.on_script / on_file), so nothing but the test moves a tracker."""
    case = daemon_on_fakes(config, netlink, state_dir)
    try:
        await case.daemon.start()
    except BaseException:
        case.sockets.close()
        shutil.rmtree(case.rundir, ignore_errors=True)
        raise
    if hold:
        for monitor in (*case.daemon.monitors.scripts.values(), *case.daemon.monitors.files.values()):
            await monitor.stop()
    return case


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let the loop run until `predicate()` holds (failing after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def priorities(sock: FakeVrrpSocket) -> list[int]:
    """The priority of every advert sent to the group so far, in order."""
    return [decode(s.payload, s.src, s.dst).advert.priority for s in sock.sent]


def advert_packet(vrid: int, priority: int, src: str, vip: str) -> bytes:
    """A raw IPv4 packet (header included, TTL 255, to 224.0.0.18) carrying one VRRPv3 advert."""
    payload = encode(Advert(vrid=vrid, priority=priority, interval_cs=1, addresses=(ip_address(vip),)), ip_address(src))
    header = bytearray(20)
    header[0], header[8], header[9] = 0x45, 255, 112
    struct.pack_into("!H", header, 2, 20 + len(payload))
    header[12:16], header[16:20] = ip_address(src).packed, ip_address("224.0.0.18").packed
    return bytes(header) + payload
