"""Virtual MAC (`virtual_mac: true`, RFC 9568 §7.3): the VIPs live on a bridge-mode macvlan with the virtual router
MAC, adverts and announcements carry that MAC, and a client's neighbour entry survives failover unchanged.

Also: the Backup keeps its macvlan in protodown, and the daemon puts everything back on exit (macvlan, sysctls),
including after kill -9 (the restart removes the stale macvlan and still knows the original sysctl values).
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from lab import Host, Lab, wait_for
from vrrpd_runner import Vrrpd, instance

VRID = 51
SETUPS = {
    "ipv4": {"vip": "198.51.100.100/24", "vmac": "00:00:5e:00:01:33", "macvlan": "vrrp4-51"},
    "ipv6": {"vip": "2001:db8::100/64", "vmac": "00:00:5e:00:02:33", "macvlan": "vrrp6-51"},
}
ARP_SYSCTLS = ("arp_ignore", "arp_announce")


def routers(lab: Lab, family: str, priorities=(200, 100)) -> tuple[list[Host], list[Vrrpd]]:
    vip = SETUPS[family]["vip"]
    hosts, daemons = [], []
    for i, priority in enumerate(priorities):
        host = lab.add_host("ab"[i], ipv4=f"198.51.100.{11 + i}/24", ipv6=f"2001:db8::{11 + i}/64")
        inst = instance(vrid=VRID, priority=priority, addresses=[vip], virtual_mac=True)
        hosts.append(host)
        # asyncio debug mode reports any callback holding the loop > 100 ms (macvlan set-up, protodown, nft).
        daemons.append(Vrrpd(host, [inst]).start(env={"PYTHONASYNCIODEBUG": "1"}))
    wait_for(lambda: daemons[0].state() == "MASTER", 5, message="a never became master")
    wait_for(lambda: daemons[1].state() == "BACKUP", 2, message="b is not backup")
    return hosts, daemons


def link(host: Host, dev: str) -> dict | None:
    cp = host.run(["ip", "-j", "-d", "link", "show", "dev", dev], check=False)
    return json.loads(cp.stdout)[0] if cp.returncode == 0 else None


def addresses_on(host: Host, dev: str) -> list[str]:
    """Global addresses on `dev` (a macvlan always has a link-local of its own)."""
    cp = host.run(["ip", "-j", "addr", "show", "dev", dev, "scope", "global"], check=False)
    if cp.returncode != 0:
        return []
    infos = [info for entry in json.loads(cp.stdout) for info in entry.get("addr_info", [])]
    return [f"{a['local']}/{a['prefixlen']}" for a in infos if "local" in a]


def sysctl(host: Host, dev: str, name: str) -> str:
    return host.run(["cat", f"/proc/sys/net/ipv4/conf/{dev}/{name}"]).stdout.strip()


def neighbour(host: Host, address: str) -> str | None:
    out = host.run(["ip", "neigh", "show", "to", address.split("/")[0], "dev", "eth0"], check=False).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def capture_adverts(host: Host, seconds: float, family: str) -> list[list[str]]:
    ip = "ip" if family == "ipv4" else "ipv6"
    bpf = "ip proto 112" if family == "ipv4" else "ip6 proto 112"
    argv = ["tshark", "-i", "eth0", "-a", f"duration:{seconds:g}", "-f", bpf]
    argv += ["-T", "fields", "-E", "separator=|", "-e", "eth.src", "-e", f"{ip}.src", "-e", "vrrp.prio"]
    out = host.run(argv, timeout=seconds + 20).stdout
    return [line.split("|") for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("family", SETUPS)
def test_9568_7_3_adverts_and_neighbour_entries_use_the_virtual_mac_across_failover(lab, family):
    setup = SETUPS[family]
    vip, vmac, macvlan = setup["vip"], setup["vmac"], setup["macvlan"]
    address = vip.split("/")[0]
    hosts, (a, b) = routers(lab, family)
    client = lab.add_host("client", ipv4="198.51.100.50/24", ipv6="2001:db8::50/64")

    # The VIP is on the master's macvlan, never on a parent; the backup's macvlan is protodown (FRR's model).
    wait_for(lambda: vip in addresses_on(hosts[0], macvlan), 3, message="VIP not on a's macvlan")
    assert vip not in hosts[0].addresses() and vip not in hosts[1].addresses()
    assert vip not in addresses_on(hosts[1], macvlan)
    la, lb = link(hosts[0], macvlan), link(hosts[1], macvlan)
    assert la and lb and la["address"] == lb["address"] == vmac
    assert la["linkinfo"]["info_kind"] == "macvlan" and la["linkinfo"]["info_data"]["mode"] == "bridge"
    assert not la.get("proto_down") and lb.get("proto_down") is True
    status = a.instance_status()
    assert status["virtual_mac"] == {"mac": vmac, "interface": macvlan, "running": True}

    # §7.2: source MAC = virtual MAC; source IP = primary IPv4 of the parent / the macvlan's own link-local.
    rows = capture_adverts(client, 1.0, family)
    assert len(rows) >= 5, rows
    expected_src = "198.51.100.11" if family == "ipv4" else status["primary_address"]
    if family == "ipv6":
        assert expected_src != hosts[0].link_local  # addrgenmode random: not the parent's EUI-64 address
    assert {tuple(r) for r in rows} == {(vmac, expected_src, "200")}

    client.run(["ping", "-c", "1", "-W", "2", address])
    assert neighbour(client, address) == vmac

    # Watch every neighbour update on the client while the master dies: the entry must never change MAC.
    monitor = client.popen(["ip", "monitor", "neigh"], stdout=subprocess.PIPE, text=True)
    try:
        a.crash()
        hosts[0].link_set(False)  # a dead host: its leftover macvlan must not keep answering for the VIP
        wait_for(lambda: b.state() == "MASTER", 5, message="b did not take over")
        wait_for(lambda: vip in addresses_on(hosts[1], macvlan), 3, message="VIP not on b's macvlan")
        assert not link(hosts[1], macvlan).get("proto_down")
        client.run(["ping", "-c", "1", "-W", "2", address])
        assert neighbour(client, address) == vmac
    finally:
        client.stop(monitor, signal.SIGTERM)
    updates = [line for line in monitor.stdout.read().splitlines() if address in line and "lladdr" in line]
    assert all(f"lladdr {vmac}" in line for line in updates), updates

    # b's adverts now carry the same virtual MAC.
    rows = capture_adverts(client, 0.6, family)
    assert rows and {r[0] for r in rows} == {vmac} and {r[2] for r in rows} == {"100"}
    assert "asyncio debug mode is on" in b.log()
    assert " took " not in b.log(), [line for line in b.log().splitlines() if " took " in line]


def test_sigterm_removes_the_macvlan_and_restores_sysctls(lab):
    host = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    host.run(
        [
            "sh",
            "-c",
            "echo 0 > /proc/sys/net/ipv4/conf/eth0/arp_ignore; echo 1 > /proc/sys/net/ipv4/conf/eth0/arp_announce",
        ]
    )
    insts = [
        instance(name="v4", vrid=VRID, priority=200, addresses=[SETUPS["ipv4"]["vip"]], virtual_mac=True),
        instance(name="v6", vrid=VRID, priority=200, addresses=[SETUPS["ipv6"]["vip"]], virtual_mac=True),
    ]
    d = Vrrpd(host, insts).start()
    wait_for(lambda: d.state("v4") == "MASTER" and d.state("v6") == "MASTER", 5)
    assert [sysctl(host, "eth0", k) for k in ARP_SYSCTLS] == ["1", "2"]
    assert link(host, "vrrp4-51") and link(host, "vrrp6-51")
    assert set(d.status()["sysctls"]) == {"net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.eth0.arp_announce"}
    assert d.stop() == 0
    assert link(host, "vrrp4-51") is None and link(host, "vrrp6-51") is None
    assert [sysctl(host, "eth0", k) for k in ARP_SYSCTLS] == ["0", "1"]
    assert not list(d.dir.glob("*.sysctl-restore.json"))


def test_restart_after_kill_9_replaces_the_stale_macvlan_and_still_restores_sysctls(lab):
    host = lab.add_host("a", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    vip = SETUPS["ipv4"]["vip"]
    insts = [instance(vrid=VRID, priority=200, addresses=[vip], virtual_mac=True)]
    d = Vrrpd(host, insts).start()
    wait_for(lambda: d.state() == "MASTER", 5)
    stale = link(host, "vrrp4-51")
    d.crash()
    assert link(host, "vrrp4-51")["ifindex"] == stale["ifindex"]  # left behind, VIP and all
    assert sysctl(host, "eth0", "arp_ignore") == "1"

    restarted = d.start()  # same configuration, control socket and state directory, as systemd would restart it
    wait_for(lambda: restarted.state() == "MASTER", 5)
    fresh = link(host, "vrrp4-51")
    assert fresh["ifindex"] != stale["ifindex"] and fresh["address"] == SETUPS["ipv4"]["vmac"]
    assert "removing macvlan vrrp4-51 left on eth0" in restarted.log()
    assert "a previous run did not restore net.ipv4.conf.eth0.arp_ignore=0" in restarted.log()
    wait_for(lambda: addresses_on(host, "vrrp4-51") == [vip], 3, message="VIP not on the new macvlan alone")
    assert restarted.stop() == 0
    assert link(host, "vrrp4-51") is None
    # The crashed run's original values (0, 0), not the 1 and 2 the restart found.
    assert [sysctl(host, "eth0", k) for k in ARP_SYSCTLS] == ["0", "0"]


@pytest.mark.parametrize("family", SETUPS)
def test_9568_7_3_virtual_mac_interop_with_frr_the_client_never_sees_a_mac_change(lab, family):
    """FRR always uses the virtual MAC (a bridge-mode macvlan, protodown while Backup). With `virtual_mac: true`
    we do the same, so whichever of the two is master, the client's neighbour entry for the VIP is the
    RFC 9568 §7.3 MAC: a failover between implementations is invisible to it."""
    from frr import Frr

    vip, vmac = SETUPS[family]["vip"], SETUPS[family]["vmac"]
    ours = lab.add_host("ours", ipv4="198.51.100.11/24", ipv6="2001:db8::11/64")
    theirs = lab.add_host("frr", ipv4="198.51.100.12/24", ipv6="2001:db8::12/64")
    client = lab.add_host("client", ipv4="198.51.100.50/24", ipv6="2001:db8::50/64")
    frr = Frr(theirs, VRID, 100, [vip], 0.1)
    frr.start()
    d = Vrrpd(ours, [instance(vrid=VRID, priority=200, addresses=[vip], virtual_mac=True)]).start()
    fam = 4 if family == "ipv4" else 6
    wait_for(lambda: (d.state(), frr.state(fam)) == ("MASTER", "BACKUP"), 5, message=f"no agreement:\n{frr.log()}")
    address = vip.split("/")[0]
    client.run(["ping", "-c", "1", "-W", "2", address])
    assert neighbour(client, address) == vmac

    d.crash()  # our macvlan stays behind after kill -9, but nothing sends from it any more
    wait_for(lambda: frr.state(fam) == "MASTER", 5, message="FRR did not take over")
    client.run(["ping", "-c", "1", "-W", "2", address])
    assert neighbour(client, address) == vmac  # the same MAC, now answered by FRR

    restarted = Vrrpd(ours, d.instances).start()  # removes the stale macvlan, then preempts FRR back
    wait_for(lambda: (restarted.state(), frr.state(fam)) == ("MASTER", "BACKUP"), 5, message="no preemption back")
    client.run(["ping", "-c", "1", "-W", "2", address])
    assert neighbour(client, address) == vmac
    assert restarted.instance_status()["counters"]["drops"] == {}
