"""vrrpd.services.eventlog and the `events` stream of the control socket (issue #5 point 4): ordered, numbered
transitions; replay; a slow follower never blocks the daemon and gets a gap record instead; real unix sockets in
a temporary directory, no root."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from vrrpd.daemon.daemon import events_stream
from vrrpd.services.control import ControlError, ControlServer, stream
from vrrpd.services.eventlog import EventLog


def publish(log: EventLog, n: int, start: int = 1) -> None:
    for i in range(start, start + n):
        log.publish({"kind": "instance", "name": f"i{i}", "old": "BACKUP", "new": "MASTER"})


async def take(follower: Any, n: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(anext(follower), 2) for _ in range(n)]


def test_events_are_numbered_stamped_and_kept_up_to_the_limit():
    log = EventLog(keep=3, clock=lambda: 1_700_000_000.5)
    publish(log, 5)
    assert [e["seq"] for e in log.recent(10)] == [3, 4, 5]
    assert log.recent(1)[0] == {
        "type": "transition",
        "seq": 5,
        "time": "2023-11-14T22:13:20.500Z",
        "timestamp": 1_700_000_000.5,
        "kind": "instance",
        "name": "i5",
        "old": "BACKUP",
        "new": "MASTER",
    }
    assert log.recent(0) == []


def test_follower_gets_the_replay_then_new_events_in_order():
    async def body() -> list[int]:
        log = EventLog()
        publish(log, 4)
        follower = log.follow(replay=2)
        publish(log, 2, start=5)
        got = await take(follower, 4)
        follower.close()
        assert log.followers == 0
        return [e["seq"] for e in got]

    assert asyncio.run(body()) == [3, 4, 5, 6]


def test_overflowing_follower_gets_one_gap_record_where_events_were_lost():
    async def body() -> list[dict[str, Any]]:
        log = EventLog(follower_queue=3)
        follower = log.follow()
        publish(log, 7)  # 1..3 fit; 4..7 are lost for this follower
        got = await take(follower, 4)
        publish(log, 1, start=8)  # room again: delivered after the gap
        got += await take(follower, 1)
        assert follower.missed == 4
        return got

    got = asyncio.run(body())
    assert [e.get("seq") for e in got[:3]] == [1, 2, 3]
    assert got[3] == {"type": "gap", "missed": 4, "first_seq": 4, "last_seq": 7}
    assert got[4]["seq"] == 8


def test_close_ends_followers_after_what_they_have_queued():
    async def body() -> list[int]:
        log = EventLog()
        follower = log.follow()
        publish(log, 2)
        closing = asyncio.ensure_future(log.close(timeout=2))
        seqs = [e["seq"] async for e in follower]
        await closing
        return seqs

    assert asyncio.run(body()) == [1, 2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"replay": -1}, "replay must be a whole number 0..1000, got -1"),
        ({"replay": True}, "replay must be a whole number 0..1000, got True"),
        ({"replay": "5"}, "replay must be a whole number 0..1000, got '5'"),
        ({"follow": 1}, "events: unknown argument 'follow' (known: replay)"),
    ],
)
def test_bad_stream_arguments_are_refused_before_anything_is_streamed(args, message):
    log = EventLog()
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        log.open_stream(args)
    assert log.followers == 0


# --- over a real unix socket ---------------------------------------------------------------------------------


async def serve(path: Path, log: EventLog) -> ControlServer:
    server = ControlServer(path, {"status": lambda args: {"up": True}}, streams={"events": events_stream(log)})
    await server.start()
    return server


def test_stream_over_the_socket_with_replay_and_follow(tmp_path):
    path = tmp_path / "vrrpd.sock"

    async def body() -> list[Any]:
        log = EventLog()
        server = await serve(path, log)
        publish(log, 3)

        def client() -> list[Any]:
            items = stream(path, "events", timeout=2, replay=2)
            got = [next(items)]  # the acknowledgement
            got += [next(items) for _ in range(3)]
            items.close()  # disconnects
            return got

        reader = asyncio.ensure_future(asyncio.to_thread(client))
        await asyncio.sleep(0.2)
        publish(log, 1, start=4)
        got = await asyncio.wait_for(reader, 5)
        await until(lambda: log.followers == 0)  # the hang-up ended the follower
        assert (await asyncio.to_thread(_status_request, path)) == {"up": True}  # the server still serves
        await server.close()
        return got

    got = asyncio.run(body())
    assert got[0] == {"stream": "events", "replayed": 2, "last_seq": 3, "kept": 3}
    assert [e["seq"] for e in got[1:]] == [2, 3, 4]


def _status_request(path: Path) -> Any:
    from vrrpd.services.control import request

    return request(path, "status", timeout=2)


async def until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_bad_arguments_get_an_error_line_and_no_stream(tmp_path):
    path = tmp_path / "vrrpd.sock"

    async def body() -> str:
        log = EventLog()
        server = await serve(path, log)
        try:

            def client() -> str:
                try:
                    next(stream(path, "events", timeout=2, replay=-3))
                except ControlError as e:
                    return str(e)
                return "no error"

            return await asyncio.to_thread(client)
        finally:
            assert log.followers == 0
            await server.close()

    assert asyncio.run(body()) == "events: replay must be a whole number 0..1000, got -3"


def test_a_client_that_never_reads_does_not_block_the_daemon_and_later_sees_a_gap(tmp_path):
    """Publishing stays O(followers) with no waiting: the socket buffers fill, the follower's queue fills, the
    rest is dropped for that client only; when it finally reads it finds a gap record, and seq shows what."""
    path = tmp_path / "vrrpd.sock"
    pad = "x" * 2000  # big events fill the socket buffers quickly

    async def body() -> tuple[float, list[dict[str, Any]], int]:
        log = EventLog(follower_queue=50)
        server = await serve(path, log)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, str(path))
        sock.sendall(b'{"command": "events"}\n')
        await until(lambda: log.followers == 1)
        loop = asyncio.get_running_loop()
        worst = 0.0
        for i in range(2000):
            started = loop.time()
            log.publish({"kind": "instance", "name": "gw", "n": i, "pad": pad})
            worst = max(worst, loop.time() - started)
            if i % 50 == 0:
                await asyncio.sleep(0)  # let the stream task write what fits
        await asyncio.sleep(0.1)
        # Now read everything that was queued for us, then one more event after the gap.
        data = b""
        while True:
            try:
                data += await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 0.5)
            except TimeoutError:
                break
        log.publish({"kind": "instance", "name": "gw", "n": "after", "pad": ""})
        while not data.endswith(b'"pad": ""}\n'):
            data += await asyncio.wait_for(loop.sock_recv(sock, 1 << 20), 2)
        sock.close()
        await server.close()
        items = [json.loads(line) for line in data.splitlines()]
        return worst, items, log.seq

    worst, items, last = asyncio.run(body())
    assert worst < 0.05, worst  # publishing only appends: no await, no socket write
    assert items[0]["ok"] is True
    received = items[1:]
    gaps = [e for e in received if e["type"] == "gap"]
    assert gaps, "expected a gap record"
    # Every event is either delivered or counted in a gap, in order, exactly once.
    seen: list[int] = []
    for e in received:
        seen += list(range(e["first_seq"], e["last_seq"] + 1)) if e["type"] == "gap" else [e["seq"]]
    assert seen == list(range(1, last + 1))
    assert received[-1]["n"] == "after"


def test_a_client_that_accepts_nothing_for_the_stall_limit_is_disconnected(tmp_path, monkeypatch):
    """Bounded twice: the follower queue (gaps) and the time a client may leave our writes unread."""
    import vrrpd.services.control

    monkeypatch.setattr(vrrpd.services.control, "STREAM_STALL", 0.3)
    path = tmp_path / "vrrpd.sock"

    async def body() -> int:
        log = EventLog(follower_queue=20)
        server = await serve(path, log)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, str(path))
        sock.sendall(b'{"command": "events"}\n')
        await until(lambda: log.followers == 1)
        for i in range(400):  # far more than the socket buffers hold; never read
            log.publish({"kind": "instance", "name": "gw", "n": i, "pad": "x" * 4000})
            await asyncio.sleep(0)
        await until(lambda: log.followers == 0, timeout=5)
        sock.close()
        await server.close()
        return log.seq

    assert asyncio.run(body()) == 400
