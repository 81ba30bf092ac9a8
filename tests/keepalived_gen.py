"""Hypothesis strategies for keepalived.conf text over the keywords the importer maps (issue #12).

`keepalived_conf(wild=False)` draws configurations keepalived 2.2.7 runs in the oracle lab (netns-tests/oracle_lab.py:
interfaces eth0, eth1 and eth2, node address 198.51.100.11, scripts /bin/true and /bin/false): global_defs
(vrrp_strict, vrrp_version), vrrp_script, vrrp_instance (state, interface, virtual_router_id, priority, advert_int,
version, nopreempt, preempt_delay, authentication, accept / no_accept, virtual_ipaddress with `dev`,
track_script and track_interface with and without weights, unicast_src_ip / unicast_peer) and vrrp_sync_group.

`wild=True` also draws values outside keepalived's ranges and names nothing defines (priority 0 or 300, VRID 0,
advert_int 0, weight 300, unknown scripts, duplicate VRIDs): the importer must then warn or refuse explicitly,
never crash, and never print YAML vrrpd would reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

SCRIPTS = {"chk_up": "/bin/true", "chk_down": "/bin/false"}
SCRIPT_WEIGHTS = st.sampled_from([None, 0, -60, -20, -1, 5, 30])
TRACK_WEIGHTS = st.sampled_from([None, 0, -50, -10, 10, 25])


@dataclass(frozen=True)
class Shape:
    """One configuration's drawing choices that span instances (so VRIDs and addresses stay unique)."""

    wild: bool
    strict: bool
    global_version: int | None


def _weight_suffix(weight: int | None) -> str:
    return "" if weight is None else f" weight {weight}"


@st.composite
def _instance(draw: st.DrawFn, shape: Shape, index: int, vrid: int) -> str:
    wild = shape.wild
    v6 = draw(st.booleans()) if index % 3 == 2 else False
    iface = draw(st.sampled_from(["eth0", "eth0", "eth1"]))
    version = draw(st.sampled_from([None, 2, 3])) if not v6 else draw(st.sampled_from([None, 3]))
    effective_version = version or shape.global_version or (3 if v6 else 2)
    priorities = [1, 50, 100, 150, 254, 255] + ([0, 256, 300] if wild else [])
    intervals = ["1", "2", "3"] + (["0.5", "0.25", "1.5"] if effective_version == 3 else ["1.6"])
    intervals += ["0", "300", "0.001"] if wild else []
    lines = [f"vrrp_instance inst{index} {{"]
    state = draw(st.sampled_from([None, "MASTER", "BACKUP"]))
    if state:
        lines.append(f"    state {state}")
    lines += [f"    interface {iface}", f"    virtual_router_id {0 if wild and draw(st.booleans()) else vrid}"]
    lines.append(f"    priority {draw(st.sampled_from(priorities))}")
    if draw(st.booleans()):
        lines.append(f"    advert_int {draw(st.sampled_from(intervals))}")
    if version:
        lines.append(f"    version {version}")
    if draw(st.booleans()):
        lines.append("    nopreempt")
    if draw(st.booleans()):
        lines.append(f"    preempt_delay {draw(st.sampled_from([1, 2, 5] + ([0, 2000] if wild else [])))}")
    accept = draw(st.sampled_from([None, "accept", "no_accept"]))
    if accept:
        lines.append(f"    {accept}")
    if draw(st.booleans()):
        password = draw(st.sampled_from(["secret", "pw", "longer-than-8"]))
        lines += ["    authentication {", "        auth_type PASS", f"        auth_pass {password}", "    }"]
    base = f"2001:db8::{index + 1:x}" if v6 else f"198.51.100.{100 + index * 4}"
    other = f"2001:db8:1::{index + 1:x}" if v6 else f"203.0.113.{100 + index * 4}"
    addresses = [f"{base}/{64 if v6 else 24}"]
    if draw(st.booleans()):
        addresses.append(f"{other}/{64 if v6 else 24}" + (" dev eth1" if iface != "eth1" else ""))
    lines += ["    virtual_ipaddress {", *(f"        {a}" for a in addresses), "    }"]
    scripts = draw(st.lists(st.sampled_from([*SCRIPTS, *(["chk_none"] if wild else [])]), unique=True, max_size=2))
    if scripts:
        lines.append("    track_script {")
        lines += [f"        {s}{_weight_suffix(draw(TRACK_WEIGHTS))}" for s in scripts]
        lines.append("    }")
    links = draw(st.lists(st.sampled_from(["eth1", "eth2"]), unique=True, max_size=2))
    if links:
        weights = TRACK_WEIGHTS | st.just(300) if wild else TRACK_WEIGHTS
        lines += ["    track_interface {", *(f"        {i}{_weight_suffix(draw(weights))}" for i in links), "    }"]
    if not v6 and iface == "eth0" and draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            lines.append("    unicast_src_ip 198.51.100.11")
        peers = draw(st.lists(st.integers(12, 20), unique=True, min_size=1, max_size=2))
        lines += ["    unicast_peer {", *(f"        198.51.100.{p}" for p in peers), "    }"]
    lines.append("}")
    return "\n".join(lines)


@st.composite
def keepalived_conf(draw: st.DrawFn, wild: bool = False) -> str:
    """A whole keepalived.conf (see the module docstring)."""
    shape = Shape(wild, draw(st.booleans()), draw(st.sampled_from([None, 2, 3])))
    blocks = ["global_defs {", "    enable_script_security", "    script_user root"]
    if shape.strict:
        blocks.append("    vrrp_strict")
    if shape.global_version:
        blocks.append(f"    vrrp_version {shape.global_version}")
    blocks.append("}")
    for name, command in SCRIPTS.items():
        weight = draw(SCRIPT_WEIGHTS)
        blocks += [f"vrrp_script {name} {{", f'    script "{command}"', "    interval 1"]
        blocks += [f"    weight {weight}"] if weight is not None else []
        blocks.append("}")
    count = draw(st.integers(1, 3))
    vrids = draw(st.lists(st.integers(1, 255), unique=not wild, min_size=count, max_size=count))
    blocks += [draw(_instance(shape, i, vrid)) for i, vrid in enumerate(vrids)]
    if count >= 2 and draw(st.booleans()):
        members = [f"inst{i}" for i in range(count)][: draw(st.integers(2, count))]
        blocks += ["vrrp_sync_group group1 {", "    group {", *(f"        {m}" for m in members), "    }"]
        if draw(st.booleans()):
            blocks += ["    track_script {", "        chk_up", "    }"]
        blocks.append("}")
    return "\n".join(blocks) + "\n"
