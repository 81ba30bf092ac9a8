"""The daemon's address worker without sockets: a takeover's VIPs go to netlink as one batch, and one address
the kernel refuses is counted and logged while the others are added (RFC 9568 §6.4.2: the master owns every VIP
it can)."""

from __future__ import annotations

import asyncio
import errno
import logging
from ipaddress import ip_address, ip_interface

import pytest
from daemoncase import SOURCE, started

from vrrpd.config import parse_config
from vrrpd.daemon.model import AddVips, RemoveVips
from vrrpd.net.fakes import FakeNetlink

CONFIG = """\
control_socket: /tmp/vrrpd-test-unused.sock
instances:
  - name: gw
    interface: eth0
    vrid: 7
    virtual_addresses: [198.51.100.70/24, 198.51.100.71/24, 198.51.100.72/24]
"""


class BatchNetlink(FakeNetlink):
    """Records each batch it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[tuple[str, int]] = []

    async def add_many(self, ifindex, ifaces):  # type: ignore[no-untyped-def]
        self.batches.append(("add", len(ifaces)))
        return await super().add_many(ifindex, ifaces)

    async def remove_many(self, ifindex, ifaces):  # type: ignore[no-untyped-def]
        self.batches.append(("remove", len(ifaces)))
        return await super().remove_many(ifindex, ifaces)


def test_vips_go_as_one_batch_and_a_refused_one_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        config = parse_config(CONFIG)
        fake = BatchNetlink()
        info = fake.add_link("eth0", addresses=[f"{SOURCE}/24"])
        case = await started(config, fake)
        inst = case.inst("gw")
        vips = tuple(a.ip for a in config.instances[0].virtual_addresses)
        fake.fail_next = OSError(errno.EACCES, "refused")
        with caplog.at_level(logging.ERROR):
            await case.daemon.worker.run_op(inst, AddVips(vips))
        assert fake.batches == [("add", 3)]
        present = {a.ip for a in await fake.addresses(info.index)}
        assert present == {ip_address("198.51.100.11"), *vips[1:]}
        assert inst.netlink_errors == 1
        assert "cannot add 198.51.100.70/24 on eth0" in caplog.text
        await case.daemon.worker.run_op(inst, RemoveVips(vips))  # the missing one is already gone: no error
        assert fake.batches[-1] == ("remove", 3)
        assert {a.ip for a in await fake.addresses(info.index)} == {ip_interface("198.51.100.11/24").ip}
        assert inst.netlink_errors == 1
        await case.stop()

    asyncio.run(body())
