"""What `vrrpd run` keeps out of its process before it imports the daemon: `ssl` (with libssl and libcrypto) and
prometheus_client's package `__init__` (its HTTP servers and push gateway: http.server, email, urllib.request,
hashlib, wsgiref). Called by `vrrpd run` only: `vrrpd check`, vrrpctl and the tests import vrrpd as usual.

Who pulls `ssl` in (issue #16): asyncio's base_events/selector_events/sslproto (`try: import ssl`, None tolerated),
pyroute2.netlink.rtnl.probe_msg (a plain `import ssl`, used only by its TLS probe, which the daemon never sends)
and prometheus_client.exposition (annotations naming ssl.TLSVersion; vrrpd.services.metrics_http renders the text
format itself and never imports it). The daemon speaks no TLS: the metrics endpoint is plain HTTP.

- asyncio is imported with `ssl` blocked, so it records "no ssl" (it then refuses `ssl=` arguments, which the
  daemon never passes). A lazily loaded `ssl` would not do: asyncio checks `isinstance(sock, ssl.SSLSocket)` on
  every `loop.sock_recv` (vrrpd.net.addrbatch), which would load it.
- `ssl` is then registered *unexecuted* (vrrpd.net.pyroute2_lean.prepare, as pyroute2's `__init__` is):
  pyroute2's `import ssl` succeeds and costs nothing; the first attribute anyone reads runs the real ssl.py, so
  code that does use ssl still works, and only pays then.
- prometheus_client's `__init__` is skipped as pyroute2's is (vrrpd.net.pyroute2_lean.prepare).

Measured (bench/README.md "Memory", Debian's python3 3.11.2): RSS after the start-up imports 36.6 -> 28.8 MB
(bench/rss_breakdown.py), a running daemon with 100 instances 40.5 -> 33.0 MB, with 1000 58.0 -> 50.6 MB
(bench/run_all.py); libssl and libcrypto are no longer mapped. The venv's pyenv 3.11.7 saves as much.
"""

from __future__ import annotations

import sys

from vrrpd.net import pyroute2_lean

KEPT_OUT = ("ssl", "_ssl", "_hashlib", "hashlib", "http.server", "email", "urllib.request", "wsgiref")
"""Modules `vrrpd run` does not import at start-up (tests/test_lean_imports.py checks it)."""


def lean_run_imports() -> None:
    """Import asyncio without ssl and prepare the deferred imports; a no-op for what is already imported."""
    if "asyncio" not in sys.modules and "ssl" not in sys.modules:
        sys.modules["ssl"] = None  # type: ignore[assignment]  # `import ssl` raises ImportError
        try:
            import asyncio  # noqa: F401  # what it records about ssl is what counts
        finally:
            del sys.modules["ssl"]
    pyroute2_lean.prepare("ssl")
    pyroute2_lean.prepare("prometheus_client")
