"""Live reload on a real kernel (issue #11): every key a reload changes in place (docs/reload.md, "Instance keys"),
on a Master and on a Backup. The instance keeps its state; what the key governs follows (on the wire, in the
kernel's addresses, in nftables, in the hooks that run); nothing else moves.

Hosts a (priority 200) and b (100) run instance v (VRID 61, the one each test changes) and n (VRID 62, never
changed); an observer records adverts, and with `arp` gratuitous ARPs, on the wire (helpers/advert_sniffer.py,
kernel timestamps). `Pair.steady` is what every test ends with: no instance changed state on either host, b never
advertised (unless the test makes it take over), nobody sent priority 0.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from lab import Host, Lab, wait_for
from reload_lab import A_IP, B_IP, OBS_IP, Observer, config, hold, hosts, reload, write_file
from vrrpd_runner import Vrrpd, instance, vip_holders

V_VIP, V_GONE, V_NEW, N_VIP = "198.51.100.110/24", "198.51.100.111/24", "198.51.100.112/24", "198.51.100.120/24"
INTERVAL = 0.1
ONCE = {"repeat_count": 0}
"""One GARP burst at takeover and no second one five seconds later, so that any later GARP is the reload's."""
SH = "/bin/sh"


def ip(vip: str) -> str:
    return vip.split("/")[0]


def v(priority: int, vips: tuple[str, ...] = (V_VIP,), **keys: Any) -> dict[str, Any]:
    return instance("v", vrid=61, priority=priority, addresses=vips, **{"advert_interval": INTERVAL, **keys})


def n(priority: int) -> dict[str, Any]:
    return instance("n", vrid=62, priority=priority, addresses=[N_VIP], advert_interval=INTERVAL)


def hook(out: Path) -> dict[str, Any]:
    """notify: every transition of the instance appends ``OLD NEW`` to `out`."""
    return {"notify": [SH, "-c", f'echo "$VRRPD_OLD_STATE $VRRPD_STATE" >> {out}']}


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


class Pair:
    """a runs `a_v` and n at 200, b runs `b_v` and n at 100; both started, a Master of both, b listening."""

    def __init__(self, lab: Lab, a_v: dict[str, Any], b_v: dict[str, Any], arp: bool = False, **top: Any) -> None:
        self.a, self.b, self.obs = hosts(lab)
        self.top = top
        self.observer = Observer(self.obs, arp=arp)
        self.da = Vrrpd(self.a, [a_v, n(200)], **top).start()
        self.db = Vrrpd(self.b, [b_v, n(100)], **top).start()
        wait_for(lambda: self.da.state("v") == self.da.state("n") == "MASTER", 10, message="a never became master")
        wait_for(
            lambda: all(self.db.instance_status(name)["master_priority"] >= 200 for name in "vn"),
            5,
            message="b never heard a",
        )
        self.started = time.monotonic()
        self.before = self.transitions()

    def transitions(self) -> dict[tuple[str, str], int]:
        return {
            (d.host.name, name): d.instance_status(name)["counters"]["transitions"]
            for d in (self.da, self.db)
            for name in "vn"
        }

    def reload(self, d: Vrrpd, new_v: dict[str, Any], priority: int, changed: bool = True, **top: Any) -> float:
        """Write `new_v` (and n unchanged) into `d`'s file and reload it: v `changed` (or not), n unchanged.
        Returns the time.time() at which vrrpctl answered."""
        write_file(d, [new_v, n(priority)], **{**self.top, **top})
        assert reload(d) == ("1 unchanged, 1 changed" if changed else "2 unchanged, 0 changed") + ", 0 added, 0 removed"
        assert config(d)["last_reload"]["changed"] == (["v"] if changed else [])
        return time.time()

    def reload_a(self, new_v: dict[str, Any], changed: bool = True, **top: Any) -> float:
        return self.reload(self.da, new_v, 200, changed, **top)

    def reload_b(self, new_v: dict[str, Any], **top: Any) -> float:
        return self.reload(self.db, new_v, 100, **top)

    def after(self, since: float, src: str = A_IP, vrid: int = 61) -> list[dict[str, Any]]:
        """Adverts stamped by the observer's kernel 5 ms after `since` (a time.time(); vrrpctl's answer): sent
        by the reloaded router, not on their way before it answered."""
        return [x for x in self.observer.adverts(src, vrid) if x["kernel_time"] > since + 0.005]

    def steady(self, b_advertised: bool = False) -> None:
        """Nobody changed state, sent priority 0, or (unless the test made b a Master) heard from b."""
        assert self.transitions() == self.before, "an instance changed state in the reload"
        zeros = [x for x in self.observer.adverts(since=self.started) if x["priority"] == 0]
        assert not zeros, f"priority 0 was sent for VRID(s) {sorted({x['vrid'] for x in zeros})}"
        if not b_advertised:
            from_b = self.observer.adverts(B_IP, since=self.started)
            assert not from_b, f"b advertised {len(from_b)} time(s) for VRID(s) {sorted({x['vrid'] for x in from_b})}"


def test_priority_changed_on_a_master_is_advertised_at_once_and_it_stays_master(lab):
    """Row `priority`, Master: the new priority leaves in the next advert (RFC 9568 §6.4.3 sends the current
    Priority); it stays Master and b stays Backup."""
    pair = Pair(lab, v(200), v(100))
    asked = time.time()
    answered = pair.reload_a(v(180))
    first = wait_for(lambda: [x for x in pair.observer.adverts(A_IP, 61) if x["priority"] == 180], 2, message="no 180")
    took = first[0]["kernel_time"] - asked
    print(f"\npriority 200 -> 180: first advert with it {took * 1000:.0f} ms after vrrpctl started")
    # vrrpctl's own start-up is most of that; the advert itself may not wait for the interval after the answer.
    assert first[0]["kernel_time"] < answered + INTERVAL + 0.05
    assert all(x["priority"] == 180 for x in pair.after(answered)), "an advert after the reload carried 200"
    wait_for(lambda: pair.db.instance_status("v")["master_priority"] == 180, 2, message="b never heard 180")
    assert pair.da.state("v") == "MASTER" and pair.db.state("v") == "BACKUP"
    pair.steady()


def test_priority_changed_on_a_backup_moves_its_election_and_a_higher_one_preempts(lab):
    """Row `priority`, Backup (RFC 9568 §6.1: Skew_Time and Master_Down_Interval follow the priority; §6.4.2:
    a Backup with Preempt_Mode takes over from a lower-priority master): below a's 200 it stays Backup and sends
    nothing; above it, it preempts."""
    pair = Pair(lab, v(200), v(100))
    down = pair.db.instance_status("v")["master_down_interval"]
    pair.reload_b(v(150))
    status = pair.db.instance_status("v")
    assert status["priority"] == 150 and status["state"] == "BACKUP"
    assert status["master_down_interval"] < down, "Master_Down_Interval did not follow the priority"
    hold(lambda: pair.db.state("v") == "BACKUP", 1.0, "b left Backup at 150, below a's 200")
    pair.steady()

    answered = pair.reload_b(v(250))
    wait_for(lambda: pair.db.state("v") == "MASTER" and pair.da.state("v") == "BACKUP", 5, message="no preemption")
    wait_for(lambda: vip_holders([pair.a, pair.b], V_VIP) == ["b"], 3, message="the VIP did not move to b alone")
    assert all(x["priority"] == 250 for x in pair.after(answered, B_IP)), "b advertised another priority"
    # n, unchanged, did not move; v moved once on each host.
    after = pair.transitions()
    assert after[("a", "n")] == pair.before[("a", "n")] and after[("b", "n")] == pair.before[("b", "n")]
    assert after[("a", "v")] == pair.before[("a", "v")] + 1 and after[("b", "v")] == pair.before[("b", "v")] + 1
    assert not pair.observer.adverts(B_IP, 62), "b advertised n"


def test_preempt_turned_on_lets_a_higher_backup_take_over_at_the_next_advert_it_hears(lab):
    """Row `preempt`, Backup (RFC 9568 §6.4.2): b at 250 without preempt stays Backup behind a's 200; once a
    reload turns preempt on, the next advert it hears from the lower-priority master makes it take over."""
    pair = Pair(lab, v(200), v(250, preempt=False))
    hold(lambda: pair.db.state("v") == "BACKUP", 1.0, "b at 250 took over without preempt")
    pair.steady()
    answered = pair.reload_b(v(250, preempt=True))
    wait_for(lambda: pair.db.state("v") == "MASTER" and pair.da.state("v") == "BACKUP", 5, message="no preemption")
    first = pair.after(answered - 0.005, B_IP)[0]
    # Skew_Time at 250 is (256 - 250) / 256 * 0.1 s, so the takeover follows within a few of a's intervals.
    assert first["kernel_time"] - answered < 1.0, f"b took over {first['kernel_time'] - answered:.3f} s after"
    wait_for(lambda: vip_holders([pair.a, pair.b], V_VIP) == ["b"], 3, message="the VIP did not move to b alone")
    assert not pair.observer.adverts(B_IP, 62), "b advertised n"


def test_interval_changed_on_a_master_takes_effect_from_the_next_advert(lab):
    """Row `advert_interval`, Master (RFC 9568 §6.4.3: adverts every Advertisement_Interval, carried in Max Adver
    Int): the adverts after the reload carry 5 cs and come every 50 ms; b learns it (§6.4.2, Master_Adver_Interval)
    and stays Backup."""
    pair = Pair(lab, v(200), v(100))
    answered = pair.reload_a(v(200, advert_interval=0.05))
    adverts = wait_for(lambda: (x := pair.after(answered)) and len(x) >= 21 and x, 5, message="too few adverts")
    assert {x["interval_cs"] for x in adverts} == {5}
    gaps = [b["kernel_time"] - a["kernel_time"] for a, b in itertools.pairwise(adverts)]
    print(f"\ninterval 100 -> 50 ms: median gap after the reload {statistics.median(gaps) * 1000:.1f} ms")
    assert 0.04 < statistics.median(gaps) < 0.06
    wait_for(lambda: pair.db.instance_status("v")["master_advert_interval"] == 0.05, 2, message="b never learned it")
    pair.steady()


def test_vips_changed_on_a_master_are_removed_and_added_and_only_the_added_one_announced(lab):
    """Row `virtual_addresses`, Master (RFC 9568 §6.4.1/§6.4.3: a Master holds and announces its addresses): the
    removed VIP leaves the kernel, the added one arrives with its own gratuitous ARPs, the kept one is neither
    touched nor announced again, and the next advert lists the new set."""
    garp = {"garp": ONCE}
    pair = Pair(lab, v(200, (V_VIP, V_GONE), **garp), v(100, (V_VIP, V_GONE), **garp), arp=True)
    wait_for(lambda: len(pair.observer.garps(ip(V_VIP))) >= 5, 3, message="a's takeover burst never came")
    settled = time.time() + 0.05  # the burst's frames are sent together: none is on its way after this
    time.sleep(0.05)
    answered = pair.reload_a(v(200, (V_VIP, V_NEW), **garp))
    addresses = pair.a.addresses()
    assert V_NEW in addresses and V_VIP in addresses and V_GONE not in addresses
    wait_for(lambda: len(pair.observer.garps(ip(V_NEW))) >= 5, 3, message="the added VIP was not announced")
    new_from = {x["sender_mac"] for x in pair.observer.garps(ip(V_NEW))}
    assert new_from == {pair.a.mac}, new_from
    assert not pair.observer.garps(ip(V_VIP), after=settled), "the kept VIP was announced again"
    assert not pair.observer.garps(ip(V_GONE), after=settled), "the removed VIP was announced"
    # "At once": the advert with the new list need not wait for the interval (docs/reload.md).
    adverts = wait_for(lambda: pair.after(answered - 0.05), 2, message="a stopped advertising")
    listing = [x for x in pair.observer.adverts(A_IP, 61) if sorted(x["addresses"]) == [ip(V_VIP), ip(V_NEW)]]
    assert listing and listing[0]["kernel_time"] < answered + INTERVAL, "the new list waited for the interval"
    assert all(sorted(x["addresses"]) == [ip(V_VIP), ip(V_NEW)] for x in adverts[1:])
    assert vip_holders([pair.a, pair.b], V_NEW) == ["a"] and V_NEW not in pair.b.addresses()
    pair.steady()


def test_vips_changed_on_a_backup_are_only_recorded_and_its_takeover_adds_the_new_list(lab):
    """Row `virtual_addresses`, Backup (RFC 9568 §6.4.2: a Backup holds none of the addresses): the reload touches
    no address and announces nothing; when a goes, b adds the new list (§6.4.2 -> Master), not the old."""
    garp = {"garp": ONCE}
    pair = Pair(lab, v(200, (V_VIP, V_GONE), **garp), v(100, (V_VIP, V_GONE), **garp), arp=True)
    before = sorted(pair.b.addresses())
    answered = pair.reload_b(v(100, (V_VIP, V_NEW), **garp))
    assert pair.db.instance_status("v")["virtual_addresses"] == [V_VIP, V_NEW]
    hold(lambda: sorted(pair.b.addresses()) == before, 0.5, "the reload changed b's addresses")
    assert not [x for x in pair.observer.records() if x.get("arp") and x["sender_ip"] == ip(V_NEW)]
    assert pair.db.state("v") == "BACKUP"
    pair.steady()

    pair.da.stop()
    wait_for(lambda: pair.db.state("v") == "MASTER", 5, message="b never took over")
    wait_for(lambda: V_NEW in pair.b.addresses(), 2, message="b did not add the new VIP")
    assert V_VIP in pair.b.addresses() and V_GONE not in pair.b.addresses()
    wait_for(lambda: pair.observer.garps(ip(V_NEW), after=answered), 2, message="b did not announce the new VIP")
    assert not pair.observer.garps(ip(V_GONE), after=answered), "b announced the VIP its file no longer has"


def test_hooks_changed_run_from_the_next_transition_on_and_none_runs_at_the_reload(lab, tmp_path):
    """Row `notify`: a reload is no transition (no hook runs); b's next transition (a goes: RFC 9568 §6.4.2 ->
    Master) runs the new hook, not the old."""
    old, new = tmp_path / "old", tmp_path / "new"
    pair = Pair(lab, v(200), v(100, notify=hook(old)))
    wait_for(lambda: lines(old) == ["INITIALIZE BACKUP"], 5, message="b's start-up hook never ran")
    pair.reload_b(v(100, notify=hook(new)))
    hold(lambda: lines(old) == ["INITIALIZE BACKUP"] and not new.exists(), 0.5, "a hook ran at the reload")
    pair.steady()
    pair.da.stop()
    wait_for(lambda: lines(new) == ["BACKUP MASTER"], 5, message="the new hook did not run at b's takeover")
    assert lines(old) == ["INITIALIZE BACKUP"], "the old hook ran after the reload"


def test_track_script_weights_follow_at_once_and_a_changed_definition_restarts_that_script_only(lab, tmp_path):
    """Rows `track_scripts` (instance) and `track_scripts` (definitions): a new weight is advertised at once
    (RFC 9568 §6.4.3 sends the current priority); a changed definition restarts that script's monitor (the old
    command stops running, the new one starts) and leaves the unchanged script's running on."""
    runs = {name: tmp_path / name for name in ("chk_old", "chk_new", "keep")}

    def scripts(chk: str) -> dict[str, Any]:
        fail = "; exit 1" if chk == "chk_new" else ""
        return {
            "chk": {"command": [SH, "-c", f"echo . >> {runs[chk]}{fail}"], "interval": 0.2},
            "keep": {"command": [SH, "-c", f"echo . >> {runs['keep']}"], "interval": 0.2},
        }

    def tracked(chk: int) -> dict[str, Any]:
        return v(150, track_scripts=[{"name": "chk", "weight": chk}, {"name": "keep", "weight": 10}])

    pair = Pair(lab, tracked(60), v(100), track_scripts=scripts("chk_old"))

    def effective() -> int:
        return pair.da.instance_status("v")["effective_priority"]

    wait_for(lambda: effective() == 220, 5, message="a never reached 150 + 60 + 10")
    answered = pair.reload_a(tracked(20))
    wait_for(lambda: pair.after(answered), 2, message="a stopped advertising")
    assert {x["priority"] for x in pair.after(answered)} == {180}, "the new weight was not advertised at once"

    kept = len(lines(runs["keep"]))
    pair.reload_a(tracked(20), changed=False, track_scripts=scripts("chk_new"))  # the definition alone
    # The changed script fails from its first run (fall 1): its +20 goes, the kept script's +10 stays.
    wait_for(lambda: effective() == 160, 5, message="the new definition never ran")
    stopped = len(lines(runs["chk_old"]))
    wait_for(lambda: len(lines(runs["keep"])) >= kept + 5, 5, message="the unchanged script stopped running")
    assert len(lines(runs["chk_old"])) == stopped, "the old definition kept running"
    assert len(lines(runs["chk_new"])) >= 1
    wait_for(lambda: pair.observer.adverts(A_IP, 61)[-1]["priority"] == 160, 2, message="160 was not advertised")
    pair.steady()


def test_checksum_changed_on_a_master_changes_the_next_advert(lab):
    """Row `checksum` (RFC 9568 §5.2.8 and its RFC 5798 reading): the adverts after the reload carry the
    message-only checksum; b, accepting both forms, stays Backup."""
    pair = Pair(lab, v(200), v(100))
    assert all(x["checksum_ok"] for x in pair.observer.adverts(A_IP, 61))
    answered = pair.reload_a(v(200, checksum="message-only"))
    adverts = wait_for(lambda: (x := pair.after(answered)) and len(x) >= 5 and x, 3, message="a stopped advertising")
    assert all(x["checksum_message_only"] and not x["checksum_ok"] for x in adverts)
    assert all(x["checksum_ok"] for x in pair.observer.adverts(A_IP, 62)), "n's checksum changed too"
    wait_for(
        lambda: pair.db.instance_status("v")["counters"]["message_only_checksums"] > 0, 2, message="b never counted"
    )
    pair.steady()


def test_unicast_peers_changed_send_the_next_adverts_to_the_new_list(lab):
    """Row `unicast_peers`: a, unicasting to b, adds the observer to its peers; the next adverts go to both
    (RFC 9568 §6.4.3 multicast replaced by one advert per peer) and b stays Backup."""
    pair = Pair(lab, v(200, unicast_peers=[B_IP]), v(100, unicast_peers=[A_IP]))
    assert not [x for x in pair.observer.adverts(A_IP, 61) if x["dst"] == OBS_IP]
    answered = pair.reload_a(v(200, unicast_peers=[B_IP, OBS_IP]))
    adverts = wait_for(lambda: (x := pair.after(answered)) and len(x) >= 5 and x, 3, message="none reached obs")
    assert {x["dst"] for x in adverts} == {OBS_IP}, "the observer sees only what is sent to it (a switched LAN)"
    hold(lambda: pair.db.state("v") == "BACKUP", 1.0, "b stopped hearing a")
    pair.steady()


def test_garp_refresh_turned_on_while_master_re_announces_every_interval(lab):
    """Row `garp`: a Master whose reload turns `refresh` on re-announces its VIP every `refresh` seconds."""
    pair = Pair(lab, v(200, garp=ONCE), v(100, garp=ONCE), arp=True)
    wait_for(lambda: len(pair.observer.garps(ip(V_VIP))) >= 5, 3, message="a's takeover burst never came")
    answered = pair.reload_a(v(200, garp={**ONCE, "refresh": 0.5, "count": 1}))
    refreshes = wait_for(
        lambda: (x := pair.observer.garps(ip(V_VIP), after=answered)) and len(x) >= 4 and x, 5, message="no refresh"
    )
    gaps = [b["kernel_time"] - a["kernel_time"] for a, b in itertools.pairwise(refreshes)]
    print(f"\nGARP refresh 0.5 s: gaps {[round(g, 3) for g in gaps]}")
    assert all(0.3 < g < 0.9 for g in gaps), gaps
    pair.steady()


def test_accept_mode_flipped_on_a_master_blocks_then_unblocks_its_vip(lab):
    """Row `accept_mode` (RFC 9568 §6.1 Accept_Mode): off, the Master drops traffic to its VIP (nftables,
    `table inet vrrpd`) but keeps the address; on again, the VIP answers."""
    pair = Pair(lab, v(200, accept_mode=True), v(100, accept_mode=True))
    client = pair.obs
    assert pings(client, V_VIP)
    pair.reload_a(v(200, accept_mode=False))
    assert "table inet vrrpd" in pair.a.run(["nft", "list", "tables"]).stdout
    assert not pings(client, V_VIP) and V_VIP in pair.a.addresses()
    pair.reload_a(v(200, accept_mode=True))
    wait_for(lambda: pings(client, V_VIP), 5, message="the VIP never answered again")
    pair.steady()


def pings(client: Host, vip: str) -> bool:
    return client.run(["ping", "-c", "1", "-W", "1", ip(vip)], check=False).returncode == 0


class Unpinned(Vrrpd):
    """A vrrpd started without --log-level, so that the file's log_level rules."""

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "vrrpd.cli.daemon", "run", "-c", str(self.conf_path)]


def test_log_level_changed_applies_at_once(lab):
    """Row `log_level`: a daemon logging errors only logs its info lines once a reload says info (the reload's own
    "applied" line is the first); no instance notices."""
    a, _, _ = hosts(lab)
    da = Unpinned(a, [v(200), n(200)], log_level="error").start()
    wait_for(lambda: da.state("v") == "MASTER", 10, message="a never became master")
    assert " INFO " not in da.log(), "an info line at log_level error"
    transitions = da.instance_status("v")["counters"]["transitions"]
    write_file(da, [v(200), n(200)], log_level="info")
    assert reload(da) == "2 unchanged, 0 changed, 0 added, 0 removed"
    assert "log level is now info" in da.log()
    wait_for(lambda: f"reload of {da.conf_path} applied" in da.log(), 5, message="no info line after the reload")
    assert da.instance_status("v")["counters"]["transitions"] == transitions
