#!/usr/bin/env python3
"""Where vrrpd's resident memory goes at start-up: the RSS each import step adds, in the daemon's own import order.

Not a test: it prints a table. No root needed (nothing is started; this imports what `vrrpd run` imports):

    PYTHONPATH=. .venv/bin/python bench/rss_breakdown.py          # what `vrrpd run` imports, in its order
    PYTHONPATH=. .venv/bin/python bench/rss_breakdown.py --full   # as before issue #16: ssl, hashlib, ... too

Each step runs in the same interpreter, after the steps above it, so a library's figure is what it adds on top of
what was already loaded (asyncio's figure excludes ssl, which is listed first because asyncio imports it). RSS counts
shared library pages too (libssl, libcrypto, libyaml), as `ps` and issue #6's comparison with keepalived do.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib
import sys

# (label, modules): the order `vrrpd run` meets them (cli -> config -> daemon -> net -> pyroute2). Without --full,
# vrrpd.cli.leanimports runs first, as `vrrpd run` does: the ssl step then adds nothing (ssl registered, not run).
STEPS: list[tuple[str, tuple[str, ...]]] = [
    ("ssl (libssl + libcrypto; imported by asyncio and pyroute2)", ("ssl",)),
    ("asyncio (+ concurrent.futures)", ("asyncio",)),
    ("prometheus_client (--full: its __init__: http.server, urllib, hashlib)", ("prometheus_client",)),
    ("PyYAML (with libyaml)", ("yaml",)),
    ("click", ("click",)),
    ("vrrpd.protocol + vrrpd.config", ("vrrpd.protocol", "vrrpd.config")),
    (
        "vrrpd.services.control, logsetup, scripts",
        ("vrrpd.services.control", "vrrpd.services.logsetup", "vrrpd.services.scripts"),
    ),
    ("pyroute2 (AsyncIPRoute and what it imports)", ("vrrpd.net.netlink",)),
    ("vrrpd.net (sockets, announce, ...) + vrrpd.daemon", ("vrrpd.net", "vrrpd.daemon", "vrrpd.cli.daemon")),
]
LIBRARIES = ("libssl", "libcrypto", "libyaml", "libffi")


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def pss_kb() -> int:
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    raise RuntimeError("no Pss in /proc/self/smaps_rollup")


def after_start(prev: int) -> list[tuple[str, int]]:
    """What each candidate clean-up after start-up gives back, applied one after the other (issue #16)."""
    rows = []
    for name in [m for m in sys.modules if m == "click" or m.startswith(("click.", "yaml", "_yaml"))]:
        del sys.modules[name]
    gc.collect()
    now = rss_kb()
    rows.append(("after start: del click + yaml from sys.modules, gc.collect()", now - prev))
    prev = now
    gc.freeze()
    now = rss_kb()
    rows.append(("after start: gc.freeze()", now - prev))
    prev = now
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    now = rss_kb()
    rows.append(("after start: malloc_trim(0) (glibc)", now - prev))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="without vrrpd.cli.leanimports (as before issue #16)")
    parser.add_argument("--after-start", action="store_true", help="also measure clean-ups after start-up")
    args = parser.parse_args()
    base = prev = rss_kb()
    rows = [("interpreter (python3.11, site)", base)]
    if not args.full:
        from vrrpd.cli.leanimports import lean_run_imports

        lean_run_imports()
        prev = rss_kb()
        rows.append(("vrrpd.cli.leanimports: asyncio without ssl, ssl deferred", prev - base))
    for label, modules in STEPS:
        for name in modules:
            importlib.import_module(name)
        now = rss_kb()
        rows.append((label, now - prev))
        prev = now
    total, pss = prev, pss_kb()
    if args.after_start:
        rows += after_start(prev)
    width = max(len(label) for label, _ in rows)
    print(f"{'step'.ljust(width)} | RSS added (MB)")
    print(f"{'-' * width}-|---------------")
    for label, kb in rows:
        print(f"{label.ljust(width)} | {kb / 1024:6.1f}")
    print(f"{'total after imports (PSS)'.ljust(width)} | {total / 1024:6.1f} ({pss / 1024:.1f})")
    full = "IPRoute" in getattr(sys.modules.get("pyroute2"), "__dict__", {})
    ssl_run = "_ssl" in sys.modules
    with open("/proc/self/maps") as f:
        maps = f.read()
    mapped = ", ".join(lib for lib in LIBRARIES if lib in maps) or "none"
    print(f"\n{sys.executable}: pyroute2 package __init__ run: {full}; ssl run: {ssl_run}; modules: {len(sys.modules)}")
    print(f"shared libraries mapped (of {', '.join(LIBRARIES)}): {mapped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
