"""The IPv4 VRRPv3 checksum forms in practice against keepalived 2.2.7 (RFC 9568 §5.2.8; docs/interop.md §2).

keepalived 2.2.7 only knows the RFC 5798 pseudo-header form (`v3_checksum_as_v2` arrived in 2.2.8). So:
- `checksum: message-only` (the RFC 9568 form) is dropped by keepalived ("(VI_1) Invalid VRRPv3 checksum" in its log)
  and both routers end up Master; the default `pseudo-header` interoperates;
- our default receive accepts both forms, so keepalived (and a message-only sender) are heard;
- `accept_checksum: strict` accepts only the form we transmit and counts the other as a 'checksum' drop.
The FRR side of this matrix lives with the FRR interop tests.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lab import Host, Lab, wait_for
from peers import Keepalived
from vrrpd_runner import Vrrpd, instance, vip_holders

from vrrpd.config import InstanceConfig

INJECT = str(Path(__file__).parent / "helpers" / "inject.py")
VIP = "198.51.100.100/24"
INTERVAL = 0.1
KA_INVALID = "(VI_1) Invalid VRRPv3 checksum"  # keepalived 2.2.7 vrrp_check_packet(), exact text


def strict(form: str) -> dict[str, Any]:
    """Config keys for 'transmit `form`, accept only `form`' (the receive key was renamed during development)."""
    if "accept_checksum" in InstanceConfig.__dataclass_fields__:
        return {"checksum": form, "accept_checksum": "strict"}
    return {"checksum": form, "checksum_receive": form}


def keepalived(host: Host, priority: int) -> Keepalived:
    return Keepalived(host, vrid=51, priority=priority, addresses=[VIP], advert_int=INTERVAL, version=3)


def ctl_status(host: Host, d: Vrrpd) -> dict[str, Any]:
    """`vrrpctl status --json`, as an operator would run it."""
    argv = [sys.executable, "-m", "vrrpd.cli.ctl", "--socket", str(d.socket), "status", "--json"]
    return json.loads(host.run(argv, timeout=20).stdout)["instances"][0]


def transmit_form(status: dict[str, Any]) -> str:
    checksum = status["checksum"]  # {"transmit": FORM, "receive": [FORMS]}
    return checksum["transmit"] if isinstance(checksum, dict) else checksum


def invalid_count(ka: Keepalived) -> int:
    return ka.log().count(KA_INVALID)


def hosts(lab: Lab) -> tuple[Host, Host]:
    return (
        lab.add_host("ours", ipv4="198.51.100.11/24"),
        lab.add_host("ka", ipv4="198.51.100.12/24"),
    )


def test_9568_5_2_8_message_only_is_dropped_by_keepalived_2_2_7_two_masters_pseudo_header_works(lab):
    ours, theirs = hosts(lab)
    ka = keepalived(theirs, priority=100).start()
    wait_for(lambda: ka.state() == "MASTER", 5, message="keepalived alone never became master")

    # We (200) preempt keepalived (100), but it cannot verify our RFC 9568 checksum, so it never hears us.
    d = Vrrpd(ours, [instance(priority=200, advert_interval=INTERVAL, checksum="message-only")]).start()
    wait_for(lambda: d.state() == "MASTER" and invalid_count(ka) >= 5, 5, message=f"no rejection:\n{ka.log()[-2000:]}")
    assert ka.state() == "MASTER", ka.log()[-2000:]
    assert sorted(vip_holders([ours, theirs], VIP)) == ["ka", "ours"]  # split brain: both hold the VIP
    status = ctl_status(ours, d)
    assert transmit_form(status) == "message-only"
    # We, on the other hand, verify keepalived's pseudo-header form (the default accepts both) and answer it.
    assert status["counters"]["drops"] == {}
    assert status["counters"]["lower_priority_received"] > 0

    # Same priorities with the default pseudo-header form: keepalived hears us and backs off.
    assert d.stop() == 0
    d = Vrrpd(ours, [instance(priority=200, advert_interval=INTERVAL)]).start()
    wait_for(lambda: (d.state(), ka.state()) == ("MASTER", "BACKUP"), 5, message=ka.log()[-2000:])
    wait_for(lambda: vip_holders([ours, theirs], VIP) == ["ours"], 3)
    assert transmit_form(ctl_status(ours, d)) == "pseudo-header"


def test_9568_5_2_8_default_receive_accepts_both_forms_strict_pseudo_header_drops_message_only(lab):
    ours, theirs = hosts(lab)
    strict_host = lab.add_host("strict", ipv4="198.51.100.13/24")
    rogue = lab.add_host("rogue", ipv4="198.51.100.66/24")
    ka = keepalived(theirs, priority=200).start()
    wait_for(lambda: ka.state() == "MASTER", 5)
    both = Vrrpd(ours, [instance(priority=100, advert_interval=INTERVAL)]).start()
    only_pseudo = Vrrpd(strict_host, [instance(priority=50, advert_interval=INTERVAL, **strict("pseudo-header"))])
    only_pseudo.start()

    def follows_keepalived(d: Vrrpd) -> bool:
        s = d.instance_status()
        return s["state"] == "BACKUP" and s["master_address"] == "198.51.100.12" and s["master_priority"] == 200

    # keepalived's pseudo-header adverts are heard by the default and by the strict pseudo-header receiver.
    wait_for(lambda: follows_keepalived(both) and follows_keepalived(only_pseudo), 5)
    for d in (both, only_pseudo):
        counters = d.instance_status()["counters"]
        assert counters["drops"] == {} and counters["message_only_checksums"] == 0
    assert ctl_status(strict_host, only_pseudo)["checksum"] != ctl_status(ours, both)["checksum"]

    # A valid RFC 9568 (message-only) advert at priority 250: the default accepts it (and counts the form), the
    # strict receiver drops it as 'checksum' and keeps following keepalived.
    vip = VIP.split("/")[0]
    argv = [sys.executable, INJECT, "eth0", "198.51.100.66", "51", vip, "message_only", "--count", "3"]
    rogue.run(argv, timeout=60)
    wait_for(lambda: only_pseudo.instance_status()["counters"]["drops"] == {"checksum": 3}, 3)
    wait_for(lambda: both.instance_status()["counters"]["message_only_checksums"] == 3, 3)
    assert both.instance_status()["counters"]["drops"] == {}
    assert follows_keepalived(only_pseudo)


def test_9568_5_2_8_strict_message_only_drops_keepalived_two_masters(lab):
    ours, theirs = hosts(lab)
    ka = keepalived(theirs, priority=200).start()
    wait_for(lambda: ka.state() == "MASTER", 5)
    d = Vrrpd(ours, [instance(priority=100, advert_interval=INTERVAL, **strict("message-only"))]).start()
    # Neither side can verify the other: we drop keepalived's pseudo-header sums and become Master after MDI.
    wait_for(lambda: d.state() == "MASTER", 3, message="strict message-only receiver still obeyed keepalived")
    wait_for(lambda: invalid_count(ka) >= 3, 3, message=f"keepalived accepted a message-only sum:\n{ka.log()[-2000:]}")
    assert ka.state() == "MASTER"
    counters = d.instance_status()["counters"]
    assert counters["drops"].get("checksum", 0) >= 3 and set(counters["drops"]) == {"checksum"}
    assert counters["adverts_received"] == 0  # nothing of keepalived's reached the state machine
    status = ctl_status(ours, d)
    assert transmit_form(status) == "message-only"
    assert "pseudo-header" not in json.dumps(status["checksum"])  # strict: the other form is not accepted
