"""The kernel receive filter follows the routers of its link (vrrpd.daemon.model.Link.refilter, vrrpd.net.bpf): set
when a link gets its first router, rebuilt when a reload adds, removes or re-creates one or changes a unicast
minimum TTL in place, and untouched by a reload that changes nothing it knows. The status shows each link's
receive buffer and kernel drops. Without root, on the fakes (the program itself: tests/test_net_bpf.py)."""

from __future__ import annotations

from pathlib import Path

from daemoncase import Case
from reloadcase import document, instance, masters, reload, run

from vrrpd.net.bpf import ACCEPT_ALL, DROP_ALL, Accept, program
from vrrpd.net.fakes import FakeVrrpSocket
from vrrpd.net.sockets import RCVBUF
from vrrpd.protocol import Family

A_VIP, B_VIP, C_VIP = "198.51.100.101/24", "198.51.100.102/24", "198.51.100.103/24"


def filters(case: Case) -> list:
    sock = case.daemon.links[("eth0", Family.IPV4)].sock
    assert isinstance(sock, FakeVrrpSocket)
    return sock.filters


def kernel_filter(case: Case) -> str:
    (link,) = case.daemon.status()["interfaces"]
    return link["kernel_filter"]


def test_the_filter_is_set_at_start_and_follows_each_reload(tmp_path: Path) -> None:
    a, b = instance(tmp_path, "a", 1, A_VIP), instance(tmp_path, "b", 2, B_VIP)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a", "b")
        assert filters(case)[-1] == program(Family.IPV4, {1: Accept(3), 2: Accept(3)})
        # After the drop-all the link opens with, built once for all the instances a start brings (one program per
        # instance made start-up quadratic: 100 programs of growing length for 100 instances).
        assert filters(case) == [DROP_ALL, program(Family.IPV4, {1: Accept(3), 2: Accept(3)})]
        count = len(filters(case))

        await reload(case, document(a, b, instance(tmp_path, "c", 3, C_VIP)))  # added
        abc = {1: Accept(3), 2: Accept(3), 3: Accept(3)}
        # Through the short program: the kernel would charge the old and the new checksum programs at once.
        assert filters(case)[count:] == [program(Family.IPV4, abc, checksum=False), program(Family.IPV4, abc)]

        await reload(case, document(a, b, instance(tmp_path, "c", 3, C_VIP, priority=150)))  # nothing it knows
        assert len(filters(case)) == count + 2  # not set again

        await reload(case, document(a, b))  # c removed
        assert filters(case)[-1] == program(Family.IPV4, {1: Accept(3), 2: Accept(3)})

        await reload(case, document(a, instance(tmp_path, "b", 4, B_VIP)))  # b re-created as VRID 4
        assert filters(case)[-1] == program(Family.IPV4, {1: Accept(3), 4: Accept(3)})

        unicast = {"unicast_peers": "[198.51.100.201]", "unicast_min_ttl": 250}
        await reload(case, document(a, instance(tmp_path, "b", 4, B_VIP, **unicast)))  # re-created as unicast
        assert filters(case)[-1] == program(Family.IPV4, {1: Accept(3), 4: Accept(3, 250, unicast=True)})
        before = case.inst("b")
        await reload(case, document(a, instance(tmp_path, "b", 4, B_VIP, **{**unicast, "unicast_min_ttl": 64})))
        assert case.inst("b") is before  # changed in place, not re-created
        assert filters(case)[-1] == program(Family.IPV4, {1: Accept(3), 4: Accept(3, 64, unicast=True)})

    run(document(a, b), body)


def test_the_status_shows_each_links_receive_buffer_and_kernel_drops(tmp_path: Path) -> None:
    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a")
        sock = case.daemon.links[("eth0", Family.IPV4)].sock
        assert isinstance(sock, FakeVrrpSocket)
        sock.kernel_drops = 7
        (link,) = case.daemon.status()["interfaces"]
        assert (link["receive_buffer"], link["kernel_drops"]) == (2 * RCVBUF, 7)

    run(document(instance(tmp_path, "a", 1, A_VIP)), body)


def test_a_program_the_kernel_refuses_falls_back_to_one_without_checksums_then_to_none(tmp_path: Path, caplog) -> None:
    """Over net.core.optmem_max (ENOMEM) the checksum's long program is refused. The kernel charges a new program
    while the old one is still held, so the short program without checksums first makes room and the full one is
    tried again; only if it alone does not fit does the filter go on without checksums. Should even the short one
    be refused, the filter is taken off (the socket takes everything; Python still screens it all), never left
    taking nothing, which would make every router Master, nor left with the old VRIDs."""
    a, b = instance(tmp_path, "a", 1, A_VIP), instance(tmp_path, "b", 2, B_VIP)
    full_a = program(Family.IPV4, {1: Accept(3)})
    full_ab = program(Family.IPV4, {1: Accept(3), 2: Accept(3)})
    short_ab = program(Family.IPV4, {1: Accept(3), 2: Accept(3)}, checksum=False)

    async def body(case: Case) -> None:
        await masters(case, tmp_path, "a")
        sock = case.daemon.links[("eth0", Family.IPV4)].sock
        assert isinstance(sock, FakeVrrpSocket)
        assert filters(case)[-1] == full_a
        # Room for one checksum program and a short one, not two checksum programs: replacing needs the detour.
        sock.filter_limit = len(full_ab) + len(short_ab)
        await reload(case, document(a, b))
        assert filters(case)[-2:] == [short_ab, full_ab]
        assert "refused" not in caplog.text
        assert kernel_filter(case) == "checksums"
        # Not even the short one fits next to what is held: the filter is taken off rather than left with the
        # old VRIDs (VRID 2's adverts refused: a second Master) or taking nothing.
        sock.filter_limit = 1
        await reload(case, document(a))
        assert filters(case)[-1] == ACCEPT_ALL
        assert "every VRRP packet reaches vrrpd" in caplog.text
        assert case.inst("a").router.state.value == "MASTER"
        assert kernel_filter(case) == "none"
        # Room for no checksum program at all: the short one goes on, with a warning that says how to make room.
        sock.filter_limit = len(full_a) - 1
        await reload(case, document(a, b))
        assert filters(case)[-1] == short_ab
        assert "filtering without them" in caplog.text and "optmem_max" in caplog.text
        assert kernel_filter(case) == "no checksums"

    run(document(a), body)
