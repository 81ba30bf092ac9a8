"""The Prometheus exporter's HTTP side (issue #15): `MetricsServer`, a minimal HTTP/1.0-1.1 server on the daemon's
asyncio loop that answers ``GET /metrics`` (and HEAD) with prometheus_client's exposition of a registry.

Why not prometheus_client's own `start_http_server`: it serves from a thread, which would take the GIL from the
loop for as long as a scrape renders, at any moment; here a scrape is one callback on the loop, between two
deadlines, like any other. Why not an HTTP library: the daemon needs four answers, and every one of them bounded.

Hostile or broken clients cost bounded memory and never stall the loop:
- the request head (request line and headers) is at most `MAX_REQUEST` bytes (431 beyond, then closed);
- each connection has `TIMEOUT` seconds in all to send its head and take its answer (slowloris, a client that never
  reads), then it is closed;
- at most `MAX_CLIENTS` connections at once; one more is closed as soon as it is accepted, unanswered;
- every answer ends the connection (``Connection: close``): no keep-alive to hold a slot.
Other paths get 404, other methods 405, a head that is not HTTP 400; bodies are never read.
"""

from __future__ import annotations

import asyncio
import logging

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.exposition import escape_label_name, escape_metric_name
from prometheus_client.registry import CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

log = logging.getLogger("vrrpd")

CONTENT_TYPE_LATEST = "text/plain; version=1.0.0; charset=utf-8"
"""prometheus_client.exposition.CONTENT_TYPE_LATEST: that module is not imported (see `family_text`)."""

MAX_REQUEST = 8192
TIMEOUT = 5.0
MAX_CLIENTS = 16
PATH = "/metrics"
SLICE = 64
"""Samples rendered per loop callback (`render`): about 0.1 ms of prometheus_client's formatting on the lab VM."""
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
}


class MetricsServer:
    """Serves `registry` on ``host:port`` until `close()`."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        max_clients: int = MAX_CLIENTS,
        timeout: float = TIMEOUT,
        max_request: int = MAX_REQUEST,
    ) -> None:
        self.host, self.port, self.registry = host, port, registry
        self.max_clients, self.timeout, self.max_request = max_clients, timeout, max_request
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()
        self.refused = 0
        """Connections closed unanswered because `max_clients` were open."""

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the real port when `port` was 0)."""
        assert self.server is not None
        sockname = self.server.sockets[0].getsockname()
        return sockname[0], sockname[1]

    async def start(self) -> None:
        self.server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=self.max_request, reuse_address=True
        )
        log.info(
            "metrics: serving %s on %s",
            PATH,
            f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}",
        )

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for task in list(self.connections):
            task.cancel()
        if self.connections:
            await asyncio.wait(list(self.connections))

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self.connections) >= self.max_clients:
            self.refused += 1
            writer.transport.abort()
            return
        task = asyncio.get_running_loop().create_task(self._serve(reader, writer))
        self.connections.add(task)
        task.add_done_callback(self.connections.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        closed = False
        try:
            async with asyncio.timeout(self.timeout):
                status, body, head_only = await self._answer(reader)
                if status is not None:
                    await self._send(writer, status, body, head_only)
                # close() sends what is still buffered (drain() returns at the high-water mark, not at empty), then
                # closes; within the timeout, so a client that stops reading cannot hold its answer here.
                writer.close()
                await writer.wait_closed()
                closed = True
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a slow, vanished or half-talking client
        finally:
            if not closed:
                writer.transport.abort()  # what it did not take is dropped, not kept

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int | None, bytes, bool]:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            return 431, b"request head too large\n", False
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None, b"", False  # connected and hung up: a port check
            return 400, b"incomplete request\n", False
        line = head.split(b"\r\n", 1)[0]
        parts = line.split(b" ")
        well_formed = len(parts) == 3 and parts[0].isalpha() and parts[1].startswith(b"/")
        if not well_formed or not parts[2].startswith(b"HTTP/1."):
            return 400, b"not an HTTP/1 request\n", False
        method, target = parts[0], parts[1]
        if method not in (b"GET", b"HEAD"):
            return 405, b"only GET and HEAD\n", False
        if target.split(b"?", 1)[0] != PATH.encode():
            return 404, b"only /metrics is served here\n", method == b"HEAD"
        return 200, await render(self.registry), method == b"HEAD"

    async def _send(self, writer: asyncio.StreamWriter, status: int, body: bytes, head_only: bool) -> None:
        content_type = CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8"
        allow = "Allow: GET, HEAD\r\n" if status == 405 else ""
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{allow}Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + (b"" if head_only else body))
        await writer.drain()


async def render(registry: CollectorRegistry, slice_size: int = SLICE) -> bytes:
    """prometheus_client's `generate_latest(registry)`, the same bytes, but rendered `slice_size` samples at a time
    with the loop let run in between. In one piece, 100 instances took 5-8 ms: a 10 ms advert deadline falling in it
    would be late by as much. The registry is collected once (one status snapshot, so the answer is consistent); each
    slice is a family with some of its samples, and a family's later slices leave out the ``# HELP`` / ``# TYPE``
    lines it already wrote."""
    out: list[bytes] = []
    for family in registry.collect():
        await asyncio.sleep(0)  # the collection ran on the loop too
        for start in range(0, max(1, len(family.samples)), slice_size):
            part = Metric(family.name, family.documentation, family.type, family.unit)
            part.samples = family.samples[start : start + slice_size]
            out.append(family_text(part, head=start == 0))
            await asyncio.sleep(0)
    return b"".join(out)


def family_text(family: Metric, head: bool = True) -> bytes:
    """One family in the Prometheus text format, byte for byte what prometheus_client's `generate_latest` writes
    for it (tests/test_lean_imports.py compares them), without `head` its samples only.

    Why not `generate_latest` itself: prometheus_client.exposition imports `ssl` (its annotations name
    ssl.TLSVersion), urllib.request (then hashlib and libcrypto), http.server, email and wsgiref, for its push
    gateway and threaded servers, none of which the daemon uses. Kept out of `vrrpd run` they save ~6 MB RSS
    (bench/README.md, "Memory"); vrrpd.cli.leanimports keeps them out.
    """
    name, kind = family.name, family.type
    if kind == "counter":
        name += "_total"
    elif kind == "info":
        name, kind = name + "_info", "gauge"
    elif kind == "stateset":
        kind = "gauge"
    elif kind == "gaugehistogram":
        kind = "histogram"
    elif kind == "unknown":
        kind = "untyped"
    doc = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
    lines = (
        [f"# HELP {escape_metric_name(name)} {doc}\n", f"# TYPE {escape_metric_name(name)} {kind}\n"] if head else []
    )
    # OpenMetrics-only samples go in a gauge of their own after the family, as generate_latest puts them.
    extra: dict[str, list[str]] = {}
    for sample in family.samples:
        suffix = next((s for s in ("_created", "_gsum", "_gcount") if sample.name == family.name + s), None)
        if suffix is None:
            lines.append(_sample_line(sample))
        else:
            extra.setdefault(suffix, []).append(_sample_line(sample))
    for suffix, samples in sorted(extra.items()):
        if head:
            lines.append(f"# HELP {escape_metric_name(family.name + suffix)} {doc}\n")
            lines.append(f"# TYPE {escape_metric_name(family.name + suffix)} gauge\n")
        lines.extend(samples)
    return "".join(lines).encode()


def _sample_line(sample: Sample) -> str:
    labels = ",".join(f'{escape_label_name(k)}="{_label_value(v)}"' for k, v in sorted(sample.labels.items()))
    name = escape_metric_name(sample.name) + (f"{{{labels}}}" if labels else "")
    stamp = "" if sample.timestamp is None else f" {int(float(sample.timestamp) * 1000):d}"
    return f"{name} {floatToGoString(sample.value)}{stamp}\n"


def _label_value(value: str) -> str:
    """Backslash, newline and double quote escaped, as the text format wants a label value."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
