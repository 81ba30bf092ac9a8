"""Track files: poll a small file holding an integer and report its value (issue #5 point 2).

Polling, not inotify: one `open`+`read` of at most 65 bytes per file per `interval` (1 s by default) costs
nothing, and it is right in every case inotify makes hard: the file replaced by `rename` (the atomic way to
write it), deleted and recreated, its directory not existing yet, bind mounts and network filesystems (where
inotify sees no remote change). The latency is at most `interval`, the same order as the advert interval.

Reads never block the loop: each runs in a short-lived daemon thread. A local file would be fast enough to
read inline, but a path on a hung NFS/FUSE mount can block `open()` for minutes, which would stop adverts and
cause a failover for the wrong reason. A read still running at the next poll is not duplicated: the file is
reported unreadable ("read still pending") until it returns. Daemon threads never hold up the daemon's exit.
`O_NONBLOCK` on open keeps a FIFO at the path from blocking even that thread, and only regular files count.

What a reading means (missing, unreadable, not a whole number -> `on_missing`) is decided here; the
arithmetic (value x weight, faults) is the pure `vrrpd.protocol.tracking`. Problems are logged when they
start and when they change, then rate-limited; a return to a good value is logged once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from vrrpd.config.track_files import FileConfig
from vrrpd.protocol.tracking import FILE_VALUE_MAX_BYTES, Tracking, parse_file_value
from vrrpd.services.logsetup import RateLimitedLogger
from vrrpd.services.periodic import PeriodicTask, survive

log = logging.getLogger("vrrpd.services.filetrack")

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Reading:
    """One poll of a track file: the integer it holds, or why there is none."""

    value: int | None
    problem: str | None = None


def read_value(path: Path) -> Reading:
    """Blocking (run it in a thread): the file's integer, or the problem ("missing", "not a whole number"...)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except FileNotFoundError:
        return Reading(None, "missing")
    except OSError as e:
        return Reading(None, f"cannot open it: {e.strerror or e}")
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Reading(None, "not a regular file")
        data = os.read(fd, FILE_VALUE_MAX_BYTES + 1)
    except OSError as e:
        return Reading(None, f"cannot read it: {e.strerror or e}")
    finally:
        os.close(fd)
    parsed = parse_file_value(data)
    return Reading(parsed) if isinstance(parsed, int) else Reading(None, parsed)


def write_initial(config: FileConfig) -> str | None:
    """Blocking: keepalived's `init_file` — write `init_value` if the file is missing (or always, with
    `overwrite`). Returns what happened, for the log, or None if nothing was written."""
    if config.init_value is None:
        return None
    data = f"{config.init_value}\n".encode()
    path = config.path
    try:
        if config.init_overwrite:
            # A temporary file and rename, so a reader never sees it empty or half-written.
            tmp = path.with_name(f".{path.name}.vrrpd-init")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, path)
            return f"wrote {config.init_value} (init, overwrite)"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return None
    except OSError as e:
        return f"could not write the initial value: {e.strerror or e}"
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return f"created it holding {config.init_value} (init)"


def in_thread(func: Callable[[], _T]) -> asyncio.Future[_T]:
    """Run a blocking call in a daemon thread (one that never delays the process's exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[_T] = loop.create_future()

    def settle(result: _T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = func()
        except BaseException as e:  # handed to the awaiting caller
            with contextlib.suppress(RuntimeError):  # the loop closed while we were blocked
                loop.call_soon_threadsafe(settle, None, e)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name="vrrpd-file-read", daemon=True).start()
    return future


class FileMonitor(PeriodicTask):
    """Polls one track file and reports its effective value through `on_change(name, value)`: the integer,
    `on_missing`'s value while there is none, or None (= fault) when `on_missing` is `fault`.

    One monitor per file, shared by every instance that tracks it.
    """

    def __init__(
        self,
        config: FileConfig,
        on_change: Callable[[str, int | None], None],
        ratelog: RateLimitedLogger,
        reader: Callable[[Path], Reading] = read_value,
    ) -> None:
        self.config = config
        self.on_change = on_change
        self.ratelog = ratelog
        self.reader = reader
        self.reading: Reading | None = None
        self.effective: int | None = None
        self.reads = 0
        self.problems = 0
        self._pending: asyncio.Future[Reading] | None = None

    # --- life cycle ---

    async def prime(self) -> int | None:
        """Write the initial value if configured, then read once; returns the effective value (no callback),
        so the daemon can give every instance its starting priority before the routers start."""
        cfg = self.config
        if cfg.init_value is not None:
            outcome = await in_thread(lambda: write_initial(cfg))
            if outcome is not None:
                level = logging.WARNING if outcome.startswith("could not") else logging.INFO
                log.log(level, "track file %s (%s): %s", cfg.name, cfg.path, outcome)
        await self.poll(notify=False)
        return self.effective

    def _task_name(self) -> str:
        return f"vrrpd-file-{self.config.name}"

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.interval
        tick = loop.time()
        while True:
            tick += interval
            await asyncio.sleep(max(0.0, tick - loop.time()))
            if loop.time() > tick + interval:  # the loop was stalled; do not fire a burst of catch-up reads
                tick = loop.time()
            await survive(self.poll(), log, "track file %s: unexpected error", self.config.name)

    # --- polling ---

    async def poll(self, notify: bool = True) -> Reading:
        """Read the file once (in a thread) and apply the result."""
        if self._pending is None or self._pending.done():
            path, reader = self.config.path, self.reader
            self._pending = in_thread(lambda: reader(path))
        try:
            # Waiting a whole interval at most: a hung read leaves the file "unreadable", not the monitor stuck.
            reading = await asyncio.wait_for(asyncio.shield(self._pending), self.config.interval)
        except TimeoutError:
            reading = Reading(None, f"read still pending after {self.config.interval:g}s (hung filesystem?)")
        self.apply(reading, notify)
        return reading

    def apply(self, reading: Reading, notify: bool = True) -> bool:
        """Record a reading; True (and `on_change` if `notify`) when the effective value changed."""
        cfg = self.config
        previous = self.reading
        self.reading = reading
        self.reads += 1
        if reading.problem is not None:
            self.problems += 1
            if previous is None or previous.problem != reading.problem:
                # Logged when a problem starts (rate-limited, for a file flapping between two problems); repeats
                # of the same problem only at debug level.
                self.ratelog.log(
                    logging.WARNING,
                    f"file-problem-start:{cfg.name}",
                    "track file %s (%s): %s; on_missing: %s",
                    cfg.name,
                    cfg.path,
                    reading.problem,
                    cfg.on_missing_text,
                )
            else:
                self.ratelog.log(
                    logging.DEBUG, f"file-problem:{cfg.name}", "track file %s: still %s", cfg.name, reading.problem
                )
        elif previous is not None and previous.problem is not None:
            log.info("track file %s (%s) holds %d again", cfg.name, cfg.path, reading.value)
        effective = reading.value if reading.problem is None else cfg.on_missing
        changed = previous is None or effective != self.effective
        self.effective = effective
        if changed and previous is not None:
            shown = "fault" if effective is None else str(effective)
            log.info("track file %s: value is now %s", cfg.name, shown)
        if changed and notify:
            self.on_change(cfg.name, effective)
        return changed

    def status(self) -> dict[str, object]:
        reading = self.reading
        return {
            "name": self.config.name,
            "path": str(self.config.path),
            "interval": self.config.interval,
            "on_missing": self.config.on_missing_text,
            "value": reading.value if reading is not None else None,
            "problem": reading.problem if reading is not None else None,
            "effective_value": self.effective,
            "reads": self.reads,
            "problems": self.problems,
        }


async def create_monitors(
    files: Iterable[FileConfig],
    used: set[str],
    trackings: Iterable[Tracking],
    on_change: Callable[[str, int | None], None],
    ratelog: RateLimitedLogger,
) -> dict[str, FileMonitor]:
    """One primed (read once, not yet polling) monitor per file in use; every tracking gets the first value,
    so the routers start with the priority (or fault) the files give them."""
    monitors = {f.name: FileMonitor(f, on_change, ratelog) for f in files if f.name in used}
    values = await asyncio.gather(*(m.prime() for m in monitors.values()))
    trackings = list(trackings)
    for name, value in zip(monitors, values, strict=True):
        for tracking in trackings:
            tracking.set_value(name, value)
    return monitors
