"""The drained state file: which instances the operator drained (`vrrpctl drain`), so a restart keeps them drained.

`$STATE_DIRECTORY/drained.json` (systemd sets STATE_DIRECTORY from the unit's ``StateDirectory=vrrpd``; without it,
vrrpd.defaults.DEFAULT_STATE_DIRECTORY), one JSON object:

    {"version": 1, "drained": {"gw-v4": "hard", "gw-v6": "soft"}}

- Written atomically: a temporary file in the same directory, flushed to disk (fsync), renamed over the old one, and
  the directory synced, so that a crash or a power cut leaves the old file or the new one, never half of one. The
  daemon writes it before it drains or resumes anything: a drain it cannot record is refused, not half done.
- A missing file means nothing is drained. A file that cannot be read or parsed is `DrainFileError`: the daemon
  says so (an error in the journal, and in `vrrpctl status`) and starts with nothing drained from it, rather than
  not at all; the next drain or resume writes a new file (and says it replaces the unreadable one).
- Blocking (open, fsync): the daemon calls `save` in a thread, off the loop its timers run on.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from vrrpd.defaults import DEFAULT_STATE_DIRECTORY
from vrrpd.protocol import Drain

FILE_NAME = "drained.json"
VERSION = 1
MAX_BYTES = 1024 * 1024
"""Larger than any real file (a thousand drained instances take 40 KB): more is not ours."""


class DrainFileError(Exception):
    """The state file exists but cannot be read or is not one we wrote; the message names the file and why."""


def state_directory(env: Mapping[str, str] | None = None) -> Path:
    """$STATE_DIRECTORY (the first, when systemd lists several, colon-separated), else the default."""
    value = (os.environ if env is None else env).get("STATE_DIRECTORY", "")
    first = value.split(":", 1)[0]
    return Path(first) if first else DEFAULT_STATE_DIRECTORY


class DrainFile:
    """`directory`/drained.json."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / FILE_NAME

    def load(self) -> dict[str, Drain]:
        """The drained instances by name ({} when there is no file); DrainFileError when it cannot be used."""
        try:
            with self.path.open("rb") as handle:
                data = handle.read(MAX_BYTES + 1)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise DrainFileError(f"{self.path}: cannot be read: {exc.strerror or exc}") from None
        if len(data) > MAX_BYTES:
            raise DrainFileError(f"{self.path}: larger than {MAX_BYTES} bytes, not a drained state vrrpd wrote")
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise DrainFileError(f"{self.path}: not JSON ({exc})") from None
        return parse(document, self.path)

    def save(self, drained: Mapping[str, Drain]) -> None:
        """Replace the file atomically with `drained` (see the module's docstring); OSError when it cannot be."""
        directory = self.path.parent
        directory.mkdir(mode=0o750, parents=True, exist_ok=True)
        text = json.dumps({"version": VERSION, "drained": {n: m.value for n, m in sorted(drained.items())}}, indent=2)
        fd, tmp = tempfile.mkstemp(prefix=f".{FILE_NAME}.", dir=directory)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(text + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)  # the rename itself reaches the disk
        finally:
            os.close(dir_fd)


def parse(document: object, path: Path) -> dict[str, Drain]:
    """The file's content -> drained instances by name; DrainFileError naming what is wrong."""
    if not isinstance(document, dict) or document.get("version") != VERSION or set(document) != {"version", "drained"}:
        raise DrainFileError(f'{path}: not a drained state vrrpd wrote (expected {{"version": {VERSION}, "drained"}})')
    drained = document["drained"]
    if not isinstance(drained, dict):
        raise DrainFileError(f'{path}: "drained" is not an object of instance names')
    out: dict[str, Drain] = {}
    for name, mode in drained.items():
        if mode not in (Drain.HARD.value, Drain.SOFT.value):
            raise DrainFileError(f'{path}: instance {name!r} is drained {mode!r}, which is neither "hard" nor "soft"')
        out[name] = Drain(mode)
    return out
