#!/usr/bin/env python3
"""Where vrrpd's resident memory goes at start-up: the RSS each import step adds, in the daemon's own import order.

Not a test: it prints a table. No root needed (nothing is started; this imports what `vrrpd run` imports):

    PYTHONPATH=. .venv/bin/python bench/rss_breakdown.py

Each step runs in the same interpreter, after the steps above it, so a library's figure is what it adds on top of
what was already loaded (asyncio's figure excludes ssl, which is listed first because asyncio imports it). RSS counts
shared library pages too (libssl, libcrypto, libyaml), as `ps` and issue #6's comparison with keepalived do.
"""

from __future__ import annotations

import importlib
import sys

# (label, modules): the order `vrrpd run` meets them (cli -> config -> daemon -> net -> pyroute2).
STEPS: list[tuple[str, tuple[str, ...]]] = [
    ("ssl (libssl + libcrypto; imported by asyncio and pyroute2)", ("ssl",)),
    ("asyncio (+ concurrent.futures)", ("asyncio",)),
    ("PyYAML (with libyaml)", ("yaml",)),
    ("click", ("click",)),
    ("vrrpd.protocol + vrrpd.config", ("vrrpd.protocol", "vrrpd.config")),
    (
        "vrrpd.services.control, logsetup, scripts",
        ("vrrpd.services.control", "vrrpd.services.logsetup", "vrrpd.services.scripts"),
    ),
    ("pyroute2 (AsyncIPRoute and what it imports)", ("vrrpd.net.netlink",)),
    ("vrrpd.net (sockets, announce, ...) + vrrpd.daemon", ("vrrpd.net", "vrrpd.daemon", "vrrpd.cli.daemon")),
    ("systemd.daemon (sd_notify, loaded on first notification)", ("systemd.daemon",)),
]


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    base = prev = rss_kb()
    rows = [("interpreter (python3.11, site)", base)]
    for label, modules in STEPS:
        for name in modules:
            importlib.import_module(name)
        now = rss_kb()
        rows.append((label, now - prev))
        prev = now
    width = max(len(label) for label, _ in rows)
    print(f"{'step'.ljust(width)} | RSS added (MB)")
    print(f"{'-' * width}-|---------------")
    for label, kb in rows:
        print(f"{label.ljust(width)} | {kb / 1024:6.1f}")
    print(f"{'total after imports'.ljust(width)} | {prev / 1024:6.1f}")
    full = "IPRoute" in getattr(sys.modules.get("pyroute2"), "__dict__", {})
    sqlite = "sqlite3" in sys.modules
    print(f"\npyroute2 package __init__ run: {full}; sqlite3 loaded: {sqlite}; modules: {len(sys.modules)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
