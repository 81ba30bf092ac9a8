"""What every section of the configuration checks with: where a value is (`Loc`), a resolved per-instance value
(`Val`), and the `Checker`, which turns a wrong value into one `ConfigError` sentence or a warning.

The sections (hooks, tracking, track_files, unicast, instance, syncgroups) are plain functions taking the checker;
this module imports none of them. Messages quote what the user wrote (``on``, not ``True``) and point at a
better key where there is one: keepalived's name for it, a key renamed before 1.0, or a close spelling.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Interface, IPv6Interface, ip_address, ip_interface
from typing import Any, Literal, TypeVar, overload

from vrrpd.config.errors import ConfigError, clip, sentence
from vrrpd.config.yamlsrc import Map, Seq
from vrrpd.protocol.packet import IPAddress

VirtualAddress = IPv4Interface | IPv6Interface
"""An address with the prefix it is added to the interface with."""

NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")
"""Names of instances, scripts, track files, sync groups and users; also keys that need no quoting in a path."""
NAME_MAX = 64
"""Characters in a name: long enough for any naming scheme, short enough to read in a log line and a message."""
_IFNAME_MAX = 15  # IFNAMSIZ - 1
_BROADCAST = IPv4Address("255.255.255.255")
_SHELL_TOKENS = frozenset({"|", "||", "&&", ";", ">", ">>", "<", "&", "2>&1"})

# Names a keepalived user will reach for first; pointing at ours beats a generic "unknown key".
_KEEPALIVED_NAMES = {
    "virtual_router_id": "vrid",
    "advert_int": "advert_interval",
    "virtual_ipaddress": "virtual_addresses",
    "nopreempt": "preempt: false",
    "state": "priority (there is no initial state: 255 makes the address owner, every other router starts as backup)",
    "auth_type": "authentication",
    "auth_pass": "authentication",
    "vrrp_instance": "instances",
    "garp_master_repeat": "garp.count",
    "garp_master_delay": "garp.repeat_delay",
    "garp_master_refresh": "garp.refresh",
    "v3_checksum_as_v2": "checksum: message-only",
    "use_vmac": "virtual_mac: true",
    "accept": "accept_mode: true",
    "no_accept": "accept_mode: false",
    "track_script": "track_scripts",
    "track_interface": "track_interfaces",
    "vrrp_script": "track_scripts (at the top level)",
    "script": "command",
    "on_fail": "on_failure: fault",
    "track_file": "track_files",
    "vrrp_track_file": "track_files (at the top level)",
    "file": "path",
    "init_file": "init",
    "init_fail": "initial_state: down",
    "unicast_peer": "unicast_peers",
    "unicast_src_ip": "unicast_source",
    "check_unicast_src": "nothing: vrrpd always accepts unicast adverts only from unicast_peers",
    "notify_master": "on_master (under notify:)",
    "notify_backup": "on_backup (under notify:)",
    "notify_fault": "on_fault (under notify:)",
    "notify_stop": "on_stop (under notify:)",
    "vrrp_sync_group": "sync_groups (at the top level)",
    "group": "members (in sync_groups)",
}
# Keys renamed before 1.0: an old file gets pointed at the new key instead of a generic "unknown key".
_RENAMED = {
    "checksum_receive": "accept_checksum: both | strict (strict accepts only the form set by checksum)",
}

_E = TypeVar("_E", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a value is: its key path (``instances[1].priority``), its line and its source text."""

    path: str
    line: int
    raw: str | None = None
    """The scalar's source text, so messages can quote what the user wrote (``on``, not ``True``)."""

    def key(self, mapping: Map, key: str) -> Loc:
        # A key with a newline must not split the sentence, nor one of a megabyte make it a megabyte long.
        shown = key if NAME_RE.fullmatch(key) and len(key) <= NAME_MAX else clip(key)
        path = f"{self.path}.{shown}" if self.path else shown
        return Loc(path, mapping.value_lines.get(key, mapping.line), mapping.raw.get(key))

    def item(self, seq: Seq, index: int) -> Loc:
        return Loc(f"{self.path}[{index}]", seq.item_lines[index], seq.raw[index])

    def describe(self) -> str:
        return f"{self.path}, line {self.line}" if self.path else f"line {self.line}"


@dataclass(frozen=True, slots=True)
class Val:
    """A checked per-instance value, where it was written, and whether the instance itself set it."""

    value: Any
    loc: Loc
    origin: str
    """"instance", "defaults" or "builtin"."""

    def note(self) -> str:
        return f" (from {self.loc.describe()})" if self.origin == "defaults" else ""


def pick(instance: Loc, *vals: Val) -> Loc:
    """Where to report a clash between values: the first one the instance sets itself, else the instance.

    A value inherited from `defaults` is shared by every instance, so pointing at it would not say which
    instance clashes; the message names the inherited value's own line instead (`Val.note`).
    """
    for val in vals:
        if val.origin == "instance":
            return val.loc
    return instance


def what(value: Any, loc: Loc) -> str:
    """The value as a message names it: ``the string 'x'``, ``'on', which YAML reads as a boolean``, ..."""
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return f"{clip(loc.raw)}, which YAML reads as a boolean" if loc.raw else f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {number(value, loc)}"
    if isinstance(value, str):
        return f"the string {clip(value)}"
    if isinstance(value, list):
        return "a list" if isinstance(value, Seq) else "a YAML !!omap or !!pairs"
    if isinstance(value, dict):
        return "a mapping"
    return f"a YAML {type(value).__name__}"


def quote(value: Any, loc: Loc) -> str:
    """The value as a message shows it: a string as written, in quotes; anything else described (`what`)."""
    return clip(value) if isinstance(value, str) else what(value, loc)


def number(value: int | float, loc: Loc) -> str:
    """A number as written (``0x1F``, ``.inf``), cut if long. Never `str()` of a huge int: Python refuses to
    convert one of more than 4300 digits (a ValueError), and the file may hold ``0x`` and 10,000 digits."""
    if loc.raw:
        return clip(loc.raw, quoted=False)
    if isinstance(value, int) and value.bit_length() > 64:
        return f"a {value.bit_length()}-bit number"
    return clip(str(value), quoted=False)


def _unknown(key: str, known: tuple[str, ...]) -> str:
    if key in _RENAMED:
        return f"unknown key (renamed; use {_RENAMED[key]})"
    if key in _KEEPALIVED_NAMES:
        return f"unknown key (this is keepalived's name; vrrpd uses {_KEEPALIVED_NAMES[key]})"
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return f"unknown key (did you mean {close[0]}?)"
    return f"unknown key (expected one of {', '.join(known)})"


class Checker:
    """Checks one document: each method returns the typed value or raises the `ConfigError` naming where."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.warnings: list[str] = []
        self.defined: dict[str, Collection[str]] = {}
        """Names defined by a top-level section (``track_scripts``, ``track_files``), for `reference`."""
        self.used: dict[str, set[str]] = {}
        """The names of each section that something refers to; the rest get an "is not used" warning."""

    def error(self, loc: Loc, problem: str) -> ConfigError:
        return ConfigError(self.filename, loc.path, loc.line, problem)

    def warn(self, loc: Loc, problem: str) -> None:
        self.warnings.append(sentence(self.filename, loc.path, loc.line, problem))

    # --- structure ---

    def mapping(self, value: Any, loc: Loc, known: tuple[str, ...]) -> Map:
        """A mapping whose keys are all among `known` (in the order listed in messages)."""
        if not isinstance(value, Map):
            raise self.error(loc, f"expected a mapping, got {what(value, loc)}")
        self._refuse_duplicates(value, loc)
        for key in value:
            self.string_key(value, key, loc, "key")
            if key not in known:
                raise self.error(loc.key(value, key), _unknown(key, known))
        return value

    def name_mapping(self, value: Any, loc: Loc, noun: str) -> Map:
        """A top-level section mapping names to definitions (``track_scripts``, ``track_files``); the caller
        checks each key with `string_key` and `identifier`, `noun` naming them (``script name``)."""
        if not isinstance(value, Map):
            raise self.error(loc, f"expected a mapping of {noun}s, got {what(value, loc)}")
        self._refuse_duplicates(value, loc)
        return value

    def _refuse_duplicates(self, value: Map, loc: Loc) -> None:
        if value.duplicates:
            key, line = value.duplicates[0]
            raise self.error(Loc(loc.key(value, str(key)).path, line), "is given twice in the same mapping")

    def string_key(self, mapping: Map, key: Any, loc: Loc, noun: str) -> str:
        if not isinstance(key, str):
            shown = number(key, Loc(loc.path, 0)) if isinstance(key, int | float) else clip(repr(key), quoted=False)
            raise self.error(Loc(loc.path, mapping.value_lines[key]), f"{noun} {shown} is not a string")
        return key

    def sequence(self, value: Any, loc: Loc) -> Seq:
        if not isinstance(value, Seq):
            raise self.error(loc, f"expected a list, got {what(value, loc)}")
        if not value:
            raise self.error(loc, "must not be empty")
        return value

    # --- scalars ---

    def string(self, value: Any, loc: Loc) -> str:
        if not isinstance(value, str):
            hint = " (quote it)" if isinstance(value, bool | int | float) else ""
            raise self.error(loc, f"expected a string, got {what(value, loc)}{hint}")
        if not value:
            raise self.error(loc, "must not be empty")
        return value

    def boolean(self, value: Any, loc: Loc) -> bool:
        if not isinstance(value, bool):
            raise self.error(loc, f"expected true or false, got {what(value, loc)}")
        return value

    def integer(self, value: Any, loc: Loc, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(loc, f"expected a whole number {lo}..{hi}, got {what(value, loc)}")
        if not lo <= value <= hi:
            raise self.error(loc, f"{number(value, loc)} is outside {lo}..{hi}")
        return value

    def seconds(self, value: Any, loc: Loc, lo: float, hi: float) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(loc, f"expected a number of seconds, got {what(value, loc)}")
        if (isinstance(value, float) and not math.isfinite(value)) or not lo <= value <= hi:
            raise self.error(loc, f"{number(value, loc)} is outside {lo:g}..{hi:g} seconds")
        return float(value)

    def choice(self, value: Any, loc: Loc, enum: type[_E]) -> _E:
        allowed = [m.value for m in enum]
        if isinstance(value, str) and value in allowed:
            return enum(value)
        shown = quote(value, loc)
        close = difflib.get_close_matches(value, allowed, n=1) if isinstance(value, str) else []
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise self.error(loc, f"{shown} is not one of {', '.join(allowed)}{hint}")

    def reference(self, value: Any, loc: Loc, section: str) -> str:
        """A name that must be defined under the top-level `section`; it then counts as used."""
        names = self.defined.get(section, ())
        name = self.string(value, loc)
        if name not in names:
            known = sorted(names)
            close = difflib.get_close_matches(name, known, n=1)
            hint = (
                f" (did you mean {close[0]}?)"
                if close
                else f" (defined: {', '.join(known)})"
                if known
                else f" (there is no top-level {section})"
            )
            raise self.error(loc, f"{clip(name)} is not defined under the top-level {section}{hint}")
        self.used.setdefault(section, set()).add(name)
        return name

    # --- values several sections share ---

    def identifier(self, name: str, loc: Loc, noun: str = "") -> str:
        """`name` (already a string) as a name of something: letters, digits and ``_.-`` only."""
        if not NAME_RE.fullmatch(name):
            shown = f"{noun} {clip(name)}" if noun else clip(name)
            raise self.error(loc, f"{shown} may only contain letters, digits, '_', '.' and '-'")
        if len(name) > NAME_MAX:
            shown = f"{noun} {clip(name)}" if noun else clip(name)
            raise self.error(loc, f"{shown} is longer than {NAME_MAX} characters")
        return name

    def name(self, value: Any, loc: Loc) -> str:
        """The name of an instance or a sync group."""
        return self.identifier(self.string(value, loc), loc)

    def interface(self, value: Any, loc: Loc) -> str:
        name = self.string(value, loc)
        # The kernel's dev_valid_name(): at most IFNAMSIZ-1 bytes, no '/', ':' or whitespace, not . or ..
        bad = name in (".", "..") or any(c in "/:" or c.isspace() or not c.isprintable() for c in name)
        if bad or len(name.encode()) > _IFNAME_MAX:
            raise self.error(loc, f"{clip(name)} is not a valid Linux interface name")
        return name

    @overload
    def address(self, value: Any, loc: Loc, with_prefix: Literal[True]) -> VirtualAddress: ...
    @overload
    def address(self, value: Any, loc: Loc, with_prefix: Literal[False]) -> IPAddress: ...
    def address(self, value: Any, loc: Loc, with_prefix: bool) -> VirtualAddress | IPAddress:
        """A unicast address of the instance's link: a virtual address (`with_prefix`) or a peer/source."""
        text = self.string(value, loc)
        if with_prefix and "/" not in text:
            example = text if len(text) <= 45 else "ADDRESS"  # 45: the longest IPv6 address written out
            raise self.error(loc, f"{clip(text)} needs a prefix length, e.g. {example}/24 or {example}/64")
        if not with_prefix and "/" in text:
            raise self.error(loc, f"{clip(text)} is an address, not a network: write it without a prefix length")
        if "%" in text:
            raise self.error(loc, f"{clip(text)} must not carry a zone; the instance's interface is the zone")
        try:
            address = ip_interface(text) if with_prefix else ip_address(text)
        except ValueError:
            expected = "an IPv4 or IPv6 address with prefix" if with_prefix else "an IPv4 or IPv6 address"
            raise self.error(loc, f"{clip(text)} is not {expected}") from None
        ip = address.ip if isinstance(address, IPv4Interface | IPv6Interface) else address
        if ip.is_multicast or ip.is_unspecified or ip.is_loopback or ip == _BROADCAST:
            raise self.error(loc, f"{ip} is not a unicast address")
        return address

    def command(self, raw: Any, command_loc: Loc) -> tuple[str, ...]:
        """argv from a list of strings or one string split like a shell would; never run through a shell.
        Shared by track scripts and notify hooks."""
        if isinstance(raw, str):
            try:
                argv = shlex.split(raw)
            except ValueError as e:
                raise self.error(command_loc, f"cannot be split into arguments like a shell would: {e}") from None
            if not argv:
                raise self.error(command_loc, "must not be empty")
        elif isinstance(raw, Seq):
            items = self.sequence(raw, command_loc)
            argv = [self.string(arg, command_loc.item(items, i)) for i, arg in enumerate(items)]
        else:
            raise self.error(command_loc, f"expected a list of arguments or a string, got {what(raw, command_loc)}")
        if any("\0" in arg for arg in argv):
            raise self.error(command_loc, "must not contain NUL characters")
        operators = sorted({arg for arg in argv if arg in _SHELL_TOKENS})
        if operators:
            self.warn(
                command_loc,
                f"is not run through a shell, so {' '.join(operators)} reach the program as plain arguments; "
                "if you need a shell, write it out: command: [/bin/sh, -c, '...']",
            )
        return tuple(argv)

    def user_name(self, value: Any, user_loc: Loc) -> str:
        user = self.string(value, user_loc)
        if not NAME_RE.fullmatch(user) or len(user) > NAME_MAX:
            raise self.error(user_loc, f"{clip(user)} is not a user name")
        return user
