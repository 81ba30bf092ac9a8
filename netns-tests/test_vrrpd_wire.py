"""What vrrpd puts on the wire (decoded by tshark) and what it does with garbage (crafted by scapy).

Receive rules: RFC 9568 §7.1; transmit rules: §5.1, §5.2, §7.2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, instance, vip_holders

INJECT = str(Path(__file__).parent / "helpers" / "inject.py")
SETUPS = {
    "ipv4": {"vip": "198.51.100.100/24", "rogue_src": "198.51.100.66"},
    "ipv6": {"vip": "2001:db8::100/64", "rogue_src": None},  # the rogue's link-local
}


def capture(host: Host, seconds: float, fields: list[str]) -> list[list[str]]:
    argv = [
        "tshark",
        "-i",
        "eth0",
        "-a",
        f"duration:{seconds:g}",
        "-f",
        "ip proto 112 or ip6 proto 112",
        "-T",
        "fields",
        "-E",
        "separator=|",
        *[arg for f in fields for arg in ("-e", f)],
    ]
    out = host.run(argv, timeout=seconds + 20).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("family", SETUPS)
def test_9568_7_2_tshark_decodes_our_adverts_as_valid_vrrpv3(lab, family):
    vip = SETUPS[family]["vip"]
    a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    listener = lab.add_host("l", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    vips = [vip, vip.replace("100/", "101/")]
    d = Vrrpd(a, [instance(priority=200, addresses=vips, advert_interval=0.1)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    ip = "ip" if family == "ipv4" else "ipv6"
    ttl, tos = ("ip.ttl", "ip.dsfield") if family == "ipv4" else ("ipv6.hlim", "ipv6.tclass")
    addr = "vrrp.ip_addr" if family == "ipv4" else "vrrp.ipv6_addr"
    rows = capture(
        listener,
        1.5,
        [
            f"{ip}.src",
            f"{ip}.dst",
            ttl,
            tos,
            "vrrp.version",
            "vrrp.type",
            "vrrp.virt_rtr_id",
            "vrrp.prio",
            "vrrp.adver_int",
            "vrrp.short_adver_int",
            "vrrp.checksum.status",
            addr,
        ],
    )
    assert len(rows) >= 8, rows
    expected_src = "198.51.100.11" if family == "ipv4" else a.link_local
    for src, dst, hops, dsfield, version, ptype, vrid, prio, interval, short_interval, csum, addresses in rows:
        interval = interval or short_interval
        assert src == expected_src  # §5.1.1.1 primary IPv4 / §5.1.2.1 link-local
        assert dst == ("224.0.0.18" if family == "ipv4" else "ff02::12")
        assert hops == "255"  # §5.1.1.3 / §5.1.2.3
        assert int(dsfield, 0) == 0xC0  # internetwork control, as keepalived and FRR
        assert (version, ptype, vrid, prio, interval) == ("3", "1", "51", "200", "10")
        assert csum == "1", "tshark: checksum not Good"  # 1 = good (pseudo-header form for IPv4)
        assert addresses.split(",") == [v.split("/")[0] for v in vips]  # all VIPs, configured order


def rogue_setup(lab: Lab, family: str) -> tuple[Host, Vrrpd, Host, str, str]:
    vip = SETUPS[family]["vip"]
    a = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    rogue = lab.add_host("rogue", ipv4="198.51.100.66/24", ipv6="2001:db8::66/64")
    d = Vrrpd(a, [instance(priority=200, addresses=[vip], advert_interval=0.1)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    src = SETUPS[family]["rogue_src"] or rogue.link_local
    return a, d, rogue, vip, src


def inject(rogue: Host, src: str, vip: str, *cases: str, count: int = 3) -> None:
    rogue.run([sys.executable, INJECT, "eth0", src, "51", vip.split("/")[0], *cases, "--count", str(count)], timeout=60)


CASES = {
    # case -> (where the drop is counted, reason); "kernel": refused by the socket's kernel filter (vrrpd.net.bpf),
    # so it reaches vrrpd not at all and no counter moves (netns-tests/test_conformance_rx.py has each rule)
    "ttl": ("kernel", None),
    "checksum": ("kernel", None),
    "version": ("kernel", None),
    "truncated": ("kernel", None),
    "unknown_vrid": ("kernel", None),
    "count_zero": ("kernel", None),
    "interval_zero": ("instance", "interval_zero"),
}


def drops(d: Vrrpd) -> tuple[dict[str, int], dict[str, int]]:
    status = d.status()
    return status["instances"][0]["counters"]["drops"], status["interfaces"][0]["drops"]


@pytest.mark.parametrize("family", SETUPS)
def test_9568_7_1_garbage_is_dropped_counted_and_changes_nothing_then_a_valid_advert_does(lab, family):
    a, d, rogue, vip, src = rogue_setup(lab, family)
    before = d.instance_status()
    inject(rogue, src, vip, *CASES)
    expected_instance = {reason: 3 for where, reason in CASES.values() if where == "instance"}
    expected_interface = {reason: 3 for where, reason in CASES.values() if where == "interface"}
    wait_for(
        lambda: drops(d) == (expected_instance, expected_interface),
        5,
        message=f"drop counters never matched: {drops(d)}",
    )
    after = d.instance_status()
    # Only interval_zero passes the kernel filter: it reaches the router's screen, never its state machine.
    assert after["counters"]["adverts_received"] == before["counters"]["adverts_received"]
    # Every rogue packet claimed priority 250 over our 200: any of them accepted would have made us step down.
    assert after["state"] == "MASTER" and after["counters"]["transitions"] == before["counters"]["transitions"]
    assert after["master_address"] == before["master_address"]
    assert vip_holders([a], vip) == ["a"]

    # Positive control: the same path with a valid advert (reserved bits set, which must be ignored) works.
    inject(rogue, src, vip, "reserved_bits", count=1)
    wait_for(lambda: d.state() == "BACKUP", 3, message="a valid higher-priority advert did not make us step down")
    assert d.instance_status()["master_address"] == src
    # The rogue goes quiet: we take over again after Master_Down_Interval (adopted from its 1 s interval).
    mdi = d.instance_status()["master_down_interval"]
    assert mdi == pytest.approx(3 + (256 - 200) / 256, abs=0.01)
    wait_for(lambda: d.state() == "MASTER", mdi + 2)


def test_9568_7_1_lower_priority_rogue_is_answered_with_an_advert_not_obeyed(lab):
    _, d, rogue, vip, src = rogue_setup(lab, "ipv4")
    sent = d.instance_status()["counters"]["adverts_sent"]
    rogue.run(
        [sys.executable, INJECT, "eth0", src, "51", vip.split("/")[0], "valid", "--count", "5", "--priority", "100"],
        timeout=60,
    )
    wait_for(lambda: d.instance_status()["counters"]["lower_priority_received"] == 5, 3)
    assert d.state() == "MASTER"
    assert d.instance_status()["counters"]["adverts_sent"] >= sent + 5  # RFC 9568 §6.4.3: one answer each


BAD_CONFIGS = {  # line numbers count from 1; the control_socket line comes last
    "priority": (
        "instances:\n  - name: v\n    interface: eth0\n    vrid: 51\n    priority: 300\n"
        "    virtual_addresses: [198.51.100.100/24]\n",
        "instances[0].priority",
        "line 5",
    ),
    "typo": (
        "instances:\n  - name: v\n    interface: eth0\n    vrid: 51\n    preemt: false\n"
        "    virtual_addresses: [198.51.100.100/24]\n",
        "preemt",
        "line 5",
    ),
    "vrid_clash": (
        "instances:\n  - name: v\n    interface: eth0\n    vrid: 51\n"
        "    virtual_addresses: [198.51.100.100/24]\n  - name: w\n    interface: eth0\n    vrid: 51\n"
        "    virtual_addresses: [198.51.100.101/24]\n",
        "instances[1].vrid",
        "line 8",
    ),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_bad_config_fails_check_and_run_with_one_sentence_and_applies_nothing(lab, case):
    text, key, line = BAD_CONFIGS[case]
    host = lab.add_host("a", ipv4="198.51.100.11/24")
    path = lab.workdir / f"bad-{case}.yaml"
    sock = lab.workdir / f"bad-{case}.sock"
    path.write_text(f"{text}control_socket: {sock}\n")
    for command in ("check", "run"):
        proc = host.run([sys.executable, "-m", "vrrpd.cli.daemon", command, "-c", str(path)], check=False, timeout=30)
        assert proc.returncode != 0, proc
        message = proc.stderr.strip().splitlines()[-1]
        assert str(path) in message and key in message and line in message, message
        assert message.count(". ") == 0, f"not one sentence: {message}"
    assert host.addresses() == ["198.51.100.11/24", host.addresses()[1]]  # only its own address and link-local
    assert not sock.exists()


def test_missing_interface_fails_start_cleanly(lab):
    host = lab.add_host("a", ipv4="198.51.100.11/24")
    d = Vrrpd(host, [instance(priority=200, interface="eth9")])
    d.start(wait=False)
    assert d.proc is not None
    assert d.proc.wait(15) == 1
    assert "eth9" in d.log() and "not found" in d.log()
    assert not d.socket.exists()


def test_lower_priority_advert_makes_the_master_reannounce_so_clients_recover(lab):
    """A router that sends a lower-priority advert thought it was master and may have taught clients its own
    MAC for the VIP; the real master answers with an advert and a GARP burst, so they recover at once."""
    vip = SETUPS["ipv4"]["vip"]
    a = lab.add_host("a", ipv4="198.51.100.11/24")
    rogue = lab.add_host("rogue", ipv4="198.51.100.66/24")
    client = lab.add_host("client", ipv4="198.51.100.50/24")
    # No second GARP burst after the takeover: the only GARP the client can see later is the re-announcement.
    garp = {"repeat_count": 0}
    d = Vrrpd(a, [instance(priority=200, addresses=[vip], advert_interval=0.1, garp=garp)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    src, address = "198.51.100.66", vip.split("/")[0]
    client.run(["ping", "-c", "1", "-W", "2", address])
    # What a brief second master would have left behind: the VIP at a MAC that is not the master's. A STALE
    # entry is not refreshed by time alone; only a GARP (or the client's next use) corrects it.
    client.run(["ip", "neigh", "replace", address, "lladdr", rogue.mac, "dev", "eth0", "nud", "stale"])
    rogue.run([sys.executable, INJECT, "eth0", src, "51", address, "valid", "--count", "1", "--priority", "100"])
    wait_for(lambda: neighbour(client, address) == a.mac, 3, message="client still points at the rogue's MAC")


def neighbour(host: Host, address: str) -> str | None:
    out = host.run(["ip", "neigh", "show", "to", address, "dev", "eth0"], check=False).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None
