"""vrrpd.services.control under abuse (issue #13 item 3): clients that never read lose their descriptor within a
bounded time, the number of clients is capped (the excess gets an error at once), and malformed requests are
answered with an error, their tracebacks rate-limited.

Descriptors are counted in /proc/self/fd: the server runs in a thread of this process, so a connection it fails
to close shows there."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from controlcase import ServerThread

from vrrpd.daemon.daemon import events_stream
from vrrpd.services.control import MAX_CLIENTS, MAX_STREAMS, ControlError, request
from vrrpd.services.eventlog import EventLog


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "run" / "vrrpd.sock"


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.02)


def connect(path: Path, *, rcvbuf: int | None = None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(5)
    s.connect(str(path))
    return s


def read_line(s: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def hung_up(s: socket.socket) -> bool:
    """The server closed the connection (a reset: it closed with some of our bytes unread)."""
    try:
        return s.recv(65536) == b""
    except ConnectionResetError:
        return True


class Events:
    """A server with an `events` stream over an EventLog, as the daemon has."""

    def __init__(self, path: Path, **kwargs: Any) -> None:
        self.log = EventLog()
        self.thread = ServerThread(
            path, {"status": lambda args: "up"}, streams={"events": events_stream(self.log)}, **kwargs
        )

    def publish(self, count: int, reason: str = "test") -> None:
        fields = {"kind": "instance", "name": "gw", "old": "BACKUP", "new": "MASTER", "reason": reason}
        for _ in range(count):
            self.thread.loop.call_soon_threadsafe(self.log.publish, fields)

    def state(self) -> tuple[int, int, int]:
        """(connections served, streams open, refused so far), read on the server's loop."""

        async def read() -> tuple[int, int, int]:
            server = self.thread.server
            return server.clients, self.log.followers, server.refused

        return self.thread.run(read())


@contextmanager
def events_server(path: Path, **kwargs: Any) -> Iterator[Events]:
    server = Events(path, **kwargs)
    with server.thread:
        yield server


def subscribe(path: Path, **kwargs: Any) -> tuple[socket.socket, dict[str, Any]]:
    s = connect(path, **kwargs)
    s.sendall(b'{"command": "events"}\n')
    data = b""
    while not data.endswith(b"\n"):
        data += s.recv(1)  # the acknowledgement only: what follows stays unread
    return s, json.loads(data)


# --- bounded writes and closes -----------------------------------------------------------------------------


def test_a_client_that_never_reads_its_answer_loses_its_descriptor(sock):
    big = "x" * (8 * 1024 * 1024)  # far over what the socket buffers hold
    with ServerThread(sock, {"status": lambda args: big}, timeout=0.3, close_grace=0.2) as srv:
        before = fds()
        client = connect(sock, rcvbuf=4096)
        try:
            client.sendall(b'{"command": "status"}\n')
            wait_for(lambda: fds() == before + 2, 5, "the server accepted the connection")
            # Drain times out after 0.3 s, the close waits 0.2 s for a flush that never comes, then aborts.
            wait_for(lambda: fds() == before + 1, 10, "the server freed the descriptor of a client that never reads")
            assert srv.run(_clients(srv)) == 0
            assert request(sock, "status", timeout=10) == big  # and it serves those who read
        finally:
            client.close()


async def _clients(srv: ServerThread) -> int:
    return srv.server.clients


def test_an_events_subscriber_that_never_reads_is_dropped_with_bounded_memory(sock):
    with events_server(sock, stall=0.3, close_grace=0.2) as srv:
        before = fds()
        client, ack = subscribe(sock, rcvbuf=4096)
        try:
            assert ack["ok"] is True
            wait_for(lambda: srv.state()[1] == 1, 5, "the stream is open")
            # 4 KB events: a few hundred fill the socket buffers and the transport's 64 KiB, then drain stalls.
            srv.publish(2000, reason="r" * 4000)
            wait_for(lambda: srv.state()[:2] == (0, 0), 10, "the stalled subscriber was dropped")
            wait_for(lambda: fds() == before + 1, 10, "its descriptor was freed")
        finally:
            client.close()


def test_close_of_the_server_is_bounded_with_clients_that_never_read(sock):
    big = "x" * (8 * 1024 * 1024)
    srv = ServerThread(sock, {"status": lambda args: big}, timeout=30, close_grace=0.2)
    with ExitStack() as stack:
        with srv:
            clients = [stack.enter_context(connect(sock, rcvbuf=4096)) for _ in range(3)]
            for c in clients:
                c.sendall(b'{"command": "status"}\n')
            wait_for(lambda: srv.run(_clients(srv)) == 3, 5, "three clients are being answered")
        # __exit__ has closed the server (ServerThread.run raises after 10 s): every connection cancelled and
        # aborted after the grace, where an unbounded wait_closed would wait for the clients forever.
        assert not sock.exists()


# --- the caps ---------------------------------------------------------------------------------------------


def test_clients_over_the_cap_get_an_error_at_once_and_those_within_are_served(sock):
    with ServerThread(sock, {"status": lambda args: "up"}, timeout=30) as srv, ExitStack() as stack:
        idle = [stack.enter_context(connect(sock)) for _ in range(MAX_CLIENTS)]
        wait_for(lambda: srv.run(_clients(srv)) == MAX_CLIENTS, 10, "the cap is reached")
        before = fds()
        with pytest.raises(ControlError) as info:
            request(sock, "status")
        assert str(info.value) == f"vrrpd is serving {MAX_CLIENTS} connections, its limit; try again later"
        wait_for(lambda: fds() == before, 5, "the refused connection's descriptor is freed on the server side")
        assert srv.server.refused == 1
        idle.pop().close()
        wait_for(lambda: srv.run(_clients(srv)) == MAX_CLIENTS - 1, 10, "a slot is free again")
        assert request(sock, "status") == "up"


def test_streams_over_their_cap_are_refused_and_leave_room_for_requests(sock):
    with events_server(sock) as srv, ExitStack() as stack:
        for _ in range(MAX_STREAMS):
            s, ack = subscribe(sock)
            stack.enter_context(s)
            assert ack["ok"] is True
        wait_for(lambda: srv.state()[1] == MAX_STREAMS, 10, "the stream cap is reached")
        s, ack = subscribe(sock)
        with s:
            assert ack == {"ok": False, "error": f"vrrpd is serving {MAX_STREAMS} streams, its limit; try again later"}
            s.sendall(b'{"command": "status"}\n')  # the connection itself is still served, like any refused request
            assert read_line(s) == {"ok": True, "result": "up"}
        assert request(sock, "status") == "up"
        wait_for(lambda: srv.state() == (MAX_STREAMS, MAX_STREAMS, 1), 5, "the others are closed, the streams stay")


def test_refusals_are_logged_rate_limited(sock, caplog):
    caplog.set_level(logging.WARNING, "vrrpd.services.control")
    with ServerThread(sock, {"status": lambda args: "up"}, timeout=30, max_clients=1) as srv, connect(sock):
        wait_for(lambda: srv.run(_clients(srv)) == 1, 5, "the only slot is taken")
        for _ in range(20):
            with pytest.raises(ControlError, match="its limit"):
                request(sock, "status")
        assert srv.server.refused == 20
    refusals = [r for r in caplog.records if "refused a client" in r.getMessage()]
    assert 1 <= len(refusals) <= 3
    assert (
        refusals[0].getMessage() == "control socket: refused a client: at the limit of 1 connections (1 refused so far)"
    )


# --- malformed requests ------------------------------------------------------------------------------------

MALFORMED = [
    (b'{"command": "status", "n": ' + b"7" * 5000 + b"}\n", "request holds a number too long to read"),
    (b'{"command": ' + b"1" * 5000 + b"}\n", "request holds a number too long to read"),
    (b"[" * 30_000 + b"]" * 30_000 + b"\n", "request is not valid JSON"),
    (b'{"command": "sta\xc3\x28tus"}\n', "request is not valid JSON"),
    (b"42\n", 'request must be a JSON object like {"command": "status"}'),
    (b'"status"\n', 'request must be a JSON object like {"command": "status"}'),
    (b"null\n", 'request must be a JSON object like {"command": "status"}'),
    (b"x" * 70_000 + b"\n", "request over 64 KiB"),
]


@pytest.mark.parametrize(("data", "message"), MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_requests_get_one_error_line_and_no_traceback(sock, caplog, data, message):
    calls: list[Any] = []
    with ServerThread(sock, {"status": lambda args: calls.append(args) or "up"}):
        with connect(sock) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            assert read_line(s) == {"ok": False, "error": message}
            assert hung_up(s)
        assert request(sock, "status") == "up"
    assert calls == [{}]
    assert not [r for r in caplog.records if r.exc_info]


def test_a_failing_handler_logs_few_tracebacks_however_often_it_is_asked(sock, caplog):
    caplog.set_level(logging.ERROR, "vrrpd.services.control")

    def broken(args: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    with ServerThread(sock, {"broken": broken}):
        for _ in range(50):
            with pytest.raises(ControlError, match=r"^internal error in broken: RuntimeError: boom$"):
                request(sock, "broken")
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert 1 <= len(tracebacks) <= 3
    assert tracebacks[0].getMessage() == "control command 'broken' failed"


def test_the_client_waits_out_a_full_listen_backlog_until_its_deadline(tmp_path):
    path = tmp_path / "busy.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener, ExitStack() as stack:
        listener.bind(str(path))
        listener.listen(0)  # accepts nothing: the backlog fills after a connection or two
        while True:
            s = stack.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            s.setblocking(False)
            try:
                s.connect(str(path))
            except BlockingIOError:
                break
        # Not "Resource temporarily unavailable" at once: a busy daemon is waited for, as far as --timeout allows.
        with pytest.raises(ControlError) as info:
            request(path, "status", timeout=0.3)
    assert str(info.value) == f"no answer from vrrpd on {path} within 0.3 s"
