"""Logging set-up (journald under systemd, stderr otherwise), rate limiting, and escaping of foreign text.

Text that comes from outside (a script's output) goes through `printable` before it reaches a log record: a
newline in it would otherwise start what reads as a record of our own, and a NUL or an escape sequence would
garble a terminal or a journal export.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

SYSLOG_IDENTIFIER = "vrrpd"
_STDERR_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def under_systemd() -> bool:
    """True when started by systemd, so that logs belong in the journal."""
    if os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        return True
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    try:
        from systemd import daemon

        return bool(daemon.booted())
    except ImportError:
        return False


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    return JournalHandler(SYSLOG_IDENTIFIER=SYSLOG_IDENTIFIER)


def setup_logging(level: int | str = logging.INFO, *, journal: bool | None = None) -> logging.Handler:
    """Send the root logger to journald (`journal` None = when under systemd) or to stderr.

    Idempotent: a second call replaces the handler the first one installed (a reload may change the level).
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, "_vrrpd", False)]:
        root.removeHandler(handler)
        handler.close()
    use_journal = under_systemd() if journal is None else journal
    handler = _journal_handler() if use_journal else None
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_STDERR_FORMAT))
    else:
        # journald stamps time, priority and identifier itself; the logger name stays in LOGGER=.
        handler.setFormatter(logging.Formatter("%(message)s"))
    handler._vrrpd = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0
    level: int = logging.NOTSET


class RateLimitedLogger:
    """At most `burst` messages per key per `interval` seconds; the rest are counted and summarised.

    Meant for messages triggered by remote input (a peer sending bad adverts ten times a second must not
    flood the journal or slow the loop). The summary "N similar messages suppressed" is logged when the key
    next logs after its window, or by `flush()`. Given a `loop`, a timer calls `flush()` when the first window
    that suppressed something ends, so the summary appears even if the key never logs again (without it, a
    flood that stopped was never summarised); `close()` summarises what is still open. At most `max_keys` keys
    are tracked, since keys often come from the network (source addresses); beyond that, new keys share one
    extra overflow window.
    """

    OVERFLOW = ("<overflow>",)

    def __init__(
        self,
        logger: logging.Logger,
        *,
        burst: int = 5,
        interval: float = 60.0,
        max_keys: int = 1024,
        clock: Callable[[], float] = time.monotonic,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.logger = logger
        self.burst = burst
        self.interval = interval
        self.max_keys = max_keys
        self.clock = clock
        self._windows: dict[Hashable, _Window] = {}
        self._loop = loop
        self._timer: asyncio.TimerHandle | None = None

    def log(self, level: int, key: Hashable, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log unless `key` is over its budget; True if the message was logged (with the traceback being handled,
        if `exc_info`: so a failure repeated by remote input logs at most `burst` tracebacks per interval)."""
        if not self.logger.isEnabledFor(level):
            return False
        now = self.clock()
        window = self._windows.get(key)
        if window is not None and now - window.start >= self.interval:
            self._summarise(key, window)
            window = None
        if window is None:
            if len(self._windows) >= self.max_keys:
                self.flush()
            if len(self._windows) >= self.max_keys:
                key = self.OVERFLOW
                window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(now, level=level)
        window.level = max(window.level, level)
        if window.logged < self.burst:
            window.logged += 1
            self.logger.log(level, msg, *args, exc_info=exc_info)
            return True
        window.suppressed += 1
        if self._timer is None and self._loop is not None:
            self._arm(window.start)
        return False

    def _arm(self, start: float) -> None:
        assert self._loop is not None
        delay = max(0.0, start + self.interval - self.clock())
        self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()
        waiting = [w.start for w in self._windows.values() if w.suppressed]
        if waiting:
            self._arm(min(waiting))

    @property
    def tracked(self) -> int:
        """Keys with an open window now: at most `max_keys`, plus the one overflow window they share beyond that."""
        return len(self._windows)

    def debug(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.DEBUG, key, msg, *args)

    def info(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.INFO, key, msg, *args)

    def warning(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.WARNING, key, msg, *args)

    def error(self, key: Hashable, msg: str, *args: object) -> bool:
        return self.log(logging.ERROR, key, msg, *args)

    def flush(self) -> None:
        """Summarise and forget every window that has ended."""
        now = self.clock()
        for key, window in list(self._windows.items()):
            if now - window.start >= self.interval:
                self._summarise(key, window)

    def close(self) -> None:
        """At shutdown: summarise every window that suppressed something, ended or not, and stop the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for key, window in list(self._windows.items()):
            self._summarise(key, window)

    def _summarise(self, key: Hashable, window: _Window) -> None:
        del self._windows[key]
        if window.suppressed:
            self.logger.log(
                window.level,
                "%d similar messages suppressed (%s) within %gs",
                window.suppressed,
                _show(key),
                round(min(self.interval, self.clock() - window.start), 3),
            )


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(data: bytes, limit: int, size: int | None = None) -> str:
    """The first `limit` bytes of `data` (of `size` bytes in all: more may have been discarded already) as one line
    that cannot pass for another: a backslash, newline, carriage return or tab shows as its backslash escape, any
    other control or non-printable character (NUL, ESC, U+2028) as \\xNN or \\uNNNN, and a byte that is not
    UTF-8 as \\xNN. What is left out is counted: "... (N bytes more)"."""
    size = len(data) if size is None else size
    text = data[:limit].decode("utf-8", "surrogateescape")
    if not text.isprintable() or "\\" in text:
        text = "".join(ch if ch.isprintable() and ch != "\\" else _escape(ch) for ch in text)
    more = size - min(limit, len(data))
    return f"{text}... ({more} bytes more)" if more > 0 else text


def _escape(ch: str) -> str:
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: a byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _show(key: Hashable) -> str:
    if isinstance(key, tuple):
        return " ".join(str(k) for k in key)
    return str(key)
