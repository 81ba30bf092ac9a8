"""The exporter's HTTP server (issue #15, vrrpd.services.metrics_http) against broken and hostile clients, in
process: 404/405/400/431 answers, HEAD, a slowloris and a client that never reads closed at the timeout, the
connection cap, and a flood that neither stalls the loop nor keeps connections."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable

from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from vrrpd.services.metrics import metrics_registry
from vrrpd.services.metrics_http import MetricsServer

STATUS = {
    "version": "1.2.3",
    "config": {"reloads": {"applied": 0, "rejected": 0}},
    "instances": [
        {
            "name": "a",
            "vrid": 1,
            "interface": "eth0",
            "family": "IPv4",
            "state": "MASTER",
            "priority": 200,
            "effective_priority": 200,
            "master_age": None,
            "hooks": None,
            "trackers": [],
            "counters": {"adverts_sent": 5, "adverts_received": 0, "transitions": 2, "became_master": 1, "drops": {}},
        }
    ],
}


def serve(body: Callable[[MetricsServer], Awaitable[None]], **limits: float) -> None:
    async def main() -> None:
        server = MetricsServer("127.0.0.1", 0, metrics_registry(lambda: STATUS), **limits)  # type: ignore[arg-type]
        await server.start()
        try:
            await body(server)
        finally:
            await server.close()

    asyncio.run(main())


async def exchange(server: MetricsServer, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(*server.address)
    writer.write(request)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def test_get_metrics_answers_the_exposition_and_closes():
    async def body(server: MetricsServer) -> None:
        answer = await exchange(server, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n")
        head, _, text = answer.decode().partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 200 OK\r\n") and "Connection: close" in head
        assert f"Content-Length: {len(text.encode())}" in head
        names = {f.name for f in text_string_to_metric_families(text)}
        assert {"vrrpd_instance_state", "vrrpd_adverts_sent", "vrrpd_build_info"} <= names

    serve(body)


def test_a_large_answer_arrives_whole_before_the_close():
    status = dict(STATUS, instances=[dict(STATUS["instances"][0], name=f"v{i}") for i in range(1000)])

    async def body(server: MetricsServer) -> None:
        server.registry = metrics_registry(lambda: status)
        # A small receive buffer and a late first read, as a scraper across a slow link: the whole answer must
        # arrive before the close (over the lab's veth, bench/section_jitter.py, an abort after drain() cut it).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, server.address)
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.3)
        answer = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        head, _, text = answer.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        assert length > 256 * 1024 and len(text) == length  # more than the transport's high-water mark
        assert text == generate_latest(server.registry)

    serve(body)


def test_head_answers_the_headers_only():
    async def body(server: MetricsServer) -> None:
        answer = await exchange(server, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, rest = answer.decode().partition("\r\n\r\n")
        assert head.startswith("HTTP/1.1 200 OK") and rest == ""
        assert int(head.split("Content-Length: ")[1].split("\r\n")[0]) > 0

    serve(body)


def test_other_paths_methods_and_garbage_get_404_405_400():
    async def body(server: MetricsServer) -> None:
        assert (await exchange(server, b"GET / HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        assert (await exchange(server, b"GET /metricsx HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 404 ")
        answer = await exchange(server, b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc")
        assert answer.startswith(b"HTTP/1.1 405 ") and b"Allow: GET, HEAD\r\n" in answer
        for garbage in (b"hello", b"GET /metrics", b"GET metrics HTTP/1.1", b"\x16\x03\x01 / HTTP/1.1", b"GET  /"):
            assert (await exchange(server, garbage + b"\r\n\r\n")).startswith(b"HTTP/1.1 400 ")

    serve(body)


def test_a_half_request_then_hangup_gets_400():
    async def body(server: MetricsServer) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"GET /metr")
        writer.write_eof()
        assert (await asyncio.wait_for(reader.read(), 5)).startswith(b"HTTP/1.1 400 ")
        writer.close()

    serve(body)


def test_an_oversized_request_head_gets_431_and_is_not_buffered():
    async def body(server: MetricsServer) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        writer.write(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 20000)
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 431 ")
        writer.close()

    serve(body, max_request=1024)


def test_a_slowloris_is_closed_at_the_timeout_and_the_server_keeps_answering():
    async def body(server: MetricsServer) -> None:
        reader, writer = await asyncio.open_connection(*server.address)
        started = time.monotonic()
        writer.write(b"GET /metrics HTTP/1.1\r\n")
        for _ in range(3):
            await asyncio.sleep(0.05)
            writer.write(b"X: y\r\n")  # a header now and then, never the end
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed unanswered
        assert 0.25 <= time.monotonic() - started < 2
        writer.close()
        assert (await exchange(server, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")
        assert not server.connections

    serve(body, timeout=0.3)


def test_a_client_that_never_reads_is_dropped_at_the_timeout():
    status = dict(STATUS, instances=STATUS["instances"] * 3000)  # a large body: more than the socket buffers

    async def body(server: MetricsServer) -> None:
        server.registry = metrics_registry(lambda: status)
        _, writer = await asyncio.open_connection(*server.address, limit=1 << 20)
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not server.connections  # the answer it did not read was dropped, not kept
        writer.close()

    serve(body, timeout=0.3)


def test_connections_over_the_cap_are_closed_at_once_and_the_cap_frees_up():
    async def body(server: MetricsServer) -> None:
        idle = [await asyncio.open_connection(*server.address) for _ in range(2)]
        await asyncio.sleep(0.05)
        assert len(server.connections) == 2
        reader, writer = await asyncio.open_connection(*server.address)
        started = time.monotonic()
        refused = await asyncio.wait_for(reader.read(), 5)
        assert refused == b"" and time.monotonic() - started < 0.5 and server.refused == 1
        writer.close()
        for _, w in idle:
            w.close()
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert (await exchange(server, b"GET /metrics HTTP/1.1\r\n\r\n")).startswith(b"HTTP/1.1 200 ")

    serve(body, max_clients=2, timeout=5)


def test_a_flood_of_connections_does_not_stall_the_loop():
    async def body(server: MetricsServer) -> None:
        loop = asyncio.get_running_loop()
        lateness: list[float] = []

        async def ticker() -> None:
            for _ in range(50):
                due = loop.time() + 0.01
                await asyncio.sleep(0.01)
                lateness.append(loop.time() - due)

        async def client() -> None:
            try:
                reader, writer = await asyncio.open_connection(*server.address)
                writer.write(b"GET /metrics HTTP/1.1\r\n")  # never finished
                await reader.read()
                writer.close()
            except OSError:
                pass

        tick = loop.create_task(ticker())
        await asyncio.gather(*(client() for _ in range(200)))
        await tick
        assert server.refused == 200 - 16  # 16 held until their timeout, the rest closed at once
        assert max(lateness) < 0.1, max(lateness)
        assert len(server.connections) == 0

    serve(body, timeout=3)
