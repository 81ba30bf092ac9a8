"""keepalived statements -> the vrrpd YAML document, plus a message for everything that does not map 1:1.

Severity:
- ``warning``: keepalived would behave differently from the generated YAML (a keyword is dropped, a value
  changed); `vrrpctl import-keepalived` then exits 1. Each warning says what to do about it.
- ``note``: the mapping is faithful but worth knowing (e.g. a password keepalived also truncates).

keepalived's defaults are made explicit where they differ from vrrpd's: every instance gets its `version`
(keepalived defaults IPv4 to VRRPv2, vrrpd to v3), and `vrrp_strict`'s hidden effects become keys.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface, ip_interface
from typing import Any

from vrrpd.config import ConfigError, parse_config
from vrrpd.importer import syncgroups, track_files
from vrrpd.importer import unicast as _unicast
from vrrpd.importer.render import flow, render, yaml_number
from vrrpd.importer.syntax import Statement, parse_file
from vrrpd.importer.tables import (
    GLOBAL_IGNORED,
    GLOBAL_UNMAPPED,
    HOOK_KEYS,
    INSTANCE_IGNORED,
    INSTANCE_UNMAPPED,
    TOP_UNMAPPED,
)

VirtualAddress = IPv4Interface | IPv6Interface

_NAME_OK = re.compile(r"[A-Za-z0-9_.-]+")
_MAC = re.compile(r"(?i)[0-9a-f]{2}(:[0-9a-f]{2}){5}")
_TRUE = ("true", "on", "yes")
_FALSE = ("false", "off", "no")
_MAX_V3_INTERVAL = 40.95


@dataclass(frozen=True, slots=True)
class Message:
    severity: str
    """``warning`` (not mapped: behaviour differs) or ``note`` (mapped faithfully, worth knowing)."""
    file: str
    line: int | None
    """None for findings about the generated YAML as a whole."""
    text: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity}: {self.text}"


@dataclass(frozen=True, slots=True)
class ImportResult:
    yaml: str
    """The generated document, header comment included; it passed `vrrpd.config.parse_config`."""
    document: dict[str, Any]
    messages: tuple[Message, ...]
    files: tuple[str, ...]
    """Every keepalived file read (the top one first, then includes)."""

    @property
    def warnings(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "warning")

    @property
    def complete(self) -> bool:
        """True when everything mapped (no warnings)."""
        return not self.warnings


class GeneratedInvalid(Exception):
    """The generated YAML does not validate: a bug in the importer. Carries the YAML for the report."""

    def __init__(self, error: ConfigError, text: str, messages: tuple[Message, ...]) -> None:
        super().__init__(f"the generated YAML does not validate (an importer bug, please report it): {error}")
        self.text = text
        self.messages = messages


# --- the intermediate model ---------------------------------------------------------------------------


@dataclass
class _Garp:
    """keepalived's GARP settings (global, then per-instance overrides)."""

    repeat: int = 5
    delay: float = 5.0
    refresh: float = 0.0
    refresh_repeat: int = 1
    interval: float = 0.0
    gna_interval: float = 0.0
    refresh_repeat_at: Statement | None = None


@dataclass
class _Globals:
    version: int | None = None
    version_at: Statement | None = None
    strict: bool = False
    strict_at: Statement | None = None
    checksum_as_v2: bool = False
    lower_prio_no_advert: bool | None = None
    garp: _Garp = field(default_factory=_Garp)
    script_user: str | None = None
    check_unicast_src: bool = False


@dataclass
class _Script:
    name: str
    at: Statement
    command: str | None = None
    interval: float = 1.0
    timeout: float | None = None
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    used: bool = False


@dataclass
class _Instance:
    stmt: Statement
    name: str
    out: dict[str, Any] = field(default_factory=dict)
    addresses: list[tuple[VirtualAddress, Statement]] = field(default_factory=list)
    devs: list[tuple[str, Statement]] = field(default_factory=list)
    """`dev X` of virtual_ipaddress entries."""
    version: int | None = None
    version_at: Statement | None = None
    advert: tuple[float, Statement] | None = None
    state_master: bool = False
    priority_set: bool = False
    nopreempt_at: Statement | None = None
    preempt_delay_at: Statement | None = None
    accept: bool | None = None
    strict: bool | None = None
    strict_at: Statement | None = None
    checksum_as_v2: bool | None = None
    lower_prio_no_advert: bool | None = None
    auth: tuple[str, Statement] | None = None
    garp: _Garp = field(default_factory=_Garp)
    track_scripts: list[tuple[str, int | None, bool, Statement]] = field(default_factory=list)
    track_interfaces: list[tuple[str, int, bool, Statement]] = field(default_factory=list)
    sync_group: str | None = None
    track_files: list[tuple[str, int | None, bool, Statement]] = field(default_factory=list)
    unicast: _unicast.UnicastKeys = field(default_factory=_unicast.UnicastKeys)
    hooks: dict[str, Statement] = field(default_factory=dict)
    """keepalived notify keyword -> its statement (the last one given)."""


class _Converter:
    def __init__(self, tracking: bool) -> None:
        self.tracking = tracking
        self.messages: list[Message] = []
        self.globals = _Globals()
        self.scripts: dict[str, _Script] = {}
        self.weighted_groups: set[str] = set()
        """Sync groups with sync_group_tracking_weight (keepalived then applies members' weights)."""
        self.described: set[str] = set()
        """Scripts whose would-be mapping was already shown (without tracking support)."""
        self.origins: list[str] = []
        """Per output instance: where it came from, for a comment above it."""
        self.sync_groups: dict[str, str] = {}
        """instance name -> sync group name."""
        self.track_files: dict[str, track_files.TrackFile] = {}
        self.groups: list[syncgroups.Group] = []

    # --- messages ---

    def warn(self, at: Statement, text: str) -> None:
        self.messages.append(Message("warning", at.file, at.line, text))

    def note(self, at: Statement, text: str) -> None:
        self.messages.append(Message("note", at.file, at.line, text))

    def unknown(self, stmt: Statement, context: str) -> None:
        self.warn(stmt, f"{stmt.keyword}: unknown keyword in {context}; not imported (check keepalived's spelling)")

    # --- values ---

    def arg(self, stmt: Statement, index: int = 0) -> str | None:
        if len(stmt.args) <= index:
            self.warn(stmt, f"{stmt.keyword}: missing value; ignored")
            return None
        return stmt.args[index]

    def integer(self, stmt: Statement, lo: int, hi: int, index: int = 0) -> int | None:
        text = self.arg(stmt, index)
        if text is None:
            return None
        try:
            value = int(text, 10)
        except ValueError:
            self.warn(stmt, f"{stmt.keyword}: {text!r} is not a whole number; ignored (keepalived ignores it too)")
            return None
        if not lo <= value <= hi:
            self.warn(stmt, f"{stmt.keyword}: {value} is outside {lo}..{hi}; ignored (keepalived ignores it too)")
            return None
        return value

    def number(self, stmt: Statement, lo: float, hi: float, index: int = 0) -> float | None:
        text = self.arg(stmt, index)
        if text is None:
            return None
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            self.warn(stmt, f"{stmt.keyword}: {text!r} is not a number; ignored (keepalived ignores it too)")
            return None
        if not lo <= value <= hi:
            self.warn(stmt, f"{stmt.keyword}: {text} is outside {lo:g}..{hi:g}; ignored (keepalived ignores it too)")
            return None
        return value

    def flag(self, stmt: Statement) -> bool | None:
        """keepalived's optional boolean: no argument means true."""
        if not stmt.args:
            return True
        word = stmt.args[0].lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        self.warn(stmt, f"{stmt.keyword}: {stmt.args[0]!r} is not true/false; ignored (keepalived ignores it too)")
        return None

    def no_block(self, stmt: Statement) -> bool:
        if stmt.block is not None:
            self.warn(stmt, f"{stmt.keyword}: takes no {{ }} block here; ignored")
            return False
        return True

    def block(self, stmt: Statement) -> list[Statement] | None:
        if stmt.block is None:
            self.warn(stmt, f"{stmt.keyword}: needs a {{ }} block; ignored")
        return stmt.block

    # --- top level ---

    def run(self, statements: list[Statement]) -> dict[str, Any]:
        # keepalived applies global_defs and vrrp_script wherever they appear, so read them first.
        for stmt in statements:
            if stmt.keyword == "global_defs" and self.block(stmt) is not None:
                assert stmt.block is not None
                for sub in stmt.block:
                    self.global_def(sub)
            elif stmt.keyword == "vrrp_script" and self.block(stmt) is not None:
                self.vrrp_script(stmt)
            elif stmt.keyword == "vrrp_sync_group" and self.block(stmt) is not None:
                self.sync_group(stmt)
            elif stmt.keyword in ("track_file", "vrrp_track_file") and self.block(stmt) is not None:
                track_files.definition(self, stmt)
        instances: list[_Instance] = []
        for stmt in statements:
            if stmt.keyword == "vrrp_instance":
                if self.block(stmt) is not None:
                    inst = self.instance(stmt)
                    if inst is not None:
                        instances.append(inst)
            elif stmt.keyword in ("global_defs", "vrrp_script", "vrrp_sync_group", "track_file", "vrrp_track_file"):
                pass
            elif stmt.keyword in TOP_UNMAPPED:
                self.warn(stmt, f"{stmt.keyword}: {TOP_UNMAPPED[stmt.keyword]}")
            else:
                self.unknown(stmt, "the top level")
        outputs = self.finish(instances)
        groups = syncgroups.groups_out(self, instances, outputs)
        doc: dict[str, Any] = {}
        scripts = {s.name: s for s in self.scripts.values() if s.used}
        if self.tracking and scripts:
            doc["track_scripts"] = {name: self.script_out(s) for name, s in scripts.items()}
        for s in self.scripts.values():
            if not s.used:
                self.note(s.at, f"vrrp_script {s.name}: no instance tracks it; not imported (keepalived skips it too)")
        files = track_files.top_level(self)
        if self.tracking and files:
            doc["track_files"] = files
        doc["instances"] = outputs
        if groups:
            doc["sync_groups"] = groups
        return doc

    def global_def(self, stmt: Statement) -> None:
        g, key = self.globals, stmt.keyword
        if key == "vrrp_version":
            value = self.integer(stmt, 2, 3)
            if value is not None:
                g.version, g.version_at = value, stmt
        elif key == "vrrp_strict":
            g.strict, g.strict_at = True, stmt
        elif key == "v3_checksum_as_v2":
            g.checksum_as_v2 = bool(self.flag(stmt))
        elif key == "vrrp_lower_prio_no_advert":
            g.lower_prio_no_advert = self.flag(stmt)
        elif key in ("vrrp_garp_master_delay", "vrrp_garp_master_repeat", "vrrp_garp_master_refresh"):
            self.garp_key(g.garp, stmt, key.removeprefix("vrrp_"))
        elif key == "vrrp_garp_master_refresh_repeat":
            self.garp_key(g.garp, stmt, "garp_master_refresh_repeat")
        elif key in ("vrrp_garp_interval", "vrrp_gna_interval"):
            value = self.number(stmt, 0, 10)
            if value is not None:
                if key == "vrrp_garp_interval":
                    g.garp.interval = value
                else:
                    g.garp.gna_interval = value
        elif key == "script_user":
            user = self.arg(stmt)
            if user is not None:
                g.script_user = user
                if len(stmt.args) > 1:
                    self.warn(
                        stmt,
                        f"script_user: vrrpd runs a script with the user's primary group; group "
                        f"{stmt.args[1]} is not imported",
                    )
        elif key == "vrrp_check_unicast_src":
            g.check_unicast_src = True
            self.note(stmt, f"{key}: {_unicast.CHECK_SRC_NOTE}")
        elif key == "vrrp_min_garp":
            if self.flag(stmt):
                g.garp.repeat, g.garp.delay, g.garp.refresh = 1, 0.0, 0.0
        elif key in GLOBAL_IGNORED:
            self.note(stmt, f"{key}: ignored: {GLOBAL_IGNORED[key]}")
        elif key in GLOBAL_UNMAPPED:
            if key == "vrrp_down_timer_adverts" and stmt.args == ["3"]:
                self.note(stmt, f"{key}: 3 is what vrrpd always uses")
            else:
                self.warn(stmt, f"{key}: not supported: {GLOBAL_UNMAPPED[key]}")
        elif key.startswith("vrrp_netlink_"):
            self.note(stmt, f"{key}: ignored: vrrpd sizes its netlink buffers itself")
        elif key.startswith(("lvs_", "checker_", "smtp_", "bfd_", "snmp_", "dbus_", "notification_")):
            self.note(stmt, f"{key}: ignored: not VRRP")
        else:
            self.unknown(stmt, "global_defs")

    def garp_key(self, garp: _Garp, stmt: Statement, key: str) -> None:
        if key == "garp_master_delay":
            value = self.number(stmt, 0, 3600)
            if value is not None:
                garp.delay = value
        elif key == "garp_master_repeat":
            count = self.integer(stmt, 1, 100)
            if count is not None:
                garp.repeat = count
        elif key == "garp_master_refresh":
            value = self.number(stmt, 0, 86400)
            if value is not None:
                garp.refresh = value
        elif key == "garp_master_refresh_repeat":
            count = self.integer(stmt, 1, 100)
            if count is not None:
                garp.refresh_repeat, garp.refresh_repeat_at = count, stmt

    def vrrp_script(self, stmt: Statement) -> None:
        if not stmt.args:
            self.warn(stmt, "vrrp_script: has no name; ignored")
            return
        script = _Script(stmt.args[0], stmt)
        assert stmt.block is not None
        for sub in stmt.block:
            key = sub.keyword
            if key == "script":
                script.command = " ".join(sub.args) if sub.args else None
            elif key == "interval":
                script.interval = self.number(sub, 0.001, 86400) or script.interval
            elif key == "timeout":
                script.timeout = self.number(sub, 0.001, 86400) or script.timeout
            elif key == "weight":
                weight = self.integer(sub, -253, 253)
                if weight is not None:
                    script.weight = weight
                script.reverse = "reverse" in sub.args[1:]
            elif key in ("rise", "fall"):
                value = self.integer(sub, 1, 100)
                if value is not None:
                    setattr(script, key, value)
            elif key == "user":
                if sub.args:
                    script.user = sub.args[0]
                if len(sub.args) > 1:
                    self.warn(
                        sub,
                        f"user: vrrpd runs a script with the user's primary group; group {sub.args[1]} is not imported",
                    )
            elif key == "init_fail":
                self.warn(sub, "init_fail: vrrpd starts every tracker as not yet known, not failed")
            else:
                self.unknown(sub, f"vrrp_script {script.name}")
        if script.command is None:
            self.warn(stmt, f"vrrp_script {script.name}: has no script line; keepalived ignores it, so does the import")
            return
        self.scripts[script.name] = script

    def script_out(self, script: _Script) -> dict[str, Any]:
        assert script.command is not None
        try:
            # keepalived runs the command directly, split at spaces with quotes grouping; so does shlex, and
            # the list shows the reviewer the exact argv.
            command: list[str] | str = shlex.split(script.command)
        except ValueError:
            command = script.command
        out: dict[str, Any] = {
            "command": command,
            "interval": yaml_number(script.interval),
            "timeout": yaml_number(script.timeout if script.timeout is not None else script.interval),
            "rise": script.rise,
            "fall": script.fall,
        }
        if script.user is not None:
            out["user"] = script.user
        elif self.globals.script_user is not None:
            out["user"] = self.globals.script_user
        return out

    def sync_group(self, stmt: Statement) -> None:
        syncgroups.read_group(self, stmt)

    # --- one instance ---

    def instance(self, stmt: Statement) -> _Instance | None:
        raw_name = stmt.args[0] if stmt.args else ""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", raw_name) or "instance"
        if name != raw_name:
            self.note(stmt, f"vrrp_instance {raw_name!r}: renamed {name!r} (vrrpd names use A-Z a-z 0-9 _ . -)")
        inst = _Instance(stmt, name)
        inst.sync_group = self.sync_groups.get(raw_name)
        g = self.globals
        inst.garp = _Garp(**{k: getattr(g.garp, k) for k in _Garp.__dataclass_fields__})
        assert stmt.block is not None
        for sub in stmt.block:
            handler = _INSTANCE_HANDLERS.get(sub.keyword)
            if handler is not None:
                handler(self, inst, sub)
            elif sub.keyword in INSTANCE_UNMAPPED:
                self.warn(sub, f"{sub.keyword}: {INSTANCE_UNMAPPED[sub.keyword]}")
            elif sub.keyword in INSTANCE_IGNORED:
                self.note(sub, f"{sub.keyword}: ignored: {INSTANCE_IGNORED[sub.keyword]}")
            else:
                self.unknown(sub, f"vrrp_instance {raw_name}")
        for key, what in (("interface", "interface"), ("vrid", "virtual_router_id")):
            if key not in inst.out:
                self.warn(stmt, f"vrrp_instance {raw_name}: has no {what}, which vrrpd needs; instance not imported")
                return None
        if not inst.addresses:
            self.warn(
                stmt,
                f"vrrp_instance {raw_name}: has no virtual_ipaddress; vrrpd needs at least one; instance not imported",
            )
            return None
        return inst

    def finish(self, instances: list[_Instance]) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []
        seen_names: set[str] = set()
        routers: dict[tuple[str, int, int], str] = {}
        owners: dict[tuple[str, str], str] = {}
        for inst in instances:
            out = self.resolve(inst)
            kept = []
            for address in out["virtual_addresses"]:
                owner = owners.get((out["interface"], address.split("/")[0]))
                if owner is not None:
                    self.warn(
                        inst.stmt,
                        f"vrrp_instance {out['name']}: {address} is already a virtual address of "
                        f"{owner} on {out['interface']}; vrrpd allows one instance per address (not imported)",
                    )
                else:
                    kept.append(address)
            if not kept:
                self.warn(inst.stmt, f"vrrp_instance {out['name']}: no virtual address left; instance not imported")
                continue
            out["virtual_addresses"] = kept
            if out["name"] in seen_names:
                self.warn(inst.stmt, f"vrrp_instance {out['name']}: the name is used twice; instance not imported")
                continue
            key = (out["interface"], 6 if ":" in out["virtual_addresses"][0] else 4, out["vrid"])
            if key in routers:
                self.warn(
                    inst.stmt,
                    f"vrrp_instance {out['name']}: VRID {out['vrid']} on {out['interface']} is already used by "
                    f"{routers[key]} (keepalived tells them apart by unicast peers or mcast_dst_ip; vrrpd has one "
                    "instance per VRID, interface and family); instance not imported",
                )
                continue
            seen_names.add(out["name"])
            routers[key] = out["name"]
            for address in kept:
                owners[(out["interface"], address.split("/")[0])] = out["name"]
            outputs.append(out)
            self.origins.append(f"vrrp_instance {' '.join(inst.stmt.args)} ({inst.stmt.where})")
        return outputs

    def resolve(self, inst: _Instance) -> dict[str, Any]:
        g, stmt = self.globals, inst.stmt
        family = inst.addresses[0][0].version
        # VRRP version: keepalived's default is the global vrrp_version (itself 2), IPv6 always 3.
        if inst.version is not None:
            version = inst.version
            if version == 2 and family == 6:
                assert inst.version_at is not None
                self.warn(
                    inst.version_at,
                    "version: VRRPv2 is IPv4 only (RFC 3768); vrrpd uses version: 3 here. Check what the peers run",
                )
                version = 3
        elif family == 6:
            version = 3
        elif g.version is not None:
            version = g.version
        else:
            version = 2
            self.note(
                stmt,
                f"vrrp_instance {inst.name}: no version: keepalived's default for IPv4 is VRRPv2, so "
                "version: 2 (vrrpd's own default is 3; change both sides together to move to v3)",
            )
        strict = inst.strict if inst.strict is not None else g.strict

        out: dict[str, Any] = {"name": inst.name, "interface": inst.out["interface"], "vrid": inst.out["vrid"]}
        priority = inst.out.get("priority", 100)
        if inst.state_master and not inst.priority_set:
            priority = 255
            self.note(
                stmt,
                "state MASTER without priority: keepalived makes it the address owner (priority 255); "
                "so does the import",
            )
        out["priority"] = priority
        out["advert_interval"] = self.advert_interval(inst, version)
        out["version"] = version
        if inst.nopreempt_at is not None:
            if priority == 255:
                self.note(
                    inst.nopreempt_at,
                    "nopreempt: ignored for the address owner (priority 255), which always takes over at once",
                )
            else:
                out["preempt"] = False
        if "preempt_delay" in inst.out:
            if inst.nopreempt_at is not None and priority != 255:
                self.note(inst.preempt_delay_at, "preempt_delay: no effect with nopreempt; not imported")
            else:
                out["preempt_delay"] = inst.out["preempt_delay"]
        for dev, at in inst.devs:
            if dev != out["interface"]:
                self.warn(
                    at,
                    f"virtual_ipaddress {at.keyword}: dev {dev}: vrrpd puts the addresses on the instance "
                    f"interface ({out['interface']}); make an instance on {dev} if it must live there",
                )
        addresses: list[str] = []
        for address, at in inst.addresses:
            ip = address.ip
            if ip.is_multicast or ip.is_unspecified or ip.is_loopback or str(ip) == "255.255.255.255":
                self.warn(at, f"virtual_ipaddress {address}: not a unicast address; not imported")
            elif address.version != family:
                self.warn(
                    at,
                    f"virtual_ipaddress {address}: not IPv{family} like the first address; vrrpd has one "
                    "family per instance. Make a separate instance for it (not imported)",
                )
            elif str(address) in addresses or any(a.split("/")[0] == str(address.ip) for a in addresses):
                self.warn(at, f"virtual_ipaddress {address}: listed twice; imported once")
            elif len(addresses) == 255:
                self.warn(
                    at,
                    f"virtual_ipaddress {address}: beyond 255 addresses (keepalived moves these out of the "
                    "advert); not imported, make a second instance",
                )
            else:
                addresses.append(str(address))
        out["virtual_addresses"] = addresses

        # Accept mode: keepalived accepts unless strict mode, where only the owner accepts.
        accept = inst.accept if inst.accept is not None else not strict
        strict_at = inst.strict_at or g.strict_at
        if not accept and priority != 255:
            out["accept_mode"] = False
            if inst.accept is None and strict_at is not None:
                self.note(
                    strict_at,
                    f"strict mode: keepalived drops traffic to the addresses of {inst.name} (not the "
                    "owner) unless `accept` is set; mapped to accept_mode: false",
                )
        as_v2 = inst.checksum_as_v2 if inst.checksum_as_v2 is not None else g.checksum_as_v2
        if as_v2 and version == 3 and family == 4:
            out["checksum"] = "message-only"
        no_advert = inst.lower_prio_no_advert
        if no_advert is None:
            no_advert = g.lower_prio_no_advert if g.lower_prio_no_advert is not None else strict
        if strict and strict_at is not None:
            what = "ignores its lower_prio_no_advert false and " if not no_advert else ""
            self.note(
                strict_at,
                f"strict mode: keepalived {what}does not answer a lower-priority advert on "
                f"{inst.name}; mapped to advert_on_lower_priority: false",
            )
            no_advert = True
        if no_advert:
            out["advert_on_lower_priority"] = False
        if inst.auth is not None:
            password, at = inst.auth
            if version == 2:
                out["authentication"] = {"type": "simple", "password": password}
            else:
                self.note(at, "authentication: keepalived ignores it for VRRPv3 (RFC 5798 has none); not imported")
        garp = self.garp_out(inst, family)
        if garp:
            out["garp"] = garp
        if inst.out.get("virtual_mac"):
            out["virtual_mac"] = True
        _unicast.unicast_out(self, inst, out, family, g.check_unicast_src)
        self.tracking_out(inst, out)
        self.notify_out(inst, out)
        return out

    def notify_out(self, inst: _Instance, out: dict[str, Any]) -> None:
        hooks = self.hooks_out(inst.hooks, "vrrp_instance", inst.name, inst.stmt)
        if hooks is not None:
            out["notify"] = hooks

    def hooks_out(
        self, statements: dict[str, Statement], block: str, name: str, at: Statement
    ) -> dict[str, Any] | None:
        """notify_* of a vrrp_instance or (block "vrrp_sync_group") a group -> its notify: section, None when no
        hook was imported. keepalived splits the script text at spaces with quotes grouping and runs it without
        a shell, as shlex.split and vrrpd do; the generic `notify` gets the same appended arguments (INSTANCE|GROUP
        NAME STATE PRIORITY) in both."""
        hooks: dict[str, Any] = {}
        users: dict[str, Statement] = {}
        for keyword, key in HOOK_KEYS.items():
            stmt = statements.get(keyword)
            if stmt is None:
                continue
            try:
                argv = shlex.split(stmt.args[0])
            except ValueError as e:
                self.warn(stmt, f"{keyword}: cannot split {stmt.args[0]!r} into arguments ({e}); not imported")
                continue
            if not argv:
                self.warn(stmt, f"{keyword}: the script is empty; not imported")
                continue
            hooks[key] = argv
            if len(stmt.args) > 1:
                user, _, group = stmt.args[1].partition(":")
                group = group or (stmt.args[2] if len(stmt.args) > 2 else "")
                if user:
                    users.setdefault(user, stmt)
                if group:
                    self.warn(
                        stmt,
                        f"{keyword}: vrrpd runs hooks with the user's primary group; group {group} is not imported",
                    )
        if not hooks:
            return None
        if len(users) > 1:
            first, *others = users
            unit = "instance" if block == "vrrp_instance" else "sync group"
            for other in others:
                self.warn(
                    users[other],
                    f"notify scripts of {name} run as different users ({', '.join(users)}); vrrpd has one "
                    f"notify.user per {unit} and uses {first}",
                )
        user = next(iter(users), None) or self.globals.script_user
        self.note(
            at,
            f"{block} {name}: notify scripts run one at a time in transition order in vrrpd, each killed "
            "after notify.timeout (30 s by default); keepalived runs them concurrently and never kills them",
        )
        return {**hooks, **({"user": user} if user is not None else {})}

    def remember_hook(self, statements: dict[str, Statement], block: str, stmt: Statement) -> None:
        """One notify_* statement of `block` (e.g. "vrrp_instance VI_1"); keepalived uses the last one given."""
        if not stmt.args:
            self.warn(stmt, f"{stmt.keyword}: has no script; ignored")
            return
        if stmt.keyword in statements:
            self.warn(
                stmt,
                f"{stmt.keyword}: given twice in {block}; vrrpd imports this last one, check it is the one keepalived "
                "used",
            )
        statements[stmt.keyword] = stmt

    def advert_interval(self, inst: _Instance, version: int) -> float | int:
        if inst.advert is None:
            return 1
        seconds, at = inst.advert
        if version == 2:
            rounded = max(1, min(255, math.floor(seconds + 0.5)))
            if rounded != seconds:
                self.note(
                    at,
                    f"advert_int {at.args[0]}: VRRPv2 counts whole seconds; keepalived rounds it to "
                    f"{rounded}, so does the import",
                )
            return rounded
        centis = math.floor(seconds * 100 + 0.5)
        if centis > 4095:
            self.warn(
                at,
                f"advert_int {at.args[0]}: over 40.95 s, the VRRPv3 maximum (keepalived 2.2.7 reports an error and "
                f"uses 40.95; a version that does not check sends the low 12 bits, {(centis & 0xFFF) / 100:g} s); "
                "set to 40.95: choose the interval you mean",
            )
            return _MAX_V3_INTERVAL
        if centis != round(seconds * 100, 6):
            self.note(at, f"advert_int {at.args[0]}: VRRPv3 counts centiseconds; rounded to {centis / 100:g}")
        return yaml_number(max(1, centis) / 100)

    def garp_out(self, inst: _Instance, family: int) -> dict[str, Any]:
        k = inst.garp
        if k.refresh_repeat != 1 and k.refresh_repeat_at is not None:
            self.warn(
                k.refresh_repeat_at,
                f"garp_master_refresh_repeat {k.refresh_repeat}: vrrpd sends one message "
                "per address at each refresh; use a shorter garp.refresh instead",
            )
        garp = {
            "count": k.repeat,
            "interval": yaml_number(k.interval if family == 4 else k.gna_interval),
            "repeat_delay": yaml_number(k.delay),
            # keepalived sends the second burst only when garp_master_delay is not 0
            "repeat_count": k.repeat if k.delay > 0 else 0,
            "refresh": yaml_number(k.refresh),
        }
        defaults = {"count": 5, "interval": 0, "repeat_delay": 5, "repeat_count": 5, "refresh": 0}
        return {key: value for key, value in garp.items() if value != defaults[key]}

    def tracking_out(self, inst: _Instance, out: dict[str, Any]) -> None:
        scripts: list[dict[str, Any]] = []
        for name, weight, reverse, at in inst.track_scripts:
            script = self.scripts.get(name)
            if script is None:
                self.warn(at, f"track_script {name}: no vrrp_script of that name (keepalived ignores it); not imported")
                continue
            if weight is None:
                weight = script.weight
                reverse = reverse or script.reverse
            if inst.sync_group is not None and weight != 0:
                syncgroups.member_weight(self, inst, "track_script", name, weight, at)
                continue
            script.used = True
            entry = self.tracker("track_script", "name", name, weight, reverse, inst, at)
            if entry is not None:
                scripts.append(entry)
        interfaces: list[dict[str, Any]] = []
        for name, weight, reverse, at in inst.track_interfaces:
            if name == inst.out["interface"]:
                if weight == 0:
                    self.note(
                        at,
                        f"track_interface {name}: the instance's own interface; vrrpd always tracks it "
                        "(down = fault), so it is not listed",
                    )
                else:
                    self.warn(
                        at,
                        f"track_interface {name} weight {weight}: the instance's own interface always "
                        "faults the instance in vrrpd when it goes down; the weight is not imported",
                    )
                continue
            if inst.sync_group is not None and weight != 0:
                syncgroups.member_weight(self, inst, "track_interface", name, weight, at)
                continue
            entry = self.tracker("track_interface", "interface", name, weight, reverse, inst, at)
            if entry is not None:
                interfaces.append(entry)
        files = track_files.output(self, inst)
        if not self.tracking:
            for name, _weight, _reverse, _at in inst.track_scripts:
                script = self.scripts.get(name)
                if script is not None and name not in self.described:
                    self.described.add(name)
                    self.warn(
                        script.at,
                        f"vrrp_script {name}: vrrpd cannot run track scripts yet; would map to top-level "
                        f"track_scripts: {{{name}: {flow(self.script_out(script))}}}",
                    )
            return
        if scripts:
            out["track_scripts"] = scripts
        if interfaces:
            out["track_interfaces"] = interfaces
        if files:
            out["track_files"] = files

    def tracker(
        self, keyword: str, key: str, name: str, weight: int, reverse: bool, inst: _Instance | None, at: Statement
    ) -> dict[str, Any] | None:
        """keepalived: weight 0 = fault while failing; > 0 added while OK; < 0 subtracted while failing."""
        if reverse:
            self.warn(
                at, f"{keyword} {name}: reverse is not supported by vrrpd; invert the check itself (not imported)"
            )
            return None
        entry: dict[str, Any] = {key: name}
        if weight == 0:
            entry["on_failure"] = "fault"
            meaning = "the instance goes to fault while it fails"
        else:
            entry["weight"] = weight
            meaning = f"priority +{weight} while it is OK" if weight > 0 else f"priority {weight} while it fails"
        if not self.tracking:
            self.warn(
                at,
                f"{keyword} {name}: vrrpd cannot track yet ({meaning}); would map to "
                f"{'track_scripts' if key == 'name' else 'track_interfaces'}: [{flow(entry)}]",
            )
            return None
        return entry


# --- instance keyword handlers ---------------------------------------------------------------------------


def _h_interface(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    name = c.arg(stmt)
    if name is not None and c.no_block(stmt):
        inst.out["interface"] = name


def _h_vrid(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    value = c.integer(stmt, 1, 255)
    if value is not None:
        inst.out["vrid"] = value


def _h_priority(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    value = c.integer(stmt, 1, 255)
    if value is not None:
        inst.out["priority"], inst.priority_set = value, True


def _h_state(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    word = (c.arg(stmt) or "").upper()
    if word not in ("MASTER", "BACKUP"):
        c.warn(stmt, f"state: {' '.join(stmt.args)!r} is not MASTER or BACKUP; ignored")
        return
    inst.state_master = word == "MASTER"
    c.note(
        stmt,
        f"state {word}: vrrpd has no initial state; every router but the owner (priority 255) starts "
        "as backup, as in keepalived",
    )


def _h_advert(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    value = c.number(stmt, 0.01, 255)
    if value is not None:
        inst.advert = (value, stmt)


def _h_version(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    value = c.integer(stmt, 2, 3)
    if value is not None:
        inst.version, inst.version_at = value, stmt


def _h_nopreempt(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.nopreempt_at = stmt


def _h_preempt_delay(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    value = c.number(stmt, 0, 1000)
    if value is not None:
        inst.out["preempt_delay"] = yaml_number(value)
        inst.preempt_delay_at = stmt


def _h_accept(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.accept = stmt.keyword == "accept"


def _h_vips(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    entries = c.block(stmt)
    if entries is None:
        return
    for entry in entries:
        address = _address(c, entry)
        if address is None:
            continue
        args = entry.args
        i = 0
        while i < len(args):
            option = args[i]
            value = args[i + 1] if i + 1 < len(args) else None
            takes_value = option in ("brd", "broadcast", "dev", "scope", "label", "peer", "preferred_lft")
            if takes_value and value is None:
                c.warn(entry, f"virtual_ipaddress {entry.keyword}: {option} without a value; ignored")
                break
            if option == "dev":
                assert value is not None
                inst.devs.append((value, entry))  # checked once the instance's interface is known
            elif option == "scope":
                if value != "global":
                    c.warn(
                        entry,
                        f"virtual_ipaddress {entry.keyword}: scope {value}: vrrpd adds addresses with "
                        "the kernel's default scope; ignored",
                    )
            elif option == "label":
                c.warn(
                    entry,
                    f"virtual_ipaddress {entry.keyword}: label {value}: vrrpd does not label addresses "
                    "(it tags them with its own protocol id); ignored. Scripts that look for the label must "
                    "match the address instead",
                )
            elif option in ("brd", "broadcast", "peer", "preferred_lft"):
                c.warn(entry, f"virtual_ipaddress {entry.keyword}: {option} {value}: not supported by vrrpd; ignored")
            elif option in (
                "home",
                "-nodad",
                "nodad",
                "mngtmpaddr",
                "noprefixroute",
                "autojoin",
                "no_track",
                "track",
                "use_vmac",
            ):
                c.warn(entry, f"virtual_ipaddress {entry.keyword}: {option}: not supported by vrrpd; ignored")
            else:
                c.warn(entry, f"virtual_ipaddress {entry.keyword}: unknown option {option!r}; ignored")
            i += 2 if takes_value else 1
        inst.addresses.append((address, entry))


def _address(c: _Converter, entry: Statement) -> VirtualAddress | None:
    text = entry.keyword
    if entry.block is not None:
        c.warn(entry, f"virtual_ipaddress {text}: unexpected {{ }} block; ignored")
    try:
        if "/" in text:
            return ip_interface(text)
        address = ip_interface(text)
        return ip_interface(f"{address.ip}/{address.max_prefixlen}")
    except ValueError:
        pass
    if re.fullmatch(r"[0-9a-fA-F.:]+-[0-9a-fA-F]+(/\d+)?", text):
        c.warn(
            entry,
            f"virtual_ipaddress {text}: address ranges are not expanded by the import; list the "
            "addresses one by one (not imported)",
        )
    else:
        c.warn(entry, f"virtual_ipaddress {text}: not an IP address; not imported")
    return None


def _h_auth(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    block = c.block(stmt)
    if block is None:
        return
    kind: str | None = None
    password: Statement | None = None
    for sub in block:
        if sub.keyword == "auth_type":
            kind = (c.arg(sub) or "").upper()
        elif sub.keyword == "auth_pass":
            password = sub
        else:
            c.unknown(sub, "authentication")
    if kind == "AH":
        c.warn(
            stmt,
            "authentication: auth_type AH (IPsec AH, RFC 2338) is not supported by vrrpd (RFC 3768 "
            "removed it); imported without authentication, so AH peers will reject our adverts",
        )
        return
    if kind != "PASS" or password is None:
        c.warn(stmt, "authentication: needs auth_type PASS and auth_pass; ignored")
        return
    text = password.args[0] if password.args else ""
    data = text.encode()
    if len(data) > 8:
        cut = data[:8].decode(errors="ignore")
        if len(cut.encode()) != 8:
            c.warn(
                password,
                "auth_pass: its first 8 bytes end inside a UTF-8 character, which YAML cannot hold; "
                "choose an ASCII password on every router (not imported)",
            )
            return
        c.note(
            password, f"auth_pass: longer than 8 bytes; keepalived uses only the first 8 ({cut!r}), so does the import"
        )
        text = cut
    if not text:
        c.warn(password, "auth_pass: empty; ignored")
        return
    inst.auth = (text, stmt)


def _h_use_vmac(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.out["virtual_mac"] = True
    for arg in stmt.args:
        if _MAC.fullmatch(arg):
            c.warn(
                stmt,
                f"use_vmac: MAC {arg}: vrrpd always uses the RFC 9568 MAC 00:00:5e:00:01:VRID "
                "(00:00:5e:00:02:VRID for IPv6); ignored",
            )
        elif arg in ("netlink_notify_msg", "group") or arg.isdigit():
            c.note(stmt, f"use_vmac: {arg}: ignored")
        else:
            c.note(
                stmt,
                f"use_vmac: the name {arg} is ignored; vrrpd names the macvlan vrrp4-<vrid> "
                "(vrrp6-<vrid> for IPv6). Update scripts or firewall rules that use the name",
            )


def _h_checksum(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.checksum_as_v2 = c.flag(stmt)


def _h_lower_prio(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.lower_prio_no_advert = c.flag(stmt)


def _h_strict(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    inst.strict = c.flag(stmt)
    inst.strict_at = stmt


def _h_garp(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    c.garp_key(inst.garp, stmt, stmt.keyword)


def _h_higher_prio(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    if c.flag(stmt):
        c.warn(stmt, "higher_prio_send_advert: vrrpd does not send an extra advert before yielding; ignored")


def _h_down_timer(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    if stmt.args == ["3"]:
        c.note(stmt, "down_timer_adverts: 3 is what vrrpd always uses")
    else:
        c.warn(stmt, "down_timer_adverts: vrrpd always waits 3 adverts (RFC 9568); raise advert_interval instead")


def _h_notify(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    c.remember_hook(inst.hooks, f"vrrp_instance {inst.name}", stmt)


def _h_track_script(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    for entry in c.block(stmt) or []:
        weight, reverse = _weight(c, entry)
        inst.track_scripts.append((entry.keyword, weight, reverse, entry))


def _h_track_interface(c: _Converter, inst: _Instance, stmt: Statement) -> None:
    for entry in c.block(stmt) or []:
        weight, reverse = _weight(c, entry)
        inst.track_interfaces.append((entry.keyword, weight or 0, reverse, entry))


def _weight(c: _Converter, entry: Statement, limit: int = 253) -> tuple[int | None, bool]:
    weight: int | None = None
    reverse = False
    args = list(entry.args)
    while args:
        word = args.pop(0)
        if word == "weight" and args:
            text = args.pop(0)
            try:
                weight = int(text)
            except ValueError:
                c.warn(entry, f"{entry.keyword}: weight {text!r} is not a whole number; ignored")
            else:
                if not -limit <= weight <= limit:
                    c.warn(entry, f"{entry.keyword}: weight {weight} is outside -{limit}..{limit}; ignored")
                    weight = None
        elif word == "reverse":
            reverse = True
        elif word == "noreverse":
            reverse = False
        else:
            c.warn(entry, f"{entry.keyword}: unknown option {word!r}; ignored")
    return weight, reverse


_INSTANCE_HANDLERS: dict[str, Callable[[_Converter, _Instance, Statement], None]] = {
    "interface": _h_interface,
    "virtual_router_id": _h_vrid,
    "priority": _h_priority,
    "state": _h_state,
    "advert_int": _h_advert,
    "version": _h_version,
    "nopreempt": _h_nopreempt,
    "preempt_delay": _h_preempt_delay,
    "accept": _h_accept,
    "no_accept": _h_accept,
    "virtual_ipaddress": _h_vips,
    "authentication": _h_auth,
    "use_vmac": _h_use_vmac,
    "v3_checksum_as_v2": _h_checksum,
    "lower_prio_no_advert": _h_lower_prio,
    "strict_mode": _h_strict,
    "garp_master_delay": _h_garp,
    "garp_master_repeat": _h_garp,
    "garp_master_refresh": _h_garp,
    "garp_master_refresh_repeat": _h_garp,
    "higher_prio_send_advert": _h_higher_prio,
    "down_timer_adverts": _h_down_timer,
    "track_script": _h_track_script,
    "track_interface": _h_track_interface,
    "track_file": track_files.instance_list,
    **dict.fromkeys(_unicast.KEYWORDS, _unicast.handle),
    "notify_master": _h_notify,
    "notify_backup": _h_notify,
    "notify_fault": _h_notify,
    "notify_stop": _h_notify,
    "notify": _h_notify,
}


# --- output ---------------------------------------------------------------------------------------------


def tracking_supported() -> bool:
    """Whether this vrrpd's config schema has track_scripts / track_interfaces (they are being added)."""
    base = "instances:\n  - {name: a, interface: eth0, vrid: 1, virtual_addresses: [203.0.113.1/24]%s}\n"
    for doc in ("track_scripts: 0\n" + base % "", base % ", track_interfaces: 0"):
        try:
            parse_config(doc, "<probe>")
        except ConfigError as e:
            if e.problem.startswith("unknown key"):
                return False
    return True


def import_keepalived(path: str, config_id: str | None = None, tracking: bool | None = None) -> ImportResult:
    """Read PATH (and its includes) and convert it. Raises `SyntaxProblem` when keepalived's syntax cannot
    be parsed, `GeneratedInvalid` when the result would not validate (a bug).

    `tracking`: map track_script / track_interface onto vrrpd's tracking keys (default: if this vrrpd's
    schema has them); otherwise each one is a warning that shows the mapping it would get.
    """
    parsed = parse_file(path, config_id)
    converter = _Converter(tracking_supported() if tracking is None else tracking)
    for file, line, text in parsed.warnings:
        converter.messages.append(Message("warning", file, line, text))
    doc = converter.run(parsed.statements)
    order = {file: index for index, file in enumerate(parsed.files)}
    converter.messages.sort(key=lambda m: (order.get(m.file, len(order)), m.line is None, m.line or 0))
    if not doc["instances"]:
        converter.messages.append(
            Message("warning", path, None, "no vrrp_instance could be imported, so there is no YAML to print")
        )
        return ImportResult("", doc, tuple(converter.messages), tuple(parsed.files))
    text = render(doc, path, converter.origins)
    try:
        config = parse_config(text, "<generated>")
    except ConfigError as e:
        raise GeneratedInvalid(e, text, tuple(converter.messages)) from None
    for warning in config.warnings:
        converter.messages.append(Message("note", path, None, f"vrrpd's own check of the output: {warning}"))
    return ImportResult(text, doc, tuple(converter.messages), tuple(parsed.files))
