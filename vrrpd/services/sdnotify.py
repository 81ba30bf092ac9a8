"""systemd readiness notifications (sd_notify(3)), best effort.

Every call is a no-op when NOTIFY_SOCKET is unset (not started by systemd with Type=notify) and none
ever raises: a lost notification must not take down a router that is otherwise working.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger(__name__)


def notify(*fields: str) -> bool:
    """Send `fields` (``"READY=1"``, ...) to systemd; True if it was delivered."""
    if not os.environ.get("NOTIFY_SOCKET"):
        return False
    try:
        from systemd import daemon

        return bool(daemon.notify("\n".join(fields)))
    except Exception as e:  # ImportError, OSError, bad text: all equally "not delivered"
        log.debug("sd_notify(%r) failed: %s", fields, e)
        return False


def _status(text: str) -> str:
    # sd_notify fields are newline-separated, so a newline in the text would start a bogus field.
    return "STATUS=" + " ".join(text.splitlines())


def ready(status: str | None = None) -> bool:
    """Start-up or reload finished."""
    return notify("READY=1", *([_status(status)] if status else []))


def reloading() -> bool:
    """A reload began; `ready()` ends it. MONOTONIC_USEC lets systemd >= 253 (Type=notify-reload) match them."""
    return notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")


def stopping() -> bool:
    return notify("STOPPING=1")


def status(text: str) -> bool:
    return notify(_status(text))


def watchdog() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds within which systemd expects `watchdog()` (WatchdogSec=), or None when it does not watch us."""
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
        pid = os.environ.get("WATCHDOG_PID")
    except ValueError:
        return None
    if usec <= 0 or (pid and pid != str(os.getpid())):
        return None
    return usec / 1_000_000
