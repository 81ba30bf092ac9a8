"""vrrpd.services.control: the unix-socket server never breaks on a bad client; the client says clearly what is
wrong."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from controlcase import ServerThread

from vrrpd.services.control import MAX_REQUEST, ControlError, ControlServer, request


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "run" / "vrrpd.sock"


def serve(path: Path, handlers: dict[str, Any] | None = None, **kwargs: Any) -> ServerThread:
    return ServerThread(path, handlers if handlers is not None else {"status": lambda args: {"up": True}}, **kwargs)


def raw(path: Path, data: bytes, *, shut: bool = True, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Send raw bytes; return every response line the server sends before closing."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    return [json.loads(line) for line in received.splitlines()]


# --- the happy path -------------------------------------------------------------------------------------


def test_request_round_trip_with_sync_and_async_handlers(sock):
    async def slow_echo(args: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"echo": args}

    with serve(sock, {"status": lambda args: {"instances": []}, "echo": slow_echo}):
        assert request(sock, "status") == {"instances": []}
        assert request(sock, "echo", name="gw", n=3) == {"echo": {"name": "gw", "n": 3}}


def test_start_creates_directory_and_sets_mode_close_removes_socket(sock):
    with serve(sock):
        assert stat.S_ISSOCK(sock.stat().st_mode)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
    assert not sock.exists()


def test_several_requests_on_one_connection_are_answered_in_order(sock):
    with serve(sock, {"status": lambda args: 1, "other": lambda args: 2}):
        responses = raw(sock, b'{"command": "status"}\n{"command": "other"}\n{"command": "status"}')
    assert responses == [{"ok": True, "result": 1}, {"ok": True, "result": 2}, {"ok": True, "result": 1}]


# --- bad requests get an error and change nothing -------------------------------------------------------

BAD = [
    (b"not json\n", "request is not valid JSON"),
    (b"\xff\xfe\n", "request is not valid JSON"),
    (b"[1, 2]\n", 'request must be a JSON object like {"command": "status"}'),
    (b'{"cmd": "status"}\n', 'request has no "command" string'),
    (b'{"command": 5}\n', 'request has no "command" string'),
    (b'{"command": "reboot"}\n', "unknown command 'reboot' (known: status)"),
    (b"[" * 100_000 + b"\n", "request over 64 KiB"),
    (b'{"command": "status", "pad": "' + b"x" * MAX_REQUEST + b'"}\n', "request over 64 KiB"),
    (b"[" * 50_000 + b"\n", "request is not valid JSON"),  # json's own recursion limit
]


@pytest.mark.parametrize(("data", "message"), BAD, ids=range(len(BAD)))
def test_bad_request_gets_an_error_and_the_server_keeps_serving(sock, data, message):
    calls = []
    with serve(sock, {"status": lambda args: calls.append(args) or "fine"}):
        assert raw(sock, data) == [{"ok": False, "error": message}]
        assert calls == []
        assert request(sock, "status") == "fine"


def test_request_of_exactly_the_limit_is_accepted(sock):
    pad = "x" * (MAX_REQUEST - len('{"command": "status", "pad": ""}'))
    line = json.dumps({"command": "status", "pad": pad}).encode()
    assert len(line) == MAX_REQUEST
    with serve(sock, {"status": lambda args: len(args["pad"])}):
        assert raw(sock, line + b"\n") == [{"ok": True, "result": len(pad)}]


def test_slow_client_times_out_without_blocking_others(sock):
    with serve(sock, timeout=0.3), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as slow:
        slow.settimeout(5)
        slow.connect(str(sock))
        slow.sendall(b'{"command": "sta')  # ... and then nothing
        assert request(sock, "status") == {"up": True}  # served meanwhile
        response = slow.recv(65536)
    assert json.loads(response) == {"ok": False, "error": "no complete request within 0.3 s"}


def test_handler_failures_become_error_responses(sock, caplog):
    def broken(args: dict[str, Any]) -> Any:
        raise RuntimeError("boom")

    def refuses(args: dict[str, Any]) -> Any:
        raise ControlError("no instance named 'x'")

    handlers = {"broken": broken, "refuses": refuses, "odd": lambda args: {1, 2}, "status": lambda args: "ok"}
    with serve(sock, handlers):
        with pytest.raises(ControlError, match=r"^internal error in broken: RuntimeError: boom$"):
            request(sock, "broken")
        with pytest.raises(ControlError, match=r"^no instance named 'x'$"):
            request(sock, "refuses")
        with pytest.raises(ControlError, match=r"^internal error in odd: TypeError"):
            request(sock, "odd")
        assert request(sock, "status") == "ok"
    assert "control command 'broken' failed" in caplog.text


def test_client_that_hangs_up_early_does_no_harm(sock):
    with serve(sock):
        for _ in range(20):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.connect(str(sock))
                s.sendall(b'{"command": "status"}\n')
        assert request(sock, "status") == {"up": True}


# --- start-up: stale sockets and a second daemon --------------------------------------------------------


def test_stale_socket_is_replaced(sock):
    sock.parent.mkdir()
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock))
    dead.close()  # the file stays, nobody listens: what a killed daemon leaves behind
    with pytest.raises(ControlError, match="no vrrpd listening"):
        request(sock, "status")
    with serve(sock):
        assert request(sock, "status") == {"up": True}


def test_refuses_to_start_when_another_daemon_listens(sock):
    with serve(sock, {"status": lambda args: "first"}):
        second = ControlServer(sock, {"status": lambda args: "second"})
        with pytest.raises(ControlError, match=rf"^another vrrpd is already listening on {sock}; stop it first$"):
            asyncio.run(second.start())
        assert request(sock, "status") == "first"


def test_refuses_to_replace_a_file_that_is_not_a_socket(sock):
    sock.parent.mkdir()
    sock.write_text("precious")
    with pytest.raises(ControlError, match="it exists and is not a socket"):
        asyncio.run(ControlServer(sock, {}).start())
    assert sock.read_text() == "precious"


def test_close_leaves_a_successors_socket_alone(sock):
    async def scenario() -> None:
        first = ControlServer(sock, {})
        await first.start()
        os.unlink(sock)  # e.g. an operator cleaned up, then a new daemon started
        second = ControlServer(sock, {"status": lambda args: "second"})
        await second.start()
        await first.close()
        assert sock.exists()
        assert await asyncio.to_thread(request, sock, "status") == "second"
        await second.close()
        assert not sock.exists()

    asyncio.run(scenario())


# --- client errors --------------------------------------------------------------------------------------


def test_client_when_nothing_is_there(tmp_path):
    path = tmp_path / "vrrpd.sock"
    with pytest.raises(ControlError) as info:
        request(path, "status")
    assert str(info.value) == f"no vrrpd listening on {path} (is it running?)"


def test_client_when_path_is_not_a_socket(tmp_path):
    path = tmp_path / "file"
    path.write_text("")
    with pytest.raises(ControlError, match=r"no vrrpd listening on .*file \(is it running\?\)"):
        request(path, "status")


def test_client_permission_denied(sock):
    with serve(sock):
        if os.geteuid() == 0:
            # Root ignores file modes, so ask as nobody: seteuid() is undone below (the saved uid stays 0).
            os.seteuid(65534)
            try:
                with pytest.raises(ControlError) as info:
                    request(sock, "status")
            finally:
                os.seteuid(0)
        else:
            sock.chmod(0)
            with pytest.raises(ControlError) as info:
                request(sock, "status")
    assert str(info.value) == (
        f"cannot open {sock}: permission denied; run as root, or as a member of the group vrrpd runs with (the group "
        "vrrpd under the shipped unit: usermod -aG vrrpd USER; see README.md, Running vrrpctl without root)"
    )


def test_client_timeout(sock):
    async def never(args: dict[str, Any]) -> None:
        await asyncio.sleep(30)

    with serve(sock, {"status": never}), pytest.raises(ControlError) as info:
        request(sock, "status", timeout=0.2)
    assert str(info.value) == f"no answer from vrrpd on {sock} within 0.2 s"


@contextmanager
def fake_daemon(path: Path, reply: bytes) -> Iterator[None]:
    """A socket that answers any request with `reply`, to feed the client what a real daemon never sends."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        thread.join(timeout=5)
        listener.close()


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (b"garbage\n", "malformed response from {path}"),
        (b"[1]\n", "malformed response from {path}"),
        (b"", "vrrpd on {path} closed the connection without answering"),
        (b'{"ok": false}\n', "the daemon reported an unspecified error"),
        (b'{"ok": true, "result": 7}', None),  # no newline, then EOF: still a whole answer
    ],
)
def test_client_with_odd_replies(tmp_path, reply, message):
    path = tmp_path / "odd.sock"
    with fake_daemon(path, reply):
        if message is None:
            assert request(path, "status") == 7
        else:
            with pytest.raises(ControlError) as info:
                request(path, "status")
            assert str(info.value) == message.format(path=path)
