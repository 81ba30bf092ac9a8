"""VRRPv2 (RFC 3768) in practice: vrrpd `version: 2` next to keepalived 2.2.7 in its default `vrrp_version 2`.

VRRPv2 counts the advert interval in whole seconds, so every keepalived run here waits a real Master_Down_Interval
of 3 s + Skew_Time; the tests overlap what they can (two mismatch scenarios share one lab, roles are swapped with
SIGTERM, whose priority-0 advert hands over after Skew_Time instead of Master_Down_Interval).

keepalived facts relied on (2.2.7, checked here, log lines quoted exactly):
- `auth_pass` longer than 8 characters is cut to its first 8 with "Truncating auth_pass to 8 characters" and only
  those 8 bytes go on the wire; vrrpd's `authentication.password` takes at most 8 bytes, so a migrated config uses
  the first 8 characters and interoperates.
- Wrong password: "(VI_1) received an invalid passwd!"; wrong interval: "(VI_1) advertisement interval mismatch
  mine=2 sec rcv'd=1 sec" - it drops the advert in both cases (RFC 3768 §7.1), as vrrpd does (drop reasons 'auth'
  and 'interval'), so each side becomes Master.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab import Host, Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd, instance, vip_holders

INJECT = str(Path(__file__).parent / "helpers" / "inject.py")
VIP = "198.51.100.100/24"
LONG_PASSWORD = "longpassword"  # 12 characters; keepalived keeps "longpass"


def auth(password: str) -> list[str]:
    return ["authentication {", "    auth_type PASS", f"    auth_pass {password}", "}"]


def ka_v2(
    host: Host, priority: int, password: str | None, vrid: int = 51, advert_int: int = 1, **kw: Any
) -> Keepalived:
    extra = auth(password) if password is not None else []
    return Keepalived(
        host,
        vrid,
        priority,
        [kw.pop("vip", VIP)],
        advert_int=advert_int,
        version=2,
        extra_instance_config=extra,
        name=kw.pop("name", "VI_1"),
        **kw,
    )


def v2(priority: int, password: str | None, vrid: int = 51, interval: int = 1, **kw: Any) -> dict[str, Any]:
    extra: dict[str, Any] = {"version": 2}
    if password is not None:
        extra["authentication"] = {"type": "simple", "password": password}
    return instance(
        name=kw.pop("name", "v"),
        vrid=vrid,
        priority=priority,
        advert_interval=interval,
        addresses=[kw.pop("vip", VIP)],
        **extra,
        **kw,
    )


def mdi_v2(priority: int, interval: float = 1.0) -> float:
    # RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds, whatever the interval.
    return 3 * interval + (256 - priority) / 256


class Capture:
    """tshark in an observer namespace writing a pcap; fields() decodes it after stop()."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.pcap = host.lab.workdir / f"{host.name}.pcapng"
        self.err = host.lab.workdir / f"{host.name}.tshark.err"
        with self.err.open("w") as err:
            argv = ["tshark", "-i", "eth0", "-q", "-w", str(self.pcap), "-f", "ip proto 112"]
            self.proc = host.popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda: "Capturing on" in self.err.read_text(), 15, message="tshark never started capturing")

    def stop(self) -> None:
        self.host.stop(self.proc)

    def fields(self, *names: str) -> list[tuple[str, ...]]:
        argv = ["tshark", "-r", str(self.pcap), "-T", "fields", "-E", "separator=|"]
        argv += [arg for name in names for arg in ("-e", name)]
        return [tuple(line.split("|")) for line in self.host.run(argv, timeout=30).stdout.splitlines() if line]


def test_3768_vrrpd_v2_and_keepalived_v2_simple_password_first_8_bytes_both_roles(lab):
    ours = lab.add_host("ours", ipv4="198.51.100.11/24")
    theirs = lab.add_host("ka", ipv4="198.51.100.12/24")
    cap = Capture(lab.add_host("o", ipv4="198.51.100.13/24"))
    hosts = [ours, theirs]
    # keepalived gets the long password, we get its first 8 characters (all our config allows).
    ka = ka_v2(theirs, 100, LONG_PASSWORD).start()
    wait_for(lambda: ka.state() == "MASTER", mdi_v2(100) + 2, message="keepalived alone never became master")
    assert "Truncating auth_pass to 8 characters" in ka.log()

    # We (200) preempt keepalived (100): it must accept our v2 advert, password included, and back off.
    d = Vrrpd(ours, [v2(200, LONG_PASSWORD[:8])]).start()
    wait_for(lambda: (d.state(), ka.state()) == ("MASTER", "BACKUP"), mdi_v2(200) + 2, message=ka.log()[-2000:])
    assert "Master received advert from 198.51.100.11 with higher priority 200, ours 100" in ka.log()
    wait_for(lambda: vip_holders(hosts, VIP) == ["ours"], 3)
    status = d.instance_status()
    assert (status["version"], status["counters"]["drops"]) == (2, {})
    assert status["master_down_interval"] == pytest.approx(mdi_v2(200))

    # SIGTERM: our priority-0 advert hands over to keepalived after its v2 Skew_Time (0.61 s), not its MDI.
    stopped = time.monotonic()
    assert d.stop() == 0
    wait_for(lambda: ka.state() == "MASTER", 3)
    assert time.monotonic() - stopped < mdi_v2(100) - 1

    # We come back below keepalived (priority 50): a Backup that follows keepalived's v2 adverts.
    d = Vrrpd(ours, [v2(50, LONG_PASSWORD[:8])]).start()

    def follows() -> bool:
        s = d.instance_status()
        return (
            s["state"] == "BACKUP" and s["master_address"] == "198.51.100.12" and s["counters"]["adverts_received"] >= 2
        )

    wait_for(follows, 4, message="vrrpd v2 backup never heard keepalived")
    status = d.instance_status()
    assert status["counters"]["drops"] == {} and status["master_priority"] == 100
    assert status["skew_time"] == pytest.approx((256 - 50) / 256)
    stopped = time.monotonic()
    assert ka.stop() == 0  # keepalived's priority 0: we take over after our Skew_Time (0.80 s)
    wait_for(lambda: d.state() == "MASTER", 3)
    assert time.monotonic() - stopped < mdi_v2(50) - 1
    wait_for(lambda: vip_holders(hosts, VIP) == ["ours"], 3)

    # On the wire both sent VRRPv2, auth type 1 with the same 8-byte string, 1 s, checksum good.
    cap.stop()
    rows = set(
        cap.fields(
            "ip.src", "vrrp.version", "vrrp.auth_type", "vrrp.auth_string", "vrrp.adver_int", "vrrp.checksum.status"
        )
    )
    sources = {row[0] for row in rows}
    assert sources == {"198.51.100.11", "198.51.100.12"}
    assert {row[1:] for row in rows} == {("2", "1", "longpass", "1", "1")}, rows


@dataclass
class Mismatch:
    d: Vrrpd
    kas: dict[str, Keepalived]


@pytest.fixture(scope="module")
def mismatch(request: pytest.FixtureRequest) -> Iterator[Mismatch]:
    """Two mismatched pairs at once (they are independent VRIDs): VRID 51 with different passwords, VRID 52 with
    different intervals. Everyone starts together; each side drops the other's adverts, so all four end Master."""
    lab = Lab()
    failed = request.session.testsfailed
    try:
        ours = lab.add_host("ours", ipv4="198.51.100.11/24")
        theirs = lab.add_host("ka", ipv4="198.51.100.12/24")
        kas = {
            "auth": ka_v2(theirs, 100, "secret-A", name="VI_1"),
            "interval": ka_v2(theirs, 100, None, vrid=52, advert_int=2, vip="198.51.100.102/24", name="VI_2"),
        }
        d = Vrrpd(
            ours, [v2(200, "secret-B", name="auth"), v2(200, None, vrid=52, vip="198.51.100.102/24", name="interval")]
        )
        for ka in kas.values():
            ka.start()
        d.start()

        def all_master() -> bool:
            return all(ka.state() == "MASTER" for ka in kas.values()) and all(d.state(name) == "MASTER" for name in kas)

        wait_for(all_master, mdi_v2(100, 2) + 3, message="not everyone became master")
        # Each Master has now sent at least one advert the other side dropped.
        wait_for(lambda: all(d.instance_status(n)["counters"]["drops"].get(n, 0) >= 1 for n in kas), 3)
        yield Mismatch(d, kas)
    finally:
        if request.session.testsfailed > failed:
            print(lab.dump_logs())
        lab.close()


def test_3768_7_1_password_mismatch_each_drops_the_other_two_masters(mismatch):
    status = mismatch.d.instance_status("auth")
    assert status["state"] == "MASTER" and status["master_address"] == status["primary_address"]
    assert set(status["counters"]["drops"]) == {"auth"}
    assert "(VI_1) received an invalid passwd!" in mismatch.kas["auth"].log()


def test_3768_7_1_interval_mismatch_each_drops_the_other_two_masters(mismatch):
    status = mismatch.d.instance_status("interval")
    assert status["state"] == "MASTER" and status["master_address"] == status["primary_address"]
    assert set(status["counters"]["drops"]) == {"interval"}
    assert "(VI_2) advertisement interval mismatch mine=2 sec rcv'd=1 sec" in mismatch.kas["interval"].log()


# --- address list (RFC 3768 §7.1: MUST drop unless the sender is the owner) --------------------------------------


def inject_v2(rogue: Host, vip: str, priority: int, count: int = 3) -> None:
    argv = [
        sys.executable,
        INJECT,
        "eth0",
        "198.51.100.66",
        "51",
        vip,
        "v2",
        "--count",
        str(count),
        "--priority",
        str(priority),
        "--password",
        "secret",
    ]
    rogue.run(argv, timeout=60)


def v2_target(lab: Lab) -> tuple[Vrrpd, Host]:
    a = lab.add_host("a", ipv4="198.51.100.11/24")
    rogue = lab.add_host("rogue", ipv4="198.51.100.66/24")
    # A Backup for its first 3.2 s: enough to see whether an advert is accepted (it would set the master).
    d = Vrrpd(a, [v2(200, "secret")]).start()
    return d, rogue


def test_3768_7_1_address_list_mismatch_from_a_non_owner_is_dropped(lab):
    d, rogue = v2_target(lab)
    inject_v2(rogue, "198.51.100.199", priority=250)
    wait_for(lambda: d.instance_status()["counters"]["address_mismatches"] == 3, 3)
    status = d.instance_status()
    assert status["master_address"] is None and status["state"] == "BACKUP", status
    assert sum(status["counters"]["drops"].values()) == 3


def test_3768_7_1_address_list_mismatch_from_the_owner_is_processed(lab):
    d, rogue = v2_target(lab)
    inject_v2(rogue, "198.51.100.199", priority=255)
    wait_for(lambda: d.instance_status()["master_address"] == "198.51.100.66", 3)
    status = d.instance_status()
    assert status["master_priority"] == 255 and status["counters"]["drops"] == {}
    assert status["counters"]["address_mismatches"] == 3  # logged all the same


# --- rolling migration -----------------------------------------------------------------------------------------

PASSWORD = "migrate1"
CLUSTER = {"a": ("198.51.100.11", 200), "b": ("198.51.100.12", 150), "c": ("198.51.100.13", 100)}


class Cluster:
    def __init__(self, lab: Lab) -> None:
        self.hosts = {name: lab.add_host(name, ipv4=f"{ip}/24") for name, (ip, _) in CLUSTER.items()}
        self.client = lab.add_host("client", ipv4="198.51.100.50/24")
        self.daemons: dict[str, Keepalived | Vrrpd] = {
            name: ka_v2(self.hosts[name], prio, PASSWORD) for name, (_, prio) in CLUSTER.items()
        }

    def running(self) -> dict[str, Keepalived | Vrrpd]:
        return {
            name: daemon
            for name, daemon in self.daemons.items()
            if (
                daemon.running
                if isinstance(daemon, Keepalived)
                else daemon.proc is not None and daemon.proc.poll() is None
            )
        }

    def masters(self) -> list[str]:
        return sorted(name for name, daemon in self.running().items() if daemon.state() == "MASTER")

    def holders(self) -> list[str]:
        return sorted(vip_holders(list(self.hosts.values()), VIP))

    def reachable_at(self, name: str) -> bool:
        """The client reaches the VIP, and its ARP entry for it points at `name`."""
        ping = self.client.run(["ping", "-c", "1", "-W", "1", VIP.split("/")[0]], check=False)
        if ping.returncode != 0:
            return False
        neigh = self.client.run(["ip", "neigh", "show", VIP.split("/")[0], "dev", "eth0"]).stdout.split()
        return "lladdr" in neigh and neigh[neigh.index("lladdr") + 1] == self.hosts[name].mac

    def one_master(self, name: str, timeout: float) -> None:
        """Exactly one master across all running daemons, the VIP on that host only, and reachable there."""
        wait_for(lambda: self.masters() == [name], timeout, message=f"masters {self.masters()}, wanted [{name}]")
        wait_for(lambda: self.holders() == [name], 3, message=f"VIP on {self.holders()}, wanted [{name}]")
        wait_for(lambda: self.reachable_at(name), 5, message=f"client cannot reach the VIP at {name}")
        assert self.masters() == [name] and self.holders() == [name]

    def replace(self, name: str) -> Vrrpd:
        """Stop keepalived on `name` (SIGTERM, as the service manager does) and start vrrpd with the same VRRP
        settings. accept_mode: true keeps keepalived's (non-strict) behaviour of answering on the VIP."""
        old = self.daemons[name]
        assert isinstance(old, Keepalived) and old.stop() == 0
        new = Vrrpd(self.hosts[name], [v2(CLUSTER[name][1], PASSWORD, accept_mode=True)]).start()
        self.daemons[name] = new
        return new


def test_3768_rolling_migration_keepalived_v2_cluster_to_vrrpd_lowest_priority_first(lab):
    # Order: backups first, lowest priority first, the master last. Replacing a Backup moves nothing (it only
    # listens), each new vrrpd proves it hears the keepalived master before the next step, and the VIP moves only
    # at the last step: to the next-highest node on the old master's priority-0 advert, and back on preemption.
    cluster = Cluster(lab)
    for daemon in cluster.daemons.values():
        daemon.start()
    cluster.one_master("a", mdi_v2(200) + 3)

    for name in ("c", "b"):
        new = cluster.replace(name)

        def hears_a(new: Vrrpd = new) -> bool:
            s = new.instance_status()
            return (
                s["state"] == "BACKUP"
                and s["master_address"] == CLUSTER["a"][0]
                and s["counters"]["adverts_received"] >= 1
            )

        wait_for(hears_a, 3, message=f"vrrpd on {name} does not follow keepalived on a")
        assert new.instance_status()["counters"]["drops"] == {}
        cluster.one_master("a", 1)

    # The master: keepalived's priority-0 advert hands over to b (vrrpd, 150) after its Skew_Time...
    cluster.replace("a")
    cluster.one_master("b", 3)
    # ...and vrrpd on a (200) preempts it after its Master_Down_Interval: every node runs vrrpd now.
    cluster.one_master("a", mdi_v2(200) + 3)
    assert all(isinstance(d, Vrrpd) for d in cluster.daemons.values())
    for name in ("b", "c"):
        s = cluster.daemons[name].instance_status()
        assert s["state"] == "BACKUP" and s["master_address"] == CLUSTER["a"][0] and s["counters"]["drops"] == {}
