"""YAML for track files (issue #5 point 2; keepalived's `track_file` / `vrrp_track_file`).

Top level::

    track_files:
      maintenance:
        path: /run/vrrpd/maintenance     # absolute; holds one integer
        interval: 1                      # poll period in seconds (default 1)
        on_missing: fault                # or {value: N}; required, see below
        init: {value: 0, overwrite: false}   # optional: write the file at start-up (keepalived's init_file)

Per instance: ``track_files: [{name: maintenance, weight: -10}]`` (priority += value x weight, clamped) or
``[{name: maintenance, on_failure: fault}]`` (FAULT while the value is non-zero).

`on_missing` has no default: any default would turn "someone deleted the drain file" into a silent decision
(keepalived's man page does not even say what it does then). The same rule covers content that is not a
whole number, so a half-written or corrupted file is never guessed at. `fault` faults every instance tracking the file,
whatever its weight; `{value: N}` carries on as if the file held N.

The "this weight can never change the election" warning that scripts and interfaces get is not given for
files: the value is any integer the writer chooses, so no weight can be judged too small at config time.
Only the owner case is certain (tracking never moves priority 255) and is warned about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vrrpd.config.checker import Checker, Loc, quote
from vrrpd.config.errors import clip
from vrrpd.config.yamlsrc import Map

FILE_KEYS = ("path", "interval", "on_missing", "init")
ON_MISSING_KEYS = ("value",)
"""The keys of `on_missing` when it is a mapping (``{value: N}``) rather than ``fault``."""
INIT_KEYS = ("value", "overwrite")
DEFAULT_INTERVAL = 1.0
VALUE_LIMIT = 10**15
"""|value| accepted in `on_missing` / `init`: short enough to write within the reader's size cap (a file may
hold more; the contribution is clamped anyway)."""


@dataclass(frozen=True, slots=True)
class FileConfig:
    """A file holding an integer (top-level `track_files`), read every `interval` seconds."""

    name: str
    path: Path
    interval: float = DEFAULT_INTERVAL
    on_missing: int | None = None
    """The value assumed while the file is missing or does not hold a whole number; None = FAULT."""
    init_value: int | None = None
    """Written to the file at start-up if it does not exist (keepalived's `init_file`); None = never written."""
    init_overwrite: bool = False
    """Write `init_value` even over an existing file (keepalived's `init_file ... overwrite`)."""
    line: int = field(default=0, compare=False)

    @property
    def on_missing_text(self) -> str:
        return "fault" if self.on_missing is None else f"value {self.on_missing}"


def file_section(checker: Checker, value: Any, loc: Loc) -> dict[str, FileConfig]:
    """The top-level `track_files` mapping -> name -> FileConfig."""
    section = checker.name_mapping(value, loc, "track file name")
    files: dict[str, FileConfig] = {}
    paths: dict[Path, str] = {}
    for name in section:
        checker.string_key(section, name, loc, "track file name")
        at = loc.key(section, name)
        checker.identifier(name, at, "track file name")
        files[name] = _one_file(checker, name, section[name], at)
        path = files[name].path
        if path in paths:
            checker.warn(
                at,
                f"reads the same file as track_files.{paths[path]}; define it once and list that name in "
                "every instance that tracks it",
            )
        paths.setdefault(path, name)
    return files


def _one_file(checker: Checker, name: str, value: Any, loc: Loc) -> FileConfig:
    entry = checker.mapping(value, loc, FILE_KEYS)
    if "path" not in entry:
        raise checker.error(loc, "missing required key path")
    path_loc = loc.key(entry, "path")
    text = checker.string(entry["path"], path_loc)
    path = Path(text)
    if "\0" in text or not path.is_absolute():
        raise checker.error(path_loc, f"{clip(text)} must be an absolute path")
    interval = DEFAULT_INTERVAL
    if "interval" in entry:
        interval = checker.seconds(entry["interval"], loc.key(entry, "interval"), 0.1, 3600)
    if "on_missing" not in entry:
        raise checker.error(
            loc,
            "needs on_missing: fault or on_missing: {value: N} (what a missing or unreadable file means; "
            "there is no default: a deleted file must never pass unnoticed)",
        )
    missing_loc = loc.key(entry, "on_missing")
    raw = entry["on_missing"]
    on_missing: int | None
    if raw == "fault":
        on_missing = None
    elif isinstance(raw, Map):
        sub = checker.mapping(raw, missing_loc, ON_MISSING_KEYS)
        if "value" not in sub:
            raise checker.error(missing_loc, "missing required key value")
        on_missing = checker.integer(sub["value"], missing_loc.key(sub, "value"), -VALUE_LIMIT, VALUE_LIMIT)
    else:
        shown = quote(raw, missing_loc)
        raise checker.error(missing_loc, f"{shown} is not fault or {{value: N}}")
    init_value: int | None = None
    overwrite = False
    if "init" in entry:
        init_loc = loc.key(entry, "init")
        init = checker.mapping(entry["init"], init_loc, INIT_KEYS)
        init_value = (
            checker.integer(init["value"], init_loc.key(init, "value"), -VALUE_LIMIT, VALUE_LIMIT)
            if "value" in init
            else 0
        )
        if "overwrite" in init:
            overwrite = checker.boolean(init["overwrite"], init_loc.key(init, "overwrite"))
    return FileConfig(name, path, interval, on_missing, init_value, overwrite, line=loc.line)
