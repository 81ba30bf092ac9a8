"""What the importer's modules share: the `Context` of one conversion and the intermediate model it fills.

The keyword readers (globals, scripts, hooks, instance, syncgroups, track_files, unicast) turn statements into the
dataclasses below and leave a `Message` on the Context for everything that does not map 1:1; `resolve` and the
section writers then turn the model into the vrrpd document. Nothing here imports another importer module but
`syntax`, so every module can take a Context without an import cycle.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from ipaddress import IPv4Interface, IPv6Interface
from typing import Any, NamedTuple, TypeVar

from vrrpd.importer.syntax import Statement
from vrrpd.protocol.constants import MAX_WEIGHT

VirtualAddress = IPv4Interface | IPv6Interface

_TRUE_WORDS = ("true", "on", "yes")
_FALSE_WORDS = ("false", "off", "no")
_NOT_IN_A_NAME = re.compile(r"[^A-Za-z0-9_.-]")


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


def vrrpd_name(raw: str, fallback: str) -> str:
    """keepalived's name as a vrrpd name (A-Z a-z 0-9 _ . -): every other character becomes `_`."""
    return _NOT_IN_A_NAME.sub("_", raw) or fallback


# --- the intermediate model ---------------------------------------------------------------------------


class TrackerRef(NamedTuple):
    """One entry of a track_script / track_interface / track_file list (of an instance or a sync group)."""

    name: str
    weight: int | None
    """None when the entry gives none: a script or file then takes its definition's, an interface 0 (fault)."""
    reverse: bool
    at: Statement


@dataclass
class Garp:
    """keepalived's GARP settings (global, then per-instance overrides). Times in seconds."""

    repeat: int = 5
    delay: float = 5.0
    refresh: float = 0.0
    refresh_repeat: int = 1
    interval: float = 0.0
    gna_interval: float = 0.0
    refresh_repeat_at: Statement | None = None


@dataclass
class Globals:
    """What global_defs says about VRRP (the instances' defaults)."""

    version: int | None = None
    version_at: Statement | None = None
    strict: bool = False
    strict_at: Statement | None = None
    checksum_as_v2: bool = False
    lower_prio_no_advert: bool | None = None
    garp: Garp = field(default_factory=Garp)
    script_user: str | None = None
    check_unicast_src: bool = False
    strict_resets: list[tuple[Statement, str]] = field(default_factory=list)
    """global_defs settings keepalived resets in strict-mode instances, each with the warning it gets when some
    imported instance is not strict (see `Instance.strict_resets`)."""


@dataclass
class Script:
    """A `vrrp_script` block. Times in seconds."""

    name: str
    at: Statement
    command: str | None = None
    interval: float = 1.0
    timeout: float | None = None
    """None: the interval, as in keepalived."""
    weight: int = 0
    reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    init_fail: bool = False
    """keepalived starts it failed instead of not yet known (vrrpd's `initial_state: down`)."""
    used: bool = False
    """Some instance or sync group tracks it (only those are written)."""


@dataclass
class TrackFile:
    """A top-level `track_file` / `vrrp_track_file` block."""

    name: str
    at: Statement
    path: str | None = None
    weight: int = 1
    """keepalived's default weight for a track_file is 1."""
    reverse: bool = False
    init: int | None = None
    overwrite: bool = False
    used: bool = False
    """Some instance tracks it (only those are written; the first use also adds the notes about it)."""


@dataclass
class UnicastKeys:
    """What one keepalived instance said about unicast, kept until the family is known."""

    peers: list[tuple[str, list[str], Statement]] = field(default_factory=list)
    """(address, its options such as min_ttl N, the entry) of each unicast_peer entry."""
    peer_block: Statement | None = None
    source: Statement | None = None
    ttl: Statement | None = None
    fault_no_peer: Statement | None = None
    check_src: Statement | None = None
    old_checksum: Statement | None = None


@dataclass
class Group:
    """A `vrrp_sync_group` block."""

    name: str
    stmt: Statement
    members: list[tuple[str, Statement]] = field(default_factory=list)
    """keepalived's instance names as written (not renamed yet), each with its line."""
    track_scripts: list[TrackerRef] = field(default_factory=list)
    track_interfaces: list[TrackerRef] = field(default_factory=list)
    hooks: dict[str, Statement] = field(default_factory=dict)
    """keepalived notify keyword -> its statement (the last one given)."""


def address_of(entry: str | dict[str, str]) -> str:
    """The address of a written `virtual_addresses` entry: a string, or the mapping of an address on another
    interface."""
    return entry if isinstance(entry, str) else entry["address"]


@dataclass
class Instance:
    """A `vrrp_instance` block as read, before the checks that need all of it (see `resolve`)."""

    stmt: Statement
    name: str
    """Already a vrrpd name (see `vrrpd_name`)."""
    interface: str | None = None
    vrid: int | None = None
    priority: int | None = None
    """None when not given: 100, or the owner's 255 for `state MASTER` (as keepalived)."""
    addresses: list[tuple[VirtualAddress, Statement]] = field(default_factory=list)
    devs: list[tuple[str, Statement]] = field(default_factory=list)
    """`dev X` of virtual_ipaddress and virtual_ipaddress_excluded entries (by entry)."""
    excluded: list[tuple[VirtualAddress, Statement]] = field(default_factory=list)
    """virtual_ipaddress_excluded entries."""
    routes: list[dict[str, Any]] = field(default_factory=list)
    """virtual_routes entries, already as vrrpd's `routes` mappings (vrrpd.importer.routes)."""
    rules: list[dict[str, Any]] = field(default_factory=list)
    """virtual_rules entries, as vrrpd's `rules` mappings."""
    version: int | None = None
    version_at: Statement | None = None
    advert: tuple[float, Statement] | None = None
    """advert_int in seconds, as given."""
    state: str | None = None
    """MASTER or BACKUP when given (keepalived's initial state)."""
    state_at: Statement | None = None
    nopreempt_at: Statement | None = None
    preempt_delay: float | int | None = None
    """Seconds."""
    preempt_delay_at: Statement | None = None
    accept: bool | None = None
    strict: bool | None = None
    strict_at: Statement | None = None
    checksum_as_v2: bool | None = None
    lower_prio_no_advert: bool | None = None
    auth: tuple[str, Statement] | None = None
    """The password (at most 8 bytes, as keepalived uses it) and the authentication block."""
    auth_ah_at: Statement | None = None
    """The authentication block of an `auth_type AH`, which vrrpd does not support."""
    strict_resets: list[tuple[Statement, str]] = field(default_factory=list)
    """Settings keepalived 2.2.7 resets in strict mode (vrrp.c, vrrp_complete_instance), each with the warning it
    gets when the instance is not strict (vrrpd cannot reproduce them); in strict mode it is a note instead."""
    virtual_mac: bool = False
    garp: Garp = field(default_factory=Garp)
    track_scripts: list[TrackerRef] = field(default_factory=list)
    track_interfaces: list[TrackerRef] = field(default_factory=list)
    track_files: list[TrackerRef] = field(default_factory=list)
    sync_group: str | None = None
    unicast: UnicastKeys = field(default_factory=UnicastKeys)
    hooks: dict[str, Statement] = field(default_factory=dict)
    """keepalived notify keyword -> its statement (the last one given)."""


# --- the context of one conversion ------------------------------------------------------------------------


@dataclass
class Context:
    """One conversion: its option, its messages, the value readers every keyword uses, and the definitions read so
    far (keepalived applies global_defs, vrrp_script, track_file and vrrp_sync_group wherever they appear, so they
    are all read before the first instance)."""

    tracking: bool
    """Whether this vrrpd's schema has the tracking keys; without them each tracker is a warning showing its
    would-be mapping."""
    messages: list[Message] = field(default_factory=list)
    globals: Globals = field(default_factory=Globals)
    scripts: dict[str, Script] = field(default_factory=dict)
    track_files: dict[str, TrackFile] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    group_of: dict[str, str] = field(default_factory=dict)
    """keepalived instance name -> the sync group it is in."""
    weighted_groups: set[str] = field(default_factory=set)
    """Sync groups with sync_group_tracking_weight (keepalived then applies members' weights)."""
    described_scripts: set[str] = field(default_factory=set)
    """Scripts whose would-be mapping was already shown (without tracking support)."""
    origins: list[str] = field(default_factory=list)
    """Per output instance: where it came from, for a comment above it."""
    strict_instances: list[bool] = field(default_factory=list)
    """Per resolved instance: whether keepalived runs it in strict mode."""
    tracked_names: dict[str, set[str]] = field(default_factory=dict)
    """track_script / track_file -> every name some instance or sync group lists (imported or not), so that the
    note about an unused definition can say why it is unused."""
    said: set[str] = field(default_factory=set)
    """Keys of the notes said once per conversion (see `note_once`)."""

    # --- messages ---

    def warn(self, at: Statement, text: str) -> None:
        self.messages.append(Message("warning", at.file, at.line, text))

    def note(self, at: Statement, text: str) -> None:
        self.messages.append(Message("note", at.file, at.line, text))

    def note_once(self, key: str, at: Statement, text: str) -> None:
        """A note that would say the same of every instance: only the first time (`text` says it applies to all)."""
        if key not in self.said:
            self.said.add(key)
            self.note(at, text)

    def unknown(self, stmt: Statement, context: str) -> None:
        self.warn(stmt, f"{stmt.keyword}: unknown keyword in {context}; not imported (check keepalived's spelling)")

    # --- values: each returns None (after a warning) when keepalived would ignore the statement ---

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
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
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

    def definition_name(self, stmt: Statement) -> str | None:
        """The NAME of a `vrrp_script NAME { }` or `track_file NAME { }` block; None (after a warning) without one."""
        if not stmt.args:
            self.warn(stmt, f"{stmt.keyword}: has no name; ignored")
            return None
        return stmt.args[0]

    def definition_weight(self, stmt: Statement, limit: int) -> tuple[int | None, bool]:
        """A `weight W [reverse]` line of a vrrp_script or track_file block: W (None, after a warning, when it is
        not a whole number within -limit..limit) and whether `reverse` is given."""
        return self.integer(stmt, -limit, limit), "reverse" in stmt.args[1:]

    def tracker_refs(
        self, stmt: Statement, listed: list[TrackerRef], weight_limit: int = MAX_WEIGHT
    ) -> list[TrackerRef]:
        """The entries of a track_script / track_interface / track_file block: `NAME [weight W] [reverse]`, but for
        a name already `listed` (by this block or an earlier one of the same instance or group): keepalived keeps
        the first and ignores the others ("duplicate track_script NAME - ignoring", vrrp/vrrp_track.c and
        trackers/track_file.c)."""
        refs: list[TrackerRef] = []
        for entry in self.block(stmt) or []:
            self.tracked_names.setdefault(stmt.keyword, set()).add(entry.keyword)
            if any(ref.name == entry.keyword for ref in (*listed, *refs)):
                self.note(
                    entry,
                    f"{stmt.keyword} {entry.keyword}: listed twice; keepalived uses the first, so does the import",
                )
                continue
            weight, reverse = self._weight_options(entry, weight_limit)
            refs.append(TrackerRef(entry.keyword, weight, reverse, entry))
        return refs

    def _weight_options(self, entry: Statement, limit: int) -> tuple[int | None, bool]:
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
                    self.warn(entry, f"{entry.keyword}: weight {text!r} is not a whole number; ignored")
                else:
                    if not -limit <= weight <= limit:
                        self.warn(entry, f"{entry.keyword}: weight {weight} is outside -{limit}..{limit}; ignored")
                        weight = None
            elif word == "reverse":
                reverse = True
            elif word == "noreverse":
                reverse = False
            else:
                self.warn(entry, f"{entry.keyword}: unknown option {word!r}; ignored")
        return weight, reverse


_Definition = TypeVar("_Definition", Script, TrackFile)


def tracked_definition(
    ctx: Context, definitions: dict[str, _Definition], keyword: str, ref: TrackerRef, what: str
) -> tuple[_Definition, int, bool] | None:
    """The definition an entry of a `keyword` list (track_script, track_file) names, with the weight and reverse that
    apply: the definition's weight when the entry gives none. None, after a warning, when no `what` (vrrp_script,
    track_file block) of that name was read."""
    definition = definitions.get(ref.name)
    if definition is None:
        ctx.warn(ref.at, f"{keyword} {ref.name}: no {what} of that name (keepalived ignores it); not imported")
        return None
    if ref.weight is None:
        return definition, definition.weight, ref.reverse or definition.reverse
    return definition, ref.weight, ref.reverse


def unused_reason(ctx: Context, keyword: str, name: str) -> str:
    """Why no imported instance or group uses the vrrp_script / track_file NAME (`keyword` the list naming it)."""
    if name in ctx.tracked_names.get(keyword, set()):
        return (
            f"only listed by instances or sync groups that were not imported, or as a weighted tracker of sync "
            f"group members (see the messages at each {keyword} entry)"
        )
    return "no instance or sync group tracks it"
