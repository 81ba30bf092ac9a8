"""YAML configuration -> frozen, validated dataclasses.

Every problem is reported as one `ConfigError` sentence naming the file, the key path and the line, e.g.
``/etc/vrrpd/vrrpd.yaml: instances[1].priority (line 14): 300 is outside 1..255``; non-fatal findings go
to `Config.warnings` in the same style. Nothing here touches the network: the daemon validates a reload
with `load_config()` before it changes anything, and `vrrpd check` runs the same code.

Decisions worth knowing:
- YAML 1.1 (PyYAML's safe loader): unquoted ``yes``/``no``/``on``/``off`` are booleans. Boolean keys
  accept exactly what YAML reads as a boolean and reject strings (``"yes"``) and numbers (``1``), so a
  quoted value never silently means something else. String keys reject such booleans with a hint to quote.
- Unknown keys are errors (with "did you mean"); so are duplicate keys, which PyYAML would silently
  collapse to the last one.
- ``defaults:`` gives any per-instance key except the identity ones; ``garp`` merges key by key. A
  VRRPv2-only key (``authentication``) inherited by a v3 instance is ignored, whereas set on the instance
  itself it is an error. A tracker list from ``defaults`` is replaced, not merged, by an instance's own.
- Tracking: top-level ``track_scripts`` defines checks by name; an instance lists the ones it uses, and the
  interfaces it watches, each with a non-zero ``weight`` or ``on_failure: fault``. ``weight: 0`` is an error:
  keepalived reads it as "fault", which its users often did not mean (keepalived pain point 4). Commands are
  argv lists (a string is split like a shell would, with shlex) and are never run through a shell.
- Track files: top-level ``track_files`` (vrrpd.config.track_files) names files holding an integer; an instance
  lists them like scripts (value x weight, or ``on_failure: fault`` while non-zero).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from vrrpd.config import track_files as config_track_files
from vrrpd.config.checker import Checker, Loc, Val, VirtualAddress, pick, what
from vrrpd.config.errors import ConfigError
from vrrpd.config.hooks import HooksConfig, parse_hooks
from vrrpd.config.syncgroups import SyncGroupConfig, check_sync_groups
from vrrpd.config.track_files import FileConfig
from vrrpd.config.unicast import DEFAULT_TTL, IPAddress, UnicastChecks
from vrrpd.config.yamlsrc import Seq, load_yaml
from vrrpd.defaults import DEFAULT_CONTROL_SOCKET
from vrrpd.protocol.constants import MAX_PRIORITY, MAX_WEIGHT, MIN_PRIORITY, OWNER_PRIORITY
from vrrpd.protocol.packet import MAX_INTERVAL_CS, MAX_V2_INTERVAL_S, AuthType, ChecksumForm, ChecksumMode, Family
from vrrpd.protocol.router import AddressCheck, RouterConfig
from vrrpd.protocol.tracking import Tracker, TrackerKind, effective_priority

_MAX_UNIX_PATH = 107  # sun_path is 108 bytes including the terminating NUL
NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
_IPV6_ADDRESSES_IN_1500 = (1500 - 40 - 8) // 16
"""90: an IPv6 advert with more no longer fits a 1500-byte frame (IPv4 fits 255 addresses in 1048 bytes)."""


class AcceptChecksum(StrEnum):
    """Which IPv4 VRRPv3 checksum forms a receiver accepts (IPv6 and VRRPv2 have a single form anyway)."""

    BOTH = "both"
    """Pseudo-header and message-only alike, so mixed peers (keepalived/FRR vs Cisco/Juniper) interoperate."""
    STRICT = "strict"
    """Only the form this instance transmits (`checksum`)."""


# --- the typed result -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GarpConfig:
    """Gratuitous ARP (IPv4) / unsolicited Neighbor Advertisement (IPv6) on becoming master (keepalived defaults)."""

    count: int = 5
    """Messages per virtual address sent at once on becoming master."""
    interval: float = 0.0
    """Seconds between two messages of one burst."""
    repeat_delay: float = 5.0
    """Seconds after becoming master before the second burst."""
    repeat_count: int = 5
    """Messages in the second burst; 0 = no second burst."""
    refresh: float = 0.0
    """Seconds between periodic re-announcements while master; 0 = off."""


@dataclass(frozen=True, slots=True)
class Authentication:
    """VRRPv2 simple-text password (RFC 3768 §5.3.6). It protects nothing; it exists for interop only."""

    type: AuthType
    password: bytes = field(repr=False)
    """At most 8 bytes (UTF-8); zero-padded on the wire."""


@dataclass(frozen=True, slots=True)
class ScriptConfig:
    """A check command (top-level `track_scripts`), run every `interval` seconds; exit status 0 = pass."""

    name: str
    command: tuple[str, ...]
    """argv; executed directly, never through a shell."""
    interval: float = 1.0
    """Seconds from the start of one run to the start of the next; a run still going at its next start skips it."""
    timeout: float = 1.0
    """Seconds before the run's process group gets SIGTERM (then SIGKILL); a timeout counts as a failure.
    Default: the interval."""
    rise: int = 1
    """Consecutive passes before the script counts as up."""
    fall: int = 1
    """Consecutive failures before the script counts as down."""
    user: str | None = None
    """Run as this user (and its primary group, no supplementary groups); None = the daemon's own user."""
    line: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """One virtual router: one (interface, address family, VRID)."""

    name: str
    interface: str
    vrid: int
    virtual_addresses: tuple[VirtualAddress, ...]
    """With prefix; the prefix is what the address is added to the interface with."""
    priority: int = 100
    """255 = address owner; 1..254 otherwise."""
    advert_interval: float = 1.0
    """Seconds (v3: multiple of 0.01 up to 40.95; v2: whole seconds 1..255)."""
    preempt: bool = True
    preempt_delay: float = 0.0
    """Seconds to hold off preempting after start-up or after first seeing a lower-priority master."""
    startup_delay: float = 0.0
    """Seconds after start-up before the instance may become master at all (slow links or bonds at boot)."""
    version: int = 3
    checksum: ChecksumForm = ChecksumForm.PSEUDO_HEADER
    """IPv4 VRRPv3 transmit checksum form (IPv6 always uses the pseudo-header, v2 never does)."""
    accept_checksum: AcceptChecksum = AcceptChecksum.BOTH
    """IPv4 VRRPv3 receive: `both` forms, or `strict` = only the `checksum` form we transmit."""
    address_check: AddressCheck = AddressCheck.LOG
    advert_on_lower_priority: bool = True
    authentication: Authentication | None = None
    garp: GarpConfig = field(default_factory=GarpConfig)
    virtual_mac: bool = False
    """Put the VIPs on a bridge-mode macvlan with the RFC 9568 §7.3 MAC 00:00:5e:00:0{1,2}:VRID."""
    accept_mode: bool = True
    """RFC 9568 §6.1 Accept_Mode: whether a non-owner master accepts packets addressed to the VIPs. The RFC's
    default is false; ours is keepalived's (true), because services bound to a VIP are the common case and an
    operator moving from keepalived must not find them unreachable."""
    track_scripts: tuple[Tracker, ...] = ()
    """Scripts (by name, from the top-level `track_scripts`) and what their failure does."""
    track_interfaces: tuple[Tracker, ...] = ()
    """Other interfaces whose link state moves the priority or faults the instance. The instance's own
    interface is always tracked: down (or without carrier) means FAULT."""
    track_files: tuple[Tracker, ...] = ()
    """Files (by name, from the top-level `track_files`): value x weight, or fault while non-zero."""
    unicast_peers: tuple[IPAddress, ...] = ()
    """Adverts go to each of these (one copy each) instead of the multicast group, and are accepted only from
    them; empty = multicast. vrrpd.config.unicast has the rules."""
    unicast_source: IPAddress | None = None
    """Unicast advert source; None = the interface's primary IPv4 address / IPv6 link-local."""
    unicast_ttl: int = DEFAULT_TTL
    """TTL / hop limit of the unicast adverts we send."""
    unicast_min_ttl: int = DEFAULT_TTL
    """Lowest TTL / hop limit accepted from a unicast peer (255: on-link only, RFC 9568 §7.1)."""
    notify: HooksConfig = field(default_factory=HooksConfig)
    """Commands run on transitions (vrrpd.config.hooks, vrrpd.services.hooks); none by default."""
    line: int = field(default=0, compare=False)
    """Where the instance starts in its file (for messages); not part of equality, so a reload that only
    moves an instance within the file does not count as a change."""

    @property
    def family(self) -> Family:
        return Family.IPV4 if self.virtual_addresses[0].version == 4 else Family.IPV6

    @property
    def checksum_mode(self) -> ChecksumMode:
        """The codec's receive mode for IPv4 VRRPv3 (`strict` accepts only the form we transmit)."""
        if self.accept_checksum is AcceptChecksum.BOTH:
            return ChecksumMode.ACCEPT_BOTH
        return ChecksumMode(self.checksum.value)

    @property
    def accepted_checksums(self) -> tuple[ChecksumForm, ...]:
        """The checksum forms a received advert may use: IPv6 always the pseudo-header (RFC 8200), VRRPv2
        always the message only (RFC 3768), IPv4 VRRPv3 what `accept_checksum` allows."""
        if self.family is Family.IPV6:
            return (ChecksumForm.PSEUDO_HEADER,)
        if self.version == 2:
            return (ChecksumForm.MESSAGE_ONLY,)
        return self.checksum_mode.accepts()

    @property
    def trackers(self) -> tuple[Tracker, ...]:
        """Every tracker of this instance: its own interface first (implicit, on_failure: fault), then the
        configured interfaces and scripts."""
        own = Tracker(TrackerKind.INTERFACE, self.interface, None)
        others = tuple(t for t in self.track_interfaces if t.name != self.interface)
        return (own, *others, *self.track_scripts, *self.track_files)

    @property
    def accepts_traffic(self) -> bool:
        """RFC 9568 §6.1/§6.4.3: a master accepts packets to the VIPs if it is the owner or Accept_Mode is on."""
        return self.accept_mode or self.priority == OWNER_PRIORITY

    def router_config(self) -> RouterConfig:
        auth = self.authentication
        return RouterConfig(
            vrid=self.vrid,
            addresses=tuple(a.ip for a in self.virtual_addresses),
            priority=self.priority,
            advert_interval_cs=round(self.advert_interval * 100),
            preempt=self.preempt,
            preempt_delay=self.preempt_delay,
            startup_delay=self.startup_delay,
            version=self.version,
            address_check=self.address_check,
            advert_on_lower_priority=self.advert_on_lower_priority,
            auth_type=auth.type if auth else AuthType.NONE,
            auth_data=auth.password if auth else b"",
        )


@dataclass(frozen=True, slots=True)
class Config:
    instances: tuple[InstanceConfig, ...]
    control_socket: Path = DEFAULT_CONTROL_SOCKET
    source: str = "<string>"
    """The file name used in messages."""
    warnings: tuple[str, ...] = ()
    track_scripts: tuple[ScriptConfig, ...] = ()
    track_files: tuple[FileConfig, ...] = ()
    sync_groups: tuple[SyncGroupConfig, ...] = ()
    """Instances that are Master together (vrrpd.config.syncgroups)."""

    def script(self, name: str) -> ScriptConfig:
        for script in self.track_scripts:
            if script.name == name:
                return script
        raise KeyError(name)

    def instance(self, name: str) -> InstanceConfig:
        for inst in self.instances:
            if inst.name == name:
                return inst
        raise KeyError(name)


# --- entry points ---------------------------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    filename = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(filename, "", None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(filename, "", None, f"cannot read the file: {e.strerror or e}") from None
    return parse_config(text, filename)


def parse_config(text: str, filename: str = "<string>") -> Config:
    doc = load_yaml(text, filename)
    checker = _Checker(filename)
    return checker.config(doc)


# --- validation -----------------------------------------------------------------------------------------


_IDENTITY_KEYS = ("name", "interface", "vrid", "virtual_addresses")
_TOP_KEYS = ("control_socket", "defaults", "track_scripts", "instances", "track_files", "sync_groups")
_SCRIPT_KEYS = ("command", "interval", "timeout", "rise", "fall", "user")
_ELECTION_REFERENCE = 100
"""The default priority (ours and keepalived's): the peer priority a weight warning assumes."""
_GARP_KEYS = tuple(GarpConfig.__dataclass_fields__)
_AUTH_KEYS = ("type", "password")
_BUILTIN = InstanceConfig(name="", interface="", vrid=1, virtual_addresses=())
_DEFAULTABLE_KEYS = tuple(k for k in InstanceConfig.__dataclass_fields__ if k not in (*_IDENTITY_KEYS, "line"))
_INSTANCE_KEYS = _IDENTITY_KEYS + _DEFAULTABLE_KEYS


class _Checker(Checker, UnicastChecks):
    def __init__(self, filename: str) -> None:
        super().__init__(filename)
        self.scripts: dict[str, ScriptConfig] = {}
        self.files: dict[str, FileConfig] = {}
        self.defined["track_scripts"] = self.scripts

    def vrid(self, value: Any, loc: Loc) -> int:
        return self.integer(value, loc, 1, 255)

    def priority(self, value: Any, loc: Loc) -> int:
        return self.integer(value, loc, 1, OWNER_PRIORITY)

    def advert_interval(self, value: Any, loc: Loc) -> float:
        # The per-version range (v3 up to 40.95 s, v2 whole seconds up to 255) is checked per instance,
        # because `defaults` does not know which version each instance ends up with.
        seconds = self.seconds(value, loc, 0.01, MAX_V2_INTERVAL_S)
        if abs(seconds * 100 - round(seconds * 100)) > 1e-6:
            raise self.error(loc, f"{loc.raw or value} is not a multiple of 0.01 seconds (VRRPv3 counts centiseconds)")
        return seconds

    def preempt(self, value: Any, loc: Loc) -> bool:
        return self.boolean(value, loc)

    def preempt_delay(self, value: Any, loc: Loc) -> float:
        return self.seconds(value, loc, 0, 1000)

    def startup_delay(self, value: Any, loc: Loc) -> float:
        return self.seconds(value, loc, 0, 3600)

    def version(self, value: Any, loc: Loc) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value not in (2, 3):
            raise self.error(loc, f"expected 2 or 3, got {what(value, loc)}")
        return int(value)

    def checksum(self, value: Any, loc: Loc) -> ChecksumForm:
        return self.choice(value, loc, ChecksumForm)

    def accept_checksum(self, value: Any, loc: Loc) -> AcceptChecksum:
        return self.choice(value, loc, AcceptChecksum)

    def address_check(self, value: Any, loc: Loc) -> AddressCheck:
        return self.choice(value, loc, AddressCheck)

    def advert_on_lower_priority(self, value: Any, loc: Loc) -> bool:
        return self.boolean(value, loc)

    def virtual_mac(self, value: Any, loc: Loc) -> bool:
        return self.boolean(value, loc)

    def accept_mode(self, value: Any, loc: Loc) -> bool:
        return self.boolean(value, loc)

    def authentication(self, value: Any, loc: Loc) -> Authentication:
        auth = self.mapping(value, loc, _AUTH_KEYS)
        for key in _AUTH_KEYS:
            if key not in auth:
                raise self.error(loc, f"missing required key {key}")
        type_loc = loc.key(auth, "type")
        if auth["type"] != "simple":
            shown = repr(auth["type"]) if isinstance(auth["type"], str) else what(auth["type"], type_loc)
            raise self.error(type_loc, f"{shown} is not supported (only simple; IP AH was removed in RFC 3768)")
        password_loc = loc.key(auth, "password")
        password = self.string(auth["password"], password_loc).encode()
        if len(password) > 8:
            raise self.error(password_loc, f"is {len(password)} bytes; VRRPv2 passwords are at most 8")
        return Authentication(AuthType.SIMPLE, password)

    def garp(self, value: Any, loc: Loc) -> dict[str, Val]:
        garp = self.mapping(value, loc, _GARP_KEYS)
        checks: dict[str, Callable[[Any, Loc], Any]] = {
            "count": lambda v, at: self.integer(v, at, 1, 100),
            "interval": lambda v, at: self.seconds(v, at, 0, 10),
            "repeat_delay": lambda v, at: self.seconds(v, at, 0, 3600),
            "repeat_count": lambda v, at: self.integer(v, at, 0, 100),
            "refresh": lambda v, at: self.seconds(v, at, 0, 86400),
        }
        return {k: Val(checks[k](garp[k], loc.key(garp, k)), loc.key(garp, k), "") for k in garp}

    def virtual_addresses(self, value: Any, loc: Loc) -> tuple[VirtualAddress, ...]:
        items = self.sequence(value, loc)
        if len(items) > 255:
            raise self.error(loc, f"has {len(items)} addresses; an advertisement carries at most 255")
        result: list[VirtualAddress] = []
        seen: dict[Any, int] = {}
        for index, item in enumerate(items):
            at = loc.item(items, index)
            address = self.address(item, at, with_prefix=True)
            if result and address.version != result[0].version:
                raise self.error(
                    at, f"{item} is not IPv{result[0].version} like {loc.path}[0] (one family per instance)"
                )
            if address.ip in seen:
                raise self.error(at, f"{address.ip} is already listed at {loc.path}[{seen[address.ip]}]")
            seen[address.ip] = index
            result.append(address)
        if result and result[0].version == 6 and len(result) > _IPV6_ADDRESSES_IN_1500:
            self.warn(
                loc,
                f"has {len(result)} IPv6 addresses: the advertisement is {48 + 16 * len(result)} bytes, more than a "
                f"1500-byte MTU carries ({_IPV6_ADDRESSES_IN_1500} addresses), so vrrpd will refuse to start on an "
                "interface with that MTU; split the addresses over several instances",
            )
        return tuple(result)

    # --- tracking ---

    def track_scripts(self, value: Any, loc: Loc) -> tuple[Tracker, ...]:
        return self._trackers(value, loc, TrackerKind.SCRIPT)

    def track_interfaces(self, value: Any, loc: Loc) -> tuple[Tracker, ...]:
        return self._trackers(value, loc, TrackerKind.INTERFACE)

    def track_files(self, value: Any, loc: Loc) -> tuple[Tracker, ...]:
        return self._trackers(value, loc, TrackerKind.FILE)

    def notify(self, value: Any, loc: Loc) -> HooksConfig:
        return parse_hooks(self, value, loc)

    def _trackers(self, value: Any, loc: Loc, kind: TrackerKind) -> tuple[Tracker, ...]:
        if isinstance(value, Seq) and not value:
            return ()
        key = "interface" if kind is TrackerKind.INTERFACE else "name"
        items = self.sequence(value, loc)
        result: list[Tracker] = []
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            at = loc.item(items, index)
            entry = self.mapping(item, at, (key, "weight", "on_failure"))
            if key not in entry:
                raise self.error(at, f"missing required key {key}")
            name_loc = at.key(entry, key)
            if kind is TrackerKind.SCRIPT:
                name = self.reference(entry[key], name_loc, "track_scripts")
            elif kind is TrackerKind.FILE:
                name = self.reference(entry[key], name_loc, "track_files")
            else:
                name = self.interface(entry[key], name_loc)
            if name in seen:
                raise self.error(name_loc, f"{name!r} is already listed at {loc.path}[{seen[name]}]")
            seen[name] = index
            has_weight, has_fault = "weight" in entry, "on_failure" in entry
            if has_weight and has_fault:
                raise self.error(at.key(entry, "on_failure"), "give either weight or on_failure: fault, not both")
            if not has_weight and not has_fault:
                raise self.error(
                    at, f"needs weight (-{MAX_WEIGHT}..{MAX_WEIGHT}, not 0) or on_failure: fault (there is no default)"
                )
            weight: int | None = None
            if has_weight:
                weight_loc = at.key(entry, "weight")
                raw = entry["weight"]
                if isinstance(raw, bool) or not isinstance(raw, int):
                    raise self.error(
                        weight_loc, f"expected a whole number -{MAX_WEIGHT}..{MAX_WEIGHT}, got {what(raw, weight_loc)}"
                    )
                if raw == 0:
                    raise self.error(
                        weight_loc,
                        "weight 0 is not allowed: keepalived reads it as 'fault on failure', which is easy to "
                        "miss; write on_failure: fault for that, or give a non-zero weight"
                        + (" (for a file: fault while its value is non-zero)" if kind is TrackerKind.FILE else ""),
                    )
                if not -MAX_WEIGHT <= raw <= MAX_WEIGHT:
                    raise self.error(
                        weight_loc,
                        f"{raw} is outside -{MAX_WEIGHT}..{MAX_WEIGHT} (the effective priority stays within "
                        f"{MIN_PRIORITY}..{MAX_PRIORITY})",
                    )
                weight = raw
            else:
                fault_loc = at.key(entry, "on_failure")
                if entry["on_failure"] != "fault":
                    shown = (
                        repr(entry["on_failure"])
                        if isinstance(entry["on_failure"], str)
                        else what(entry["on_failure"], fault_loc)
                    )
                    raise self.error(
                        fault_loc, f"{shown} is not supported (only fault; for a priority change use weight)"
                    )
            result.append(Tracker(kind, name, weight))
        return tuple(result)

    def script(self, name: str, value: Any, loc: Loc) -> ScriptConfig:
        self.identifier(name, loc, "script name")
        entry = self.mapping(value, loc, _SCRIPT_KEYS)
        if "command" not in entry:
            raise self.error(loc, "missing required key command")
        argv = self.command(entry["command"], loc.key(entry, "command"))
        interval = (
            self.seconds(entry["interval"], loc.key(entry, "interval"), 0.01, 86400) if "interval" in entry else 1.0
        )
        timeout = (
            self.seconds(entry["timeout"], loc.key(entry, "timeout"), 0.01, 86400) if "timeout" in entry else interval
        )
        rise = self.integer(entry["rise"], loc.key(entry, "rise"), 1, 100) if "rise" in entry else 1
        fall = self.integer(entry["fall"], loc.key(entry, "fall"), 1, 100) if "fall" in entry else 1
        user = self.user_name(entry["user"], loc.key(entry, "user")) if "user" in entry else None
        return ScriptConfig(name, argv, interval, timeout, rise, fall, user, line=loc.line)

    def _check_tracking(self, vals: dict[str, Val], interface: str, loc: Loc) -> None:
        """Warnings for trackers that cannot do what their author probably wants."""
        scripts, interfaces = vals["track_scripts"], vals["track_interfaces"]
        for tracker in interfaces.value:
            if tracker.name == interface:
                what = "so this entry has no effect" if tracker.weight is not None else "so this entry is redundant"
                self.warn(
                    pick(loc, interfaces),
                    f"{interface}{interfaces.note()} is the instance's own interface, which always puts the "
                    f"instance in FAULT when it goes down, {what}",
                )
        weights = [
            t.weight for t in (*scripts.value, *interfaces.value) if t.weight is not None and t.name != interface
        ]
        if not weights:
            return
        at = pick(loc, scripts, interfaces)
        base = vals["priority"].value
        note = scripts.note() or interfaces.note()
        if base == OWNER_PRIORITY:
            self.warn(
                at,
                f"tracker weights{note} have no effect: the address owner (priority 255) is never moved by tracking; "
                "use on_failure: fault to make it give up the addresses",
            )
            return
        # vrrpd sees only its own side of the election, so the test is against the default priority (100), which
        # is what a peer has unless configured otherwise; the text says so, and what would make the weight work.
        ref = _ELECTION_REFERENCE
        lowest = effective_priority(base, [w for w in weights if w < 0])
        highest = effective_priority(base, [w for w in weights if w > 0])
        if base > ref and any(w < 0 for w in weights) and lowest >= ref:
            self.warn(
                at,
                f"with every negative-weight tracker{note} failing, priority {base} only drops to {lowest}, which is "
                f"not below {ref} (the default priority): a backup at priority {ref} would never take over. Each "
                f"failure only causes a failover to a backup whose priority is above {lowest}; make the weights "
                f"more negative than {ref - base} in total, or use on_failure: fault",
            )
        if base < ref and any(w > 0 for w in weights) and highest <= ref:
            self.warn(
                at,
                f"with every positive-weight tracker{note} passing, priority {base} only rises to {highest}, which is "
                f"not above {ref} (the default priority): this router would never preempt a master at priority "
                f"{ref}; it only preempts a master whose priority is below {highest}",
            )

    # --- the document ---

    def config(self, doc: Any) -> Config:
        top = Loc("", getattr(doc, "line", 1))
        if doc is None:
            raise self.error(top, "the file is empty; it needs at least an instances list")
        self.mapping(doc, top, _TOP_KEYS)

        socket = DEFAULT_CONTROL_SOCKET
        if "control_socket" in doc:
            at = top.key(doc, "control_socket")
            socket = Path(self.string(doc["control_socket"], at))
            if "\0" in str(socket) or not socket.is_absolute():
                raise self.error(at, f"{str(socket)!r} must be an absolute path")
            if len(bytes(socket)) > _MAX_UNIX_PATH:
                raise self.error(at, f"is {len(bytes(socket))} bytes; unix socket paths are at most {_MAX_UNIX_PATH}")

        if "track_scripts" in doc:
            at = top.key(doc, "track_scripts")
            section = self.name_mapping(doc["track_scripts"], at, "script name")
            for key in section:
                self.string_key(section, key, at, "script name")
            for name in section:
                self.scripts[name] = self.script(name, section[name], at.key(section, name))
        if "track_files" in doc:
            self.files = config_track_files.section(self, doc["track_files"], top.key(doc, "track_files"))
            self.defined["track_files"] = self.files

        defaults: dict[str, Val] = {}
        if "defaults" in doc:
            at = top.key(doc, "defaults")
            section = self.mapping(doc["defaults"], at, _DEFAULTABLE_KEYS + _IDENTITY_KEYS)
            for key in section:
                if key in _IDENTITY_KEYS:
                    raise self.error(at.key(section, key), "cannot be a default; it identifies each instance")
                key_loc = at.key(section, key)
                defaults[key] = Val(getattr(self, key)(section[key], key_loc), key_loc, "defaults")

        if "instances" not in doc:
            raise self.error(top, "missing required key instances")
        at = top.key(doc, "instances")
        items = self.sequence(doc["instances"], at)
        checked = [self.instance(item, at.item(items, i), defaults) for i, item in enumerate(items)]
        instances = [inst for inst, _ in checked]
        self.cross_check(instances, [locs for _, locs in checked])
        groups = check_sync_groups(self, doc, top, instances)
        if "track_scripts" in doc:
            at = top.key(doc, "track_scripts")
            for name in self.scripts:
                if name not in self.used.get("track_scripts", ()):
                    self.warn(
                        at.key(doc["track_scripts"], name),
                        "is not used by any instance's track_scripts; it will not run",
                    )
        for name in [n for n in self.files if n not in self.used.get("track_files", ())]:
            at = top.key(doc, "track_files")
            self.warn(at.key(doc["track_files"], name), "is not used by any instance's track_files; it is not read")
        return Config(
            tuple(instances),
            socket,
            self.filename,
            tuple(self.warnings),
            track_scripts=tuple(self.scripts.values()),
            track_files=tuple(self.files.values()),
            sync_groups=groups,
        )

    def instance(self, value: Any, loc: Loc, defaults: dict[str, Val]) -> tuple[InstanceConfig, dict[str, Loc]]:
        """The instance, and where its identity keys are (for the checks across instances)."""
        raw = self.mapping(value, loc, _INSTANCE_KEYS)
        for key in ("name", "interface", "vrid", "virtual_addresses"):
            if key not in raw:
                raise self.error(loc, f"missing required key {key}")

        vals: dict[str, Val] = {}
        for key in _INSTANCE_KEYS:
            if key in raw:
                vals[key] = Val(getattr(self, key)(raw[key], loc.key(raw, key)), loc.key(raw, key), "instance")
            elif key in defaults:
                vals[key] = defaults[key]
            else:
                vals[key] = Val(getattr(_BUILTIN, key), loc.key(raw, key), "builtin")
        v = {key: val.value for key, val in vals.items()}

        garp = GarpConfig()
        for source in (defaults.get("garp"), vals["garp"] if vals["garp"].origin == "instance" else None):
            if source is not None:
                garp = GarpConfig(**{**_fields(garp), **{k: sub.value for k, sub in source.value.items()}})
        v["garp"] = garp

        family = 4 if v["virtual_addresses"][0].version == 4 else 6
        self._check_version(vals, family, loc)
        self._check_owner(vals, loc)
        self._check_tracking(vals, v["interface"], loc)
        config_track_files.check_instance(self, vals, loc)
        self._check_unicast(vals, family, loc)
        if v["authentication"] is not None and v["version"] != 2:
            if vals["authentication"].origin == "instance":
                raise self.error(
                    vals["authentication"].loc,
                    "is VRRPv2 only (RFC 5798 removed authentication); set version: 2 or remove it",
                )
            v["authentication"] = None
        for key in ("checksum", "accept_checksum"):
            if vals[key].origin == "instance" and (family == 6 or v["version"] == 2):
                what = "IPv6 always uses the pseudo-header" if family == 6 else "VRRPv2 never uses a pseudo-header"
                self.warn(vals[key].loc, f"has no effect: {what}")

        inst = InstanceConfig(**v, line=loc.line)
        try:
            inst.router_config()
        except ValueError as e:  # a gap between these checks and RouterConfig's own; say where, not crash
            raise self.error(loc, str(e)) from None
        return inst, {key: vals[key].loc for key in _IDENTITY_KEYS}

    def _check_version(self, vals: dict[str, Val], family: int, loc: Loc) -> None:
        version, interval = vals["version"], vals["advert_interval"]
        seconds = interval.value
        if version.value == 2 and family == 6:
            at = pick(loc, version, vals["virtual_addresses"])
            raise self.error(at, f"VRRPv2{version.note()} is IPv4 only (RFC 3768) but the addresses are IPv6")
        if version.value == 2 and seconds != int(seconds):
            problem = "is not whole seconds, as VRRPv2 needs"
        elif version.value == 3 and seconds * 100 > MAX_INTERVAL_CS + 1e-6:
            problem = "is over 40.95 seconds, the VRRPv3 maximum"
        else:
            return
        at = pick(loc, interval, version)
        shown = interval.loc.raw or f"{seconds:g}"
        subject = shown if at == interval.loc else f"advert_interval {shown}{interval.note()}"
        context = f" (version {version.value} at {version.loc.describe()})" if version.origin != "builtin" else ""
        raise self.error(at, f"{subject} {problem}{context if at != version.loc else ''}")

    def _check_owner(self, vals: dict[str, Val], loc: Loc) -> None:
        priority, preempt, delay = vals["priority"], vals["preempt"], vals["preempt_delay"]
        if priority.value == OWNER_PRIORITY and not preempt.value:
            # RFC 9568 §6.4.1: the owner goes straight to Master, so a non-preempting owner is a contradiction.
            if preempt.origin == "instance":
                raise self.error(
                    preempt.loc,
                    f"is false, but the address owner (priority 255{priority.note()}) always takes over at once "
                    "(RFC 9568 §6.4.1); remove it or lower the priority",
                )
            self.warn(
                pick(loc, priority),
                f"priority 255{priority.note()} makes this the address owner, which always takes over at once "
                f"(RFC 9568 §6.4.1), so preempt: false{preempt.note()} is ignored",
            )
        accept = vals["accept_mode"]
        if priority.value == OWNER_PRIORITY and accept.origin == "instance" and not accept.value:
            self.warn(
                accept.loc,
                f"has no effect: the address owner (priority 255{priority.note()}) always accepts packets to "
                "its addresses (RFC 9568 §6.1)",
            )
        if delay.value > 0 and not preempt.value and priority.value != OWNER_PRIORITY:
            self.warn(
                pick(loc, delay, preempt),
                f"preempt_delay{delay.note()} has no effect with preempt: false{preempt.note()}",
            )

    def cross_check(self, instances: list[InstanceConfig], locs: list[dict[str, Loc]]) -> None:
        names: dict[str, int] = {}
        routers: dict[tuple[str, int, int], int] = {}
        by_address: dict[Any, list[int]] = {}
        for i, inst in enumerate(instances):
            loc = locs[i]
            if inst.name in names:
                other = instances[names[inst.name]]
                raise self.error(loc["name"], f"{inst.name!r} is already the name of the instance at line {other.line}")
            names[inst.name] = i
            key = (inst.interface, inst.family, inst.vrid)
            if key in routers:
                other = instances[routers[key]]
                raise self.error(
                    loc["vrid"],
                    f"VRID {inst.vrid} is already used on {inst.interface} for IPv{inst.family} "
                    f"by instance {other.name!r} (line {other.line})",
                )
            routers[key] = i
            at = loc["virtual_addresses"]
            for address in inst.virtual_addresses:
                for other in (instances[j] for j in by_address.get(address.ip, ())):
                    if other.interface == inst.interface:
                        raise self.error(at, f"{address.ip} is already a virtual address of instance {other.name!r}")
                    # The same link-local VIP on several links is normal (keepalived #2573); a global one is not.
                    if not address.ip.is_link_local:
                        self.warn(at, f"{address.ip} is also a virtual address of {other.name!r} on {other.interface}")
                by_address.setdefault(address.ip, []).append(i)


def _fields(garp: GarpConfig) -> dict[str, Any]:
    return {name: getattr(garp, name) for name in _GARP_KEYS}
