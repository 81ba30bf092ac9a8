"""keepalived 2.2.7's running data (the file SIGUSR1 makes it write) and vrrpd's status, both as one normalised dict
per instance, so that the importer's differential test (test_importer_oracle.py) compares like with like.

keepalived writes `$TMPDIR/keepalived.data` on SIGUSR1 (keepalived/vrrp/vrrp_data.c, `dump_vrrp`): after its own
adjustments of the configuration (strict mode, nopreempt, owner, version rules), so it is the oracle for what an
imported configuration must do. Its instance block is a list of "   Key = value" lines and "   Header :" lines
followed by five-space list entries ("     eth1 weight -30").

The normalised form (`Normal`) holds only what both sides can state:
vrid, version, priority, effective_priority, fault, preempt, preempt_delay, auth, accept (traffic to the VIPs accepted
as master: the owner or accept mode, keepalived's `vrrp_handle_accept_mode`), interval (seconds), addresses and
excluded (interface -> sorted ADDR/PREFIX), routes (sorted destination strings), track_scripts, track_interfaces,
track_files (name -> weight, 0 = fault), unicast_source, unicast_peers, sync_group.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

__all__ = ["Normal", "differences", "from_keepalived_data", "from_vrrpd", "parse_data"]

Normal = dict[str, Any]
_KEY = re.compile(r"^   (\S[^=]*?) = (.*)$")
_HEADER = re.compile(r"^   (\S.*?)\s*(?:\(\d+\))?\s*:$")
_ENTRY = re.compile(r"^     (\S.*)$")
_SECTION = re.compile(r"^------< (.*) >------$")


def parse_data(text: str) -> dict[str, dict[str, Any]]:
    """The "VRRP Topology" section: instance name -> {key: value, header: [entries]} (strings, as written)."""
    instances: dict[str, dict[str, Any]] = {}
    section = ""
    current: dict[str, Any] | None = None
    header: str | None = None
    for line in text.splitlines():
        if m := _SECTION.match(line):
            section, current, header = m.group(1), None, None
            continue
        if section != "VRRP Topology":
            continue
        if line.startswith(" VRRP Instance = "):
            current = instances.setdefault(line.split(" = ", 1)[1].strip(), {})
            header = None
        elif current is None:
            continue
        elif (m := _ENTRY.match(line)) and header is not None:
            current[header].append(m.group(1).strip())
        elif m := _KEY.match(line):
            current[m.group(1)] = m.group(2).strip()
            header = None
        elif m := _HEADER.match(line):
            header = m.group(1)
            current[header] = []
        else:
            # "   Flags:" entries, "   Using Native IPv6" and the like: kept as flags.
            current.setdefault("_lines", []).append(line.strip())
            header = None
    return instances


def _address(entry: Any, default_iface: str) -> tuple[str, str]:
    """(interface, ADDR/PREFIX) from keepalived's "ADDR/PLEN dev IFACE scope ..." line."""
    parts = str(entry).split()
    iface = parts[parts.index("dev") + 1].split("@")[0] if "dev" in parts else default_iface
    return iface, str(ipaddress.ip_interface(parts[0]))


def _by_iface(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for iface, addr in pairs:
        out.setdefault(iface, []).append(addr)
    return {iface: sorted(addrs) for iface, addrs in sorted(out.items())}


def _weights(entries: list[str]) -> dict[str, int | str]:
    """keepalived's "NAME weight W[ reverse]" or "NAME, weight W" -> {NAME: W} ("W reverse" kept as a string)."""
    out: dict[str, int | str] = {}
    for entry in entries:
        name, _, rest = entry.partition(" weight ")
        weight = rest.strip()
        out[name.rstrip(",").strip()] = int(weight) if re.fullmatch(r"-?\d+", weight) else weight
    return out


def _route(text: str) -> str:
    """A route's destination and gateway from keepalived's dump ("prepend DEST via inet GW proto 18 ...")."""
    words = [w for w in text.split() if w not in ("prepend", "inet", "inet6")]
    dest = str(ipaddress.ip_network(words[0], strict=False)) if words and words[0][0].isdigit() else words[0]
    via = words[words.index("via") + 1] if "via" in words else None
    dev = words[words.index("dev") + 1] if "dev" in words else None
    return " ".join(p for p in (dest, f"via {via}" if via else "", f"dev {dev}" if dev else "") if p)


def from_keepalived_data(text: str) -> dict[str, Normal]:
    out: dict[str, Normal] = {}
    for name, d in parse_data(text).items():
        iface = d.get("Interface", "").split(",")[0]
        version = int(d["VRRP Version"])
        amount, unit = d["Advert interval"].split()
        interval = int(amount) / (1000 if unit == "milli-sec" else 1)
        auth = d.get("Authentication type")
        if auth in (None, "none"):
            auth = None
        elif auth == "SIMPLE_PASSWORD":
            auth = f"PASS {d.get('Password', '')}"
        else:
            auth = "AH"
        unicast = "Using unicast" in d.get("_lines", []) or "Unicast Peer" in d
        src = d.get("Using src_ip", "(none)").split()[0]
        out[name] = {
            "vrid": int(d["Virtual Router ID"]),
            "version": version,
            "priority": int(d["Priority"]),
            "effective_priority": int(d["Effective priority"]),
            "fault": d.get("State") == "FAULT",
            "preempt": d["Preempt"] == "enabled",
            "preempt_delay": float(d.get("Preempt delay", "0 secs").split()[0]),
            "auth": auth,
            # keepalived/vrrp/vrrp.c vrrp_handle_accept_mode: the owner always accepts.
            "accept": d.get("Accept") == "enabled" or int(d["Priority"]) == 255,
            "interval": interval,
            "addresses": _by_iface([_address(a, iface) for a in d.get("Virtual IP", [])]),
            "excluded": _by_iface([_address(a, iface) for a in d.get("Virtual IP Excluded", [])]),
            "routes": sorted(_route(r) for r in d.get("Virtual Routes", [])),
            "track_scripts": _weights(d.get("Tracked scripts", [])),
            "track_interfaces": _weights(d.get("Tracked interfaces", [])),
            "track_files": _weights(d.get("Tracked files", [])),
            "unicast_source": src if unicast and "from configuration" in d.get("Using src_ip", "") else None,
            "unicast_peers": sorted(p.split()[0] for p in d.get("Unicast Peer", [])),
            "sync_group": d.get("Sync group"),
        }
    return out


def _tracker_weight(effect: str) -> int | str:
    """vrrpd's status `effect` ("weight -20", "fault", "value x -10", "fault if non-zero") as keepalived's weight."""
    if effect.startswith("fault"):
        return 0
    return int(effect.split()[-1])


def from_vrrpd(status: dict[str, Any], config: Any) -> dict[str, Normal]:
    """vrrpd's `status` (the control socket's answer, as `vrrpctl status --json`) plus, for what status does not
    show (preempt_delay, authentication), the parsed converted configuration."""
    out: dict[str, Normal] = {}
    configs = {inst.name: inst for inst in config.instances}
    groups = {m["name"]: g["name"] for g in status.get("sync_groups", []) for m in g["members"]}
    # keepalived puts every member of a faulted sync group in FAULT itself; vrrpd puts the group in FAULT and holds
    # its other members in Backup. Neither holds a VIP or sends an advert, so both count as faulted here.
    group_fault = {
        m["name"] for g in status.get("sync_groups", []) if g["state"].upper() == "FAULT" for m in g["members"]
    }
    for inst in status["instances"]:
        cfg = configs[inst["name"]]
        auth = getattr(cfg, "authentication", None)
        if auth is not None:
            kind = getattr(auth.type, "name", str(auth.type)).upper()
            password = auth.password.decode() if isinstance(auth.password, bytes) else str(auth.password)
            auth = f"PASS {password}" if "PASS" in kind or "SIMPLE" in kind else "AH"
        trackers: dict[str, dict[str, int | str]] = {"script": {}, "interface": {}, "file": {}}
        for t in inst["trackers"]:
            if not t["implicit"]:
                trackers[t["kind"]][t["name"]] = _tracker_weight(t["effect"])
        unicast = inst.get("unicast")
        elsewhere = inst.get("address_interfaces", {})  # the addresses that live on another interface (`dev`)

        def on(address: str, iface: str = inst["interface"], elsewhere: dict[str, str] = elsewhere) -> tuple[str, str]:
            return elsewhere.get(address.split("/")[0], iface), str(ipaddress.ip_interface(address))

        out[inst["name"]] = {
            "vrid": inst["vrid"],
            "version": inst["version"],
            "priority": inst["priority"],
            "effective_priority": inst["effective_priority"],
            "fault": inst["state"].upper() == "FAULT" or inst["name"] in group_fault,
            "preempt": inst["preempt"],
            "preempt_delay": float(getattr(cfg, "preempt_delay", 0) or 0),
            "auth": auth,
            "accept": inst["accepts_traffic"],
            "interval": inst["advert_interval"],
            "addresses": _by_iface([on(a) for a in inst["virtual_addresses"]]),
            "excluded": _by_iface([on(a) for a in inst.get("excluded_addresses", [])]),
            "routes": sorted(_route(r["route"]) for r in inst.get("routes", [])),
            "track_scripts": trackers["script"],
            "track_interfaces": trackers["interface"],
            "track_files": trackers["file"],
            "unicast_source": unicast["source"] if unicast and getattr(cfg, "unicast_source", None) else None,
            "unicast_peers": sorted(p["address"] for p in unicast["peers"]) if unicast else [],
            "sync_group": groups.get(inst["name"]),
        }
    return out


def differences(keepalived: dict[str, Normal], vrrpd: dict[str, Normal]) -> list[tuple[str, str, Any, Any]]:
    """(instance, field, keepalived's value, vrrpd's value) for every field that differs; a missing instance is
    the field "(instance)"."""
    diffs: list[tuple[str, str, Any, Any]] = []
    for name in sorted(set(keepalived) | set(vrrpd)):
        ka, ours = keepalived.get(name), vrrpd.get(name)
        if ka is None or ours is None:
            diffs.append((name, "(instance)", "present" if ka else "absent", "present" if ours else "absent"))
            continue
        diffs.extend((name, key, ka[key], ours.get(key)) for key in ka if ka[key] != ours.get(key))
    return diffs
