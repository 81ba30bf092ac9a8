"""Progress lines of bench/run_all.py and its sections."""

from __future__ import annotations

import sys
import time


def log(text: str) -> None:
    """One time-stamped line on stderr: stdout carries the report alone, so it can be redirected to a file."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)
