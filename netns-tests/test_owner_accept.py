"""Accept_Mode (RFC 9568 §6.1, §6.4.3) and the address owner (priority 255, §5.2.4, §8.3.2) on a real kernel.

A non-owner master with accept_mode false drops packets addressed to its VIPs (nftables, `table inet vrrpd`) but
still resolves them (ARP, IPv6 NS/NA); accept_mode true and the owner accept. Two owners settle on one master and
both report the conflict.
"""

from __future__ import annotations

import ipaddress
import time

import pytest
from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, instance

FAMILIES = {
    "ipv4": {"vip": "198.51.100.100/24", "neigh": "net.ipv4.neigh.eth0"},
    "ipv6": {"vip": "2001:db8::100/64", "neigh": "net.ipv6.neigh.eth0"},
}


def add_host(lab: Lab, name: str, n: int) -> Host:
    return lab.add_host(name, ipv4=f"198.51.100.{n}/24", ipv6=f"2001:db8::{n}/64")


def pings(client: Host, vip: str) -> bool:
    return client.run(["ping", "-c", "1", "-W", "1", vip.split("/")[0]], check=False).returncode == 0


def neighbour_state(client: Host, vip: str) -> tuple[str | None, list[str]]:
    out = client.run(["ip", "neigh", "show", "to", vip.split("/")[0], "dev", "eth0"]).stdout.split()
    return (out[out.index("lladdr") + 1] if "lladdr" in out else None), out


def nft_tables(host: Host) -> str:
    return host.run(["nft", "list", "tables"]).stdout


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_6_1_accept_mode_false_non_owner_master_drops_vip_traffic_but_resolves(lab, family):
    vip = FAMILIES[family]["vip"]
    router, client = add_host(lab, "r", 11), add_host(lab, "client", 50)
    d = Vrrpd(router, [instance(priority=200, addresses=[vip], accept_mode=False)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    wait_for(lambda: vip.split("/")[0] in d.status()["firewall"]["blocked"], 3, message="VIP never blocked")
    assert d.instance_status()["accepts_traffic"] is False
    assert "table inet vrrpd" in nft_tables(router)
    assert not pings(client, vip)
    # Resolution still works (ARP is not IP; NS/NA are let through, §6.1): the client learned the router's MAC.
    assert neighbour_state(client, vip)[0] == router.mac
    # And a unicast neighbour probe addressed to the VIP itself is answered: a STALE entry in PROBE state can only
    # turn REACHABLE through a solicited reply (unsolicited announcements leave it STALE).
    client.run(["sysctl", "-qw", f"{FAMILIES[family]['neigh']}.delay_first_probe_time=0"])
    address = vip.split("/")[0]
    client.run(["ip", "neigh", "replace", address, "lladdr", router.mac, "nud", "stale", "dev", "eth0"])
    assert not pings(client, vip)
    wait_for(lambda: "REACHABLE" in neighbour_state(client, vip)[1], 5, message="unicast probe to the VIP unanswered")
    # Stopping removes the addresses, then the drop, then the table.
    assert d.stop() == 0
    assert "vrrpd" not in nft_tables(router)


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_6_1_accept_mode_true_accepts(lab, family):
    vip = FAMILIES[family]["vip"]
    router, client = add_host(lab, "r", 11), add_host(lab, "client", 50)
    d = Vrrpd(router, [instance(priority=200, addresses=[vip], accept_mode=True)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    assert pings(client, vip)
    status = d.status()
    assert status["firewall"]["enabled"] is False and status["firewall"]["blocked"] == []
    assert "vrrpd" not in nft_tables(router)


def test_9568_6_1_owner_always_accepts_even_without_accept_mode(lab):
    vip = FAMILIES["ipv4"]["vip"]
    router, client = add_host(lab, "r", 11), add_host(lab, "client", 50)
    # Explicitly false: the owner accepts anyway (RFC 9568 §6.1).
    d = Vrrpd(router, [instance(priority=255, addresses=[vip], accept_mode=False)]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    assert d.instance_status()["accepts_traffic"] is True
    assert pings(client, vip)


def test_9568_6_1_drop_follows_the_vip_on_failover(lab):
    vip = FAMILIES["ipv4"]["vip"]
    a, b, client = add_host(lab, "a", 11), add_host(lab, "b", 12), add_host(lab, "client", 50)
    da = Vrrpd(a, [instance(priority=200, addresses=[vip], accept_mode=False)]).start()
    db = Vrrpd(b, [instance(priority=100, addresses=[vip], accept_mode=False)]).start()
    wait_for(lambda: da.state() == "MASTER" and db.state() == "BACKUP", 5)
    assert db.status()["firewall"]["blocked"] == []  # a backup has neither the VIP nor its drop
    assert da.stop() == 0
    wait_for(lambda: db.state() == "MASTER", 5)
    wait_for(lambda: db.status()["firewall"]["blocked"] == ["198.51.100.100"], 3)
    assert not pings(client, vip)
    assert neighbour_state(client, vip)[0] == b.mac


@pytest.mark.parametrize("family", FAMILIES)
def test_9568_8_3_2_two_owners_settle_on_one_master_and_report_the_conflict(lab, family):
    vip = FAMILIES[family]["vip"]
    hosts = [add_host(lab, "a", 11), add_host(lab, "b", 12)]
    # Equal priority: the higher primary address (§6.4.3) keeps the role; IPv6 compares the link-locals.
    source = dict(zip(hosts, ("198.51.100.11", "198.51.100.12"), strict=True))
    if family == "ipv6":
        source = {h: h.link_local for h in hosts}
    high, low = sorted(hosts, key=lambda h: ipaddress.ip_address(source[h]), reverse=True)
    # The winner starts first, so that it also hears the other owner (which starts as master, §6.4.1).
    winner = Vrrpd(high, [instance(priority=255, addresses=[vip])]).start()
    wait_for(lambda: winner.state() == "MASTER", 5)
    loser = Vrrpd(low, [instance(priority=255, addresses=[vip])]).start()
    sources = {winner: source[high], loser: source[low]}
    wait_for(lambda: (winner.state(), loser.state()) == ("MASTER", "BACKUP"), 5, message="no single master")
    wait_for(lambda: winner.instance_status()["conflict"], 2, message="the winner never reported the conflict")
    both = (winner, loser)
    transitions = [d.instance_status()["counters"]["transitions"] for d in both]
    # Ten advert intervals in which nothing may change: no flapping.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert [d.instance_status()["counters"]["transitions"] for d in both] == transitions
    assert (winner.state(), loser.state()) == ("MASTER", "BACKUP")
    assert loser.instance_status()["conflict"] == f"another address owner {sources[winner]} (priority 255)"
    assert winner.instance_status()["conflict"] == f"another address owner {sources[loser]} (priority 255)"
    assert loser.instance_status()["counters"]["owner_conflicts"] >= 10  # it hears the winner every interval
    assert f"configuration error: {sources[winner]} also advertises priority 255" in loser.log()


def test_9568_1_2_owner_keeps_its_real_address_through_start_and_stop(lab):
    """The owner's virtual address is its own interface address (RFC 9568 §1.2, §6.4.1): vrrpd must neither
    remove it as a crash leftover at start-up nor take it away on shutdown; it is the only IPv4 address here."""
    router = lab.add_host("r", ipv4="198.51.100.100/24")
    client = add_host(lab, "client", 50)
    d = Vrrpd(router, [instance(priority=255, addresses=["198.51.100.100/24"])]).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    assert "kept as the owner's own address" in d.log()
    assert d.instance_status()["primary_address"] == "198.51.100.100"
    assert "198.51.100.100/24" in router.addresses()
    assert pings(client, "198.51.100.100/24")
    assert d.stop() == 0
    assert "198.51.100.100/24" in router.addresses()  # still the host's address after vrrpd is gone
