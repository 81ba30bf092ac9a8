"""Live reload on a real kernel (issue #11), the keys that make an instance another virtual router: `interface`,
`vrid`, the address family of `virtual_addresses`, `version`, `virtual_mac`, owner status (priority to or from 255),
multicast to unicast and `unicast_source` (docs/reload.md, "Instance keys"). `vrrpctl reload` re-creates such an
instance: the old router stops as at shutdown (a Master sends priority 0, RFC 9568 §6.4.3; its VIP is removed; its
`on_stop` hook runs) and the new one starts as at start-up (§6.4.1: Backup, then Master once Master_Down_Interval
runs out with nobody else advertising; Master at once as the address owner). A sync group whose members change is
re-created with all of them; one whose trackers and hooks alone change keeps its members running.

Host a runs the instance re-created; an unchanged neighbour runs on a (master) and b (backup) beside it and must
not notice (no transition, no priority 0, b never advertises). An observer records every IPv4 advert on the segment
(helpers/advert_sniffer.py, kernel timestamps); `ip monitor address` in a's namespace records the VIP's removal
and addition in the order the kernel saw them.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from lab import Host, Lab, wait_for
from reload_lab import A_IP, B_IP, OBS_IP, Observer, config, reload, write_file
from vrrpd_runner import Vrrpd, flag_script, instance

R_VIP, R_VIP6, N_VIP = "198.51.100.101/24", "2001:db8::101/64", "198.51.100.102/24"
ALT_SRC = "198.51.100.21"
"""A second address of a's eth0, the `unicast_source` a reload moves r's adverts to. In the primary's subnet on
purpose: the local route of such a secondary address has the primary as its preferred source, which
vrrpd.net.unicast.is_local once took for "not an address of this host", refusing it in the reload preflight."""
ETH1_IP = "203.0.113.11/24"
VMAC = "00:00:5e:00:01:33"  # RFC 9568 §7.3: 00-00-5E-00-01-{VRID}, VRID 51
SH = shutil.which("sh") or "/bin/sh"
# One line per hook run: which hook, and the transition it was run for.
RECORD = 'echo "$VRRPD_HOOK $VRRPD_OLD_STATE $VRRPD_STATE" >> "$0"'


def routers(lab: Lab) -> tuple[Host, Host, Host]:
    """a and b (the routers) and an observer that only listens; IPv6 too, for the family change."""
    return (
        lab.add_host("a", ipv4=f"{A_IP}/24", ipv6="2001:db8::11/64"),
        lab.add_host("b", ipv4=f"{B_IP}/24", ipv6="2001:db8::12/64"),
        lab.add_host("obs", ipv4=f"{OBS_IP}/24", ipv6="2001:db8::50/64"),
    )


def hooks(out: Path) -> dict[str, Any]:
    hook = [SH, "-c", RECORD, str(out)]
    return {"on_master": hook, "on_backup": hook, "on_fault": hook, "on_stop": hook, "timeout": 5}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def neighbour(priority: int) -> dict[str, Any]:
    # 0.1 s: b's Master_Down_Interval is 0.36 s, so the neighbour's master missing a beat or two shows on the wire.
    return instance("n", vrid=52, priority=priority, addresses=[N_VIP], advert_interval=0.1)


class AddressMonitor:
    """`ip -o monitor address` in a host's namespace: every address added or deleted there, in the kernel's order."""

    def __init__(self, host: Host) -> None:
        self.path = host.lab.workdir / f"addr-monitor-{host.name}.txt"
        with self.path.open("wb") as out:
            self.proc = host.popen(["ip", "-o", "monitor", "address"], stdout=out, stderr=subprocess.STDOUT)
        # No "ready" line to wait for: an address added after the start shows up once the monitor listens.
        probe = "203.0.113.250/32"
        wait_for(lambda: self._probe(host, probe), 5, interval=0.2, message="ip monitor never reported")
        self.skip = len(lines(self.path))

    def _probe(self, host: Host, probe: str) -> bool:
        host.run(["ip", "addr", "replace", probe, "dev", "lo"])
        if probe in self.path.read_text():
            host.run(["ip", "addr", "del", probe, "dev", "lo"])
            return True
        host.run(["ip", "addr", "del", probe, "dev", "lo"])
        return False

    def events(self, *vips: str) -> list[tuple[str, str, str]]:
        """(add|del, device, address) for `vips`, since the monitor was ready."""
        out = []
        for line in lines(self.path)[self.skip :]:
            words = line.split()
            deleted = words[0] == "Deleted"
            words = words[1:] if deleted else words
            # "2: eth0    inet 198.51.100.101/24 scope global secondary eth0\ ..."
            if len(words) > 3 and words[3] in vips:
                out.append(("del" if deleted else "add", words[1].split("@")[0], words[3]))
        return out


@dataclass(frozen=True)
class Recreated:
    """One key's case: r's keys before and after, where its VIP ends, and what its new router's adverts look like
    on the observer's wire (None: not there, another link or IPv6)."""

    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    vip_at: tuple[str, str] = ("eth0", R_VIP)
    new_wire: dict[str, Any] | None = field(default_factory=dict)
    old_wire: dict[str, Any] = field(default_factory=dict)


CASES = {
    # Another link: the VIP leaves eth0 for eth1, where the new router advertises (not on the observer's segment).
    "interface": Recreated(after={"interface": "eth1"}, vip_at=("eth1", R_VIP), new_wire=None),
    "vrid": Recreated(after={"vrid": 61}, new_wire={"vrid": 61}),
    # IPv4 to IPv6: the new router advertises over IPv6 (the observer records IPv4 only).
    "family": Recreated(after={"virtual_addresses": [R_VIP6]}, vip_at=("eth0", R_VIP6), new_wire=None),
    # VRRPv2 (RFC 3768) needs a whole-second interval: r advertises every second in every case.
    "version": Recreated(after={"version": 2}, new_wire={"version": 2}),
    # RFC 9568 §7.3: the VIP lives on a macvlan with the virtual MAC, which the adverts then come from.
    "virtual_mac": Recreated(after={"virtual_mac": True}, vip_at=("vrrp4-51", R_VIP), new_wire={"eth_src": VMAC}),
    # §6.4.1: the address owner starts as Master at once; no longer the owner, it starts in Backup.
    "owner": Recreated(after={"priority": 255}, new_wire={"priority": 255}),
    "owner_no_more": Recreated(before={"priority": 255}, old_wire={"priority": 255}),
    # The observer is the unicast peer: it is the one host the bridge sends a's unicast adverts to.
    "unicast": Recreated(after={"unicast_peers": [OBS_IP]}, new_wire={"dst": OBS_IP}),
    "unicast_source": Recreated(
        before={"unicast_peers": [OBS_IP]},
        after={"unicast_peers": [OBS_IP], "unicast_source": ALT_SRC},
        old_wire={"dst": OBS_IP},
        new_wire={"dst": OBS_IP, "src": ALT_SRC},
    ),
}


def r(out: Path, keys: dict[str, Any]) -> dict[str, Any]:
    """The instance re-created: VRID 51 at priority 200, every second, with hooks recording into `out`."""
    return instance(
        **{
            "name": "r",
            "vrid": 51,
            "priority": 200,
            "addresses": [R_VIP],
            "advert_interval": 1.0,
            "notify": hooks(out),
            **keys,
        }
    )


def start_up(owner: bool) -> list[str]:
    """The hooks of a router starting (RFC 9568 §6.4.1): the owner goes to Master at once, any other to Backup, and
    here (nobody else runs r) to Master once Master_Down_Interval runs out."""
    if owner:
        return ["on_master INITIALIZE MASTER"]
    return ["on_backup INITIALIZE BACKUP", "on_master BACKUP MASTER"]


def matches(advert: dict[str, Any], expected: dict[str, Any]) -> bool:
    return all(advert[k] == v for k, v in expected.items())


@pytest.mark.parametrize("key", list(CASES))
def test_a_key_that_makes_another_router_re_creates_the_instance_as_shutdown_then_start_up(lab, key):
    """Rows `interface`, `vrid`, `virtual_addresses` (family), `version`, `virtual_mac`, `priority` (owner, both
    ways), `unicast_peers` (multicast to unicast), `unicast_source`: the old router's last advert is priority 0
    (RFC 9568 §6.4.3), its VIP is removed and its on_stop runs, then the new router starts as at start-up (§6.4.1):
    in Backup for a Master_Down_Interval (§6.4.2) before it takes the VIP and advertises as the new file says, or
    as Master at once if it is the address owner. The neighbour beside it never notices."""
    case = CASES[key]
    a, b, obs = routers(lab)
    out = lab.workdir / "r-hooks"
    if key == "interface":
        # A second link of a's own, where the reload moves r: a veth pair inside a's namespace (no dummy module
        # on every kernel), so nobody else is on it.
        a.run(["ip", "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"])
        a.run(["ip", "addr", "add", ETH1_IP, "dev", "eth1"])
        a.run(["ip", "link", "set", "eth1p", "up"])
        a.run(["ip", "link", "set", "eth1", "up"])
    if key == "unicast_source":
        a.run(["ip", "addr", "add", f"{ALT_SRC}/24", "dev", "eth0"])
    da = Vrrpd(a, [r(out, case.before), neighbour(200)]).start()
    db = Vrrpd(b, [neighbour(100)]).start()
    observer = Observer(obs)
    wait_for(lambda: (da.state("r"), da.state("n")) == ("MASTER", "MASTER"), 10, message="a never became master")
    wait_for(lambda: db.instance_status("n")["master_priority"] == 200, 5, message="b never heard a's n")
    wait_for(lambda: R_VIP in a.addresses(), 3, message="r's VIP never came up on a")
    first = start_up(owner=case.before.get("priority") == 255)
    wait_for(lambda: lines(out) == first, 5, message=f"r's start-up hooks did not run: {lines(out)}")
    old_wire = {"vrid": 51, "version": 3, "src": A_IP, "dst": "224.0.0.18", "eth_src": a.mac, **case.old_wire}
    wait_for(lambda: observer.adverts(A_IP, 51), 3, message="r never advertised")
    n_before = {d.host.name: d.instance_status("n")["counters"]["transitions"] for d in (da, db)}
    monitor = AddressMonitor(a)

    reloading = time.monotonic()
    write_file(da, [r(out, case.after), neighbour(200)])
    assert reload(da) == "1 unchanged, 1 changed, 0 added, 0 removed"
    assert config(da)["last_reload"]["changed"] == ["r"]

    # The new router: the file's identity, Master again (after Master_Down_Interval unless the owner), its VIP up.
    new = da.instance_status("r")
    identity = {"interface": "eth0", "vrid": 51, "version": 3, "family": "IPv4", "priority": 200}
    identity |= {k: v for k, v in case.after.items() if k in identity}
    identity |= {"family": "IPv6"} if key == "family" else {}
    assert {k: new[k] for k in identity} == identity
    wait_for(lambda: da.state("r") == "MASTER", new["master_down_interval"] + 5, message="the new r never led")
    dev, vip = case.vip_at
    vip_on_dev = ["ip", "-j", "addr", "show", "dev", dev]
    wait_for(lambda: vip.split("/")[0] in a.run(vip_on_dev).stdout, 3, message=f"{vip} never came up on {dev}")
    if case.vip_at != ("eth0", R_VIP):
        assert R_VIP not in a.addresses(), "the old router's VIP is still on eth0"

    # Shutdown, then start-up: the VIP deleted from where it was before it is added where the new router has it ...
    wait_for(lambda: len(monitor.events(R_VIP, vip)) >= 2, 3, message="ip monitor saw no removal and addition")
    assert monitor.events(R_VIP, vip) == [("del", "eth0", R_VIP), ("add", dev, vip)]
    # ... and the hooks: on_stop for the old router, then the new one's as at start-up.
    started = start_up(owner=case.after.get("priority") == 255)
    wait_for(lambda: len(lines(out)) >= len(first) + 1 + len(started), 5, message=f"hooks missing: {lines(out)}")
    assert lines(out) == [*first, "on_stop MASTER STOP", *started]

    def r_adverts() -> list[dict[str, Any]]:
        return [x for x in observer.adverts(since=reloading) if x["vrid"] in (51, 61)]

    if case.new_wire is None:
        # The new router advertises elsewhere (eth1, IPv6). Once it has advertised twice, an advert of a's
        # neighbour sent after that has reached the observer: r's would have too, had they come this way.
        wait_for(lambda: da.instance_status("r")["counters"]["adverts_sent"] >= 2, 5, message="new r is silent")
        sent = time.monotonic()
        wait_for(lambda: observer.adverts(A_IP, 52, since=sent + 0.2), 3, message="n stopped advertising")
        wait_for(lambda: [x for x in r_adverts() if x["priority"] == 0], 3, message="no priority 0 for r")
    else:
        # The old router's adverts may carry the new one's priority: wait for one after the priority 0.
        def zero_then_new() -> bool:
            priorities = [x["priority"] for x in r_adverts()]
            return 0 in priorities and priorities[-1] != 0

        wait_for(zero_then_new, 5, message="no priority 0 for r, or no advert of the new router after it")
    seen = r_adverts()
    zeros = [i for i, x in enumerate(seen) if x["priority"] == 0]
    assert len(zeros) == 1, f"{len(zeros)} priority-0 adverts for r: {seen}"
    zero = zeros[0]
    # The old router's adverts up to its last word, priority 0 (§6.4.3), as the old file had it ...
    assert all(matches(x, {**old_wire, "priority": old_wire.get("priority", 200)}) for x in seen[:zero]), seen
    assert matches(seen[zero], old_wire | {"priority": 0}), seen[zero]
    # ... and after it, none but the new router's, as the new file has them.
    if case.new_wire is None:
        assert seen[zero + 1 :] == [], "the old router advertised after its priority 0"
    else:
        after = seen[zero + 1 :]
        assert after and all(matches(x, {**old_wire, **case.new_wire, "priority": new["priority"]}) for x in after)
        gap = after[0]["kernel_time"] - seen[zero]["kernel_time"]
        mdi = new["master_down_interval"]
        if case.after.get("priority") == 255:
            # §6.4.1: the owner advertises at once.
            assert gap < mdi / 2, f"the owner's first advert came {gap:.3f} s after priority 0 (MDI {mdi:.3f} s)"
        else:
            # §6.4.1/§6.4.2: a Backup first, silent until Master_Down_Interval runs out.
            assert gap > mdi - 0.3, f"the new router advertised {gap:.3f} s after priority 0 (MDI {mdi:.3f} s)"

    # The neighbour, unchanged, never noticed: no transition on either host, no priority 0, nothing from b.
    after_n = {d.host.name: d.instance_status("n")["counters"]["transitions"] for d in (da, db)}
    assert after_n == n_before, "the unchanged neighbour changed state in the reload"
    assert [x for x in observer.adverts(A_IP, 52, since=reloading) if x["priority"] != 200] == []
    assert observer.adverts(B_IP, since=reloading) == [], "b advertised the neighbour: it thought a gone"


def member(name: str, vrid: int, priority: int) -> dict[str, Any]:
    return instance(name, vrid=vrid, priority=priority, addresses=[f"198.51.100.{100 + vrid - 50}/24"])


def test_a_sync_group_whose_members_change_is_re_created_and_one_whose_trackers_and_hooks_change_is_not(lab):
    """Rows `sync_groups.members`, `sync_groups.track_scripts` and `sync_groups.notify`: group g gains a member
    (x, y -> x, y, z): it is re-created with all of them, each Master sending priority 0 (RFC 9568 §6.4.3) before
    starting again as at start-up (§6.4.1). Group h, whose only change is a new tracker and new hooks, keeps its
    members running: no priority 0, no transition, no hook run, and b (h's backup) never advertises."""
    a, b, obs = routers(lab)
    flag, out = lab.workdir / "h-check-fails", lab.workdir / "h-hooks"
    a_members = [member("x", 51, 200), member("y", 52, 200), member("z", 53, 200)]
    a_h = [member("u", 54, 200), member("w", 55, 200)]
    da = Vrrpd(a, [*a_members, *a_h], sync_groups={"g": {"members": ["x", "y"]}, "h": {"members": ["u", "w"]}})
    da.start()
    db = Vrrpd(b, [member("u", 54, 100), member("w", 55, 100)], sync_groups={"h": {"members": ["u", "w"]}}).start()
    observer = Observer(obs)
    names = ("x", "y", "z", "u", "w")
    wait_for(lambda: all(da.state(n) == "MASTER" for n in names), 10, message="a never became master")
    wait_for(lambda: (db.state("u"), db.state("w")) == ("BACKUP", "BACKUP"), 5, message="b's h is not backup")
    wait_for(lambda: all(observer.adverts(A_IP, v) for v in range(51, 56)), 3, message="a's adverts unseen")
    h_before = {(d.host.name, n): d.instance_status(n)["counters"]["transitions"] for d in (da, db) for n in "uw"}

    reloading = time.monotonic()
    groups = {
        "g": {"members": ["x", "y", "z"]},
        "h": {"members": ["u", "w"], "track_scripts": [{"name": "chk", "on_failure": "fault"}], "notify": hooks(out)},
    }
    write_file(da, [*a_members, *a_h], track_scripts={"chk": flag_script(flag)}, sync_groups=groups)
    # x and y for their group's members; z, which was in no group, for joining one.
    assert reload(da) == "2 unchanged, 3 changed, 0 added, 0 removed"
    assert config(da)["last_reload"]["changed"] == ["x", "y", "z"]

    # g, built again with three members, leads again once they have started as at start-up.
    def g_led() -> bool:
        g = next(s for s in da.status()["sync_groups"] if s["name"] == "g")
        return g["state"] == "MASTER" and [m["name"] for m in g["members"]] == ["x", "y", "z"]

    wait_for(g_led, 10, message="g was not built again with x, y and z as master")
    for vrid in (51, 52, 53):
        # Each member's last advert before it stopped is priority 0, and after it the new router's at 200.
        def zero_then_200(v: int = vrid) -> list[int]:
            priorities = [x["priority"] for x in observer.adverts(A_IP, v, since=reloading)]
            return priorities if 0 in priorities and priorities[-1] == 200 else []

        priorities = wait_for(zero_then_200, 5, message=f"VRID {vrid}: no priority 0, or no advert after it")
        assert priorities.count(0) == 1, f"VRID {vrid}: {priorities}"
        zero = priorities.index(0)
        assert set(priorities[:zero]) <= {200} and set(priorities[zero + 1 :]) == {200}, f"VRID {vrid}: {priorities}"

    # h kept its members running: the new tracker is in place (and up), nothing else moved.
    def h_tracks() -> bool:
        h = next(s for s in da.status()["sync_groups"] if s["name"] == "h")
        return h["state"] == "MASTER" and [(t["name"], t["state"]) for t in h["trackers"]] == [("chk", "up")]

    wait_for(h_tracks, 5, message="h does not track chk (up) as master")
    assert "sync group h: changed in place" in da.log()
    h_after = {(d.host.name, n): d.instance_status(n)["counters"]["transitions"] for d in (da, db) for n in "uw"}
    assert h_after == h_before, "a member of h changed state in the reload"
    assert [x for v in (54, 55) for x in observer.adverts(A_IP, v, since=reloading) if x["priority"] != 200] == []
    assert observer.adverts(B_IP, since=reloading) == [], "b advertised h's members: it thought a gone"
    # A reload is no transition: h's new hooks wait for its next one. (Had the reload queued one, it would have run
    # while g's members spent their Master_Down_Interval in Backup.)
    assert lines(out) == []
