"""YAML configuration -> frozen, validated dataclasses: `load_config()`, `parse_config()` and the top level of
the document, `Config`.

Every problem is reported as one `ConfigError` sentence naming the file, the key path and the line, e.g.
``/etc/vrrpd/vrrpd.yaml: instances[1].priority (line 14): 300 is outside 1..255``; non-fatal findings go
to `Config.warnings` in the same style. Nothing here touches the network: `vrrpd check` and the daemon's
start-up run this same code, so they accept the same files, and so does a reload, which then plans the new file
against the running one (vrrpd.config.reload).

Decisions worth knowing:
- YAML 1.1 (PyYAML's safe loader): unquoted ``yes``/``no``/``on``/``off`` are booleans. Boolean keys
  accept exactly what YAML reads as a boolean and reject strings (``"yes"``) and numbers (``1``), so a
  quoted value never silently means something else. String keys reject such booleans with a hint to quote.
- Unknown keys are errors (with "did you mean"); so are duplicate keys, which PyYAML would silently
  collapse to the last one.
- Top-level ``track_scripts`` (vrrpd.config.tracking) and ``track_files`` (vrrpd.config.track_files) define
  checks by name; instances and sync groups list the ones they use, and a definition nobody uses is a warning.
- Each section has its module: instances and ``defaults`` (instance), tracker lists (tracking), ``notify``
  (hooks), the unicast keys (unicast), ``sync_groups`` (syncgroups). They import each other strictly bottom-up:
  errors, yamlsrc, checker; hooks, tracking, track_files, unicast; instance; syncgroups; this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from vrrpd.config.checker import Checker, Loc
from vrrpd.config.errors import ConfigError, NoInstancesError, clip
from vrrpd.config.instance import InstanceConfig, check_defaults, check_instances
from vrrpd.config.metrics import MetricsConfig, metrics_section
from vrrpd.config.syncgroups import SyncGroupConfig, check_sync_groups
from vrrpd.config.track_files import FileConfig, file_section
from vrrpd.config.tracking import ScriptConfig, script_section
from vrrpd.config.yamlsrc import load_yaml
from vrrpd.defaults import DEFAULT_CONTROL_SOCKET

TOP_KEYS = (
    "control_socket",
    "log_level",
    "defaults",
    "track_scripts",
    "instances",
    "track_files",
    "sync_groups",
    "metrics",
)
_MAX_UNIX_PATH = 107  # sun_path is 108 bytes including the terminating NUL
MAX_FILE_SIZE = 2 * 1024 * 1024
"""Bytes of a configuration file. The largest file that makes sense, every VRID on 16 interfaces (4095 instances)
written out in block style with two addresses, a tracker and two hooks each, is 1.4 MB and takes 2.4 s of CPU and
115 MB to check; a limit keeps a stray or hostile file (a log, a disk image) from taking the host."""


class LogLevel(StrEnum):
    """The daemon's log level (`log_level`); `vrrpd run --log-level`, when given, wins over the file."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


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
    log_level: LogLevel | None = None
    """None: not in the file (the daemon logs at info, or at what `vrrpd run --log-level` says)."""
    metrics: MetricsConfig | None = None
    """The Prometheus exporter's address (vrrpd.config.metrics); None: no exporter."""

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


def load_config(path: str | Path) -> Config:
    filename = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)  # never more: /dev/zero is a file name too
        if len(data) > MAX_FILE_SIZE:
            limit = f"{MAX_FILE_SIZE // (1024 * 1024)} MiB"
            raise ConfigError(filename, "", None, f"the file is larger than {limit}, too large for a configuration")
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(filename, "", None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(filename, "", None, f"cannot read the file: {e.strerror or e}") from None
    return parse_config(text, filename)


def parse_config(text: str, filename: str = "<string>") -> Config:
    return _document(Checker(filename), load_yaml(text, filename))


def _document(checker: Checker, doc: Any) -> Config:
    top = Loc("", getattr(doc, "line", 1))
    if doc is None:
        problem = "the file is empty; it needs at least an instances list"
        raise NoInstancesError(checker.filename, top.path, top.line, problem)
    checker.mapping(doc, top, TOP_KEYS)
    socket = _control_socket(checker, doc, top)
    level = checker.choice(doc["log_level"], top.key(doc, "log_level"), LogLevel) if "log_level" in doc else None
    metrics = metrics_section(checker, doc["metrics"], top.key(doc, "metrics")) if "metrics" in doc else None
    # Definitions first: instances and groups refer to them by name.
    scripts: dict[str, ScriptConfig] = {}
    if "track_scripts" in doc:
        scripts = script_section(checker, doc["track_scripts"], top.key(doc, "track_scripts"))
    files: dict[str, FileConfig] = {}
    if "track_files" in doc:
        files = file_section(checker, doc["track_files"], top.key(doc, "track_files"))
    checker.defined.update(track_scripts=scripts, track_files=files)
    defaults = check_defaults(checker, doc["defaults"], top.key(doc, "defaults")) if "defaults" in doc else {}
    if "instances" not in doc:
        raise NoInstancesError(checker.filename, top.path, top.line, "missing required key instances")
    if doc["instances"] is None or (isinstance(doc["instances"], list) and not doc["instances"]):
        # `instances:` with every item commented out reads as null.
        at = top.key(doc, "instances")
        raise NoInstancesError(checker.filename, at.path, at.line, "must not be empty")
    instances = check_instances(checker, doc["instances"], top.key(doc, "instances"), defaults)
    groups = check_sync_groups(checker, doc, top, instances)
    _warn_unused(checker, doc, top, "track_scripts", "it will not run")
    _warn_unused(checker, doc, top, "track_files", "it is not read")
    return Config(
        tuple(instances),
        socket,
        checker.filename,
        tuple(checker.warnings),
        track_scripts=tuple(scripts.values()),
        track_files=tuple(files.values()),
        sync_groups=groups,
        log_level=level,
        metrics=metrics,
    )


def _warn_unused(checker: Checker, doc: Any, top: Loc, section: str, effect: str) -> None:
    for name in checker.defined[section]:
        if name not in checker.used.get(section, ()):
            checker.warn(
                top.key(doc, section).key(doc[section], name), f"is not used by any instance's {section}; {effect}"
            )


def _control_socket(checker: Checker, doc: Any, top: Loc) -> Path:
    if "control_socket" not in doc:
        return DEFAULT_CONTROL_SOCKET
    at = top.key(doc, "control_socket")
    socket = Path(checker.string(doc["control_socket"], at))
    if "\0" in str(socket) or not socket.is_absolute():
        raise checker.error(at, f"{clip(str(socket))} must be an absolute path")
    if len(bytes(socket)) > _MAX_UNIX_PATH:
        raise checker.error(at, f"is {len(bytes(socket))} bytes; unix socket paths are at most {_MAX_UNIX_PATH}")
    return socket
