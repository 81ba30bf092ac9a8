"""Whether a process the tests started (or one of its children) still runs: for the tests that check that a killed
script, hook or background child really ended."""

from __future__ import annotations

import time
from pathlib import Path


def state(pid: int) -> str | None:
    """The process's state letter (Z: a zombie), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def alive(pid: int) -> bool:
    """Running: neither gone nor a zombie (a zombie still answers kill(pid, 0))."""
    return state(pid) not in (None, "Z")


def gone(pid: int, timeout: float = 5.0) -> bool:
    """Whether `pid` ends within `timeout`: SIGKILL is delivered asynchronously, so give the kernel a moment."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
