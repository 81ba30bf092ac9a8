"""The control API on a unix socket: an asyncio server inside the daemon, a blocking client for vrrpctl.

Protocol: newline-delimited JSON. Each request is one object ``{"command": NAME, ...args}`` on one line;
each response is one line, ``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "..."}``. A
connection may carry several requests, answered in order.

Streams (``events``): the answer is the same first line, then one JSON object per line for as long as the
client stays connected; anything the client sends after the request is ignored. The server never waits for
a stream's client: what it sends is queued per client by the stream's source (bounded there), and a client
that accepts nothing for `STREAM_STALL` seconds is disconnected.

The server runs on the daemon's event loop, next to the VRRP timers, so it must never let a client stall
the loop or take it down: requests are size-capped and time-limited, every failure becomes an error
response, and a handler's exception is logged (rate-limited) and answered, never propagated. Clients must not
exhaust the daemon's file descriptors either, which its track scripts and hooks need: at most `MAX_CLIENTS`
connections at once (`MAX_STREAMS` of them streams), the excess answered with an error and closed at once,
and every write and every close is bounded in time, so a client that never reads loses its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import json
import logging
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vrrpd.services import sockdir
from vrrpd.services.logsetup import RateLimitedLogger

log = logging.getLogger(__name__)

MAX_REQUEST = 64 * 1024
"""Bytes in one request line, newline excluded."""
MAX_RESPONSE = 16 * 1024 * 1024
"""What the client accepts; a status for a thousand instances is well under 2 MiB."""
REQUEST_TIMEOUT = 5.0
"""Seconds a client may take to send a whole request line, or to read our response."""
STREAM_STALL = 60.0
"""Seconds a stream's client may leave our writes unread before it is disconnected."""
CLOSE_GRACE = 1.0
"""Seconds a closing connection may take to flush what the client has not read, before it is aborted."""
MAX_CLIENTS = 64
"""Connections at once. Each costs one descriptor; 64 leave nearly all of a 1,024 limit to scripts and hooks."""
MAX_STREAMS = 32
"""Of which streams (`events`), which last: the other half stays for `status` and `reload`."""

Handler = Callable[[dict[str, Any]], Awaitable[Any] | Any]


class Stream(Protocol):
    """What a stream handler returns: an async iterator of JSON-serialisable items, closed when the client goes."""

    def __aiter__(self) -> AsyncIterator[Any]: ...

    def close(self) -> None: ...


StreamHandler = Callable[[dict[str, Any]], tuple[Any, Stream]]
"""Validates the request's arguments (raising ControlError) and returns the acknowledgement and the stream."""


@dataclass
class _Opened:
    ack: Any
    stream: Stream


class ControlError(Exception):
    """A control-socket failure, worded for the person at the terminal."""


class NotRunning(ControlError):
    """Nothing listens on the socket: no daemon runs there (or not yet)."""


class ControlServer:
    """Serves `handlers` on the unix socket `path`.

    A handler receives the request's arguments (the request object without ``command``) and returns a
    JSON-serialisable result, or an awaitable of one. Raising `ControlError` answers with its message;
    any other exception is logged and answered as an internal error.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        handlers: Mapping[str, Handler],
        *,
        mode: int = 0o660,
        timeout: float = REQUEST_TIMEOUT,
        streams: Mapping[str, StreamHandler] | None = None,
        max_clients: int = MAX_CLIENTS,
        max_streams: int = MAX_STREAMS,
        stall: float | None = None,
        close_grace: float = CLOSE_GRACE,
    ) -> None:
        self.path = Path(path)
        self.handlers = dict(handlers)
        self.streams = dict(streams or {})
        self.mode = mode
        self.timeout = timeout
        self.max_clients = max_clients
        self.max_streams = max_streams
        self.stall = STREAM_STALL if stall is None else stall  # read here: tests patch the module's value
        self.close_grace = close_grace
        self.refused = 0
        """Connections turned away since start (over `max_clients`, or streams over `max_streams`)."""
        self.ratelog = RateLimitedLogger(log, burst=3, interval=60.0)
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._open_streams = 0

    @property
    def clients(self) -> int:
        """Connections open now: those being served and those being refused or closed (for at most `close_grace`)."""
        return len(self._connections)

    async def start(self) -> None:
        try:
            sockdir.prepare(self.path)
        except sockdir.UnsafeDirectory as e:
            raise ControlError(str(e)) from None
        await self._remove_stale()
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=self.path, limit=MAX_REQUEST + 1)
        except OSError as e:
            raise ControlError(f"cannot listen on {self.path}: {e.strerror or e}") from None
        # The socket is created under the process umask, which can only be stricter than `mode` for
        # connecting (that needs write permission), so there is no window in which it is too open.
        os.chmod(self.path, self.mode)
        self._inode = os.stat(self.path).st_ino

    async def _remove_stale(self) -> None:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlError(f"cannot listen on {self.path}: it exists and is not a socket")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_unix_connection(self.path), self.timeout)
        except (ConnectionRefusedError, FileNotFoundError):
            # Nobody accepts on it: a daemon that died without cleaning up. Safe to take over.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            return
        except (OSError, TimeoutError) as e:
            raise ControlError(f"cannot check whether {self.path} is in use: {e}") from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        raise ControlError(f"another vrrpd is already listening on {self.path}; stop it first")

    async def close(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        # Remove only our own socket: a successor may already have replaced it.
        with contextlib.suppress(OSError):
            if self._inode is not None and os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        refuse = len(self._connections) >= self.max_clients
        self._connections.add(task)  # refused ones too, so that close() cancels and awaits them as well
        try:
            if refuse:
                # Answered without reading the request: a fresh socket's buffer takes the line at once, so the
                # close below flushes and frees the descriptor at once, whatever the client does.
                self._refuse(f"refused a client: at the limit of {self.max_clients} connections")
                message = f"vrrpd is serving {self.max_clients} connections, its limit; try again later"
                writer.write(json.dumps(_error(message)).encode() + b"\n")
            else:
                await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away or would not read its answer; nothing left to tell it
        except asyncio.CancelledError:
            pass  # the server is closing; ending normally keeps asyncio's stream callback from logging it
        except Exception:
            self.ratelog.log(logging.ERROR, ("control", "connection"), "control connection failed", exc_info=True)
        finally:
            await self._close(writer)
            self._connections.discard(task)  # only now: the descriptor is closed

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        """Close, letting the client read what is left for `close_grace` seconds; then abort. Without the bound a
        client that never reads would keep its descriptor for good (wait_closed waits for the flush)."""
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), self.close_grace)
        except (Exception, asyncio.CancelledError):
            # Cancelled too (the server closing): the connection's last step, so nothing is left to cancel.
            writer.transport.abort()

    def _refuse(self, reason: str) -> None:
        self.refused += 1
        self.ratelog.warning(("control", "refused"), "control socket: %s (%d refused so far)", reason, self.refused)

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), self.timeout)
            except asyncio.IncompleteReadError as e:
                if not e.partial.strip():
                    return
                line = e.partial  # the last request may lack its newline; answer it all the same
            except asyncio.LimitOverrunError:
                await self._send(writer, _error(f"request over {MAX_REQUEST // 1024} KiB"))
                return  # the rest of the oversized line is still unread, so the stream cannot be resynced
            except TimeoutError:
                await self._send(writer, _error(f"no complete request within {self.timeout:g} s"))
                return
            if line.strip():
                response = await self._answer(line)
                if isinstance(response, _Opened):
                    await self._stream(reader, writer, response)
                    return
                await self._send(writer, response)
            if reader.at_eof():
                return

    async def _send(self, writer: asyncio.StreamWriter, response: dict[str, Any]) -> None:
        writer.write(json.dumps(response).encode() + b"\n")
        await asyncio.wait_for(writer.drain(), self.timeout)

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, opened: _Opened) -> None:
        # Counted before the first await: _answer checked the count with nothing awaited since.
        self._open_streams += 1

        async def until_hangup() -> None:
            while await reader.read(4096):
                pass  # nothing is expected after the request; read only to notice the hang-up

        hangup = asyncio.create_task(until_hangup())
        items = aiter(opened.stream)
        item: asyncio.Future[Any] | None = None
        try:
            await self._send(writer, {"ok": True, "result": opened.ack})
            while True:
                item = asyncio.ensure_future(anext(items))
                done, _ = await asyncio.wait({item, hangup}, return_when=asyncio.FIRST_COMPLETED)
                if item not in done:
                    return
                try:
                    value = item.result()
                except StopAsyncIteration:
                    return
                writer.write(json.dumps(value).encode() + b"\n")
                # Bounded memory too: drain waits while the transport holds over 64 KiB, and the stream's source
                # queues what comes meanwhile up to its own bound (events: a gap).
                await asyncio.wait_for(writer.drain(), self.stall)
        finally:
            self._open_streams -= 1
            # Also when the server closes under us: nothing may be left pending or with an unread result.
            for task in (item, hangup):
                if task is not None and not task.done():
                    task.cancel()
            opened.stream.close()
            for task in (item, hangup):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration, ConnectionError):
                        await task

    async def _answer(self, line: bytes) -> dict[str, Any] | _Opened:
        if len(line.rstrip(b"\r\n")) > MAX_REQUEST:
            return _error(f"request over {MAX_REQUEST // 1024} KiB")
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            return _error("request is not valid JSON")
        except ValueError:
            # Python refuses to convert integers of over 4,300 digits (CVE-2020-10735); json.loads raises this.
            return _error("request holds a number too long to read")
        if not isinstance(request, dict):
            return _error('request must be a JSON object like {"command": "status"}')
        command = request.pop("command", None)
        if not isinstance(command, str):
            return _error('request has no "command" string')
        if command in self.streams:
            if self._open_streams >= self.max_streams:
                self._refuse(f"refused a {command} stream: {self.max_streams} streams open, the limit")
                return _error(f"vrrpd is serving {self.max_streams} streams, its limit; try again later")
            try:
                ack, stream = self.streams[command](request)
            except ControlError as e:
                return _error(str(e))
            except Exception as e:
                self.ratelog.log(
                    logging.ERROR, ("control", command), "control stream %r failed to open", command, exc_info=True
                )
                return _error(f"internal error in {command}: {type(e).__name__}: {e}")
            return _Opened(ack, stream)
        handler = self.handlers.get(command)
        if handler is None:
            known = ", ".join(sorted({*self.handlers, *self.streams}))
            return _error(f"unknown command {command!r} (known: {known})")
        try:
            result = handler(request)
            if inspect.isawaitable(result):
                result = await result
            # Serialise here, so an unserialisable result is this request's error, not a broken stream.
            json.dumps(result)
        except ControlError as e:
            return _error(str(e))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.ratelog.log(logging.ERROR, ("control", command), "control command %r failed", command, exc_info=True)
            return _error(f"internal error in {command}: {type(e).__name__}: {e}")
        return {"ok": True, "result": result}


def _error(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def request(path: str | os.PathLike[str], command: str, timeout: float = REQUEST_TIMEOUT, **args: Any) -> Any:
    """Send one command to the daemon listening on `path`; return its result or raise `ControlError`."""
    where = os.fspath(path)
    deadline = time.monotonic() + timeout
    payload = json.dumps({"command": command, **args}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock, _client_errors(where, timeout):
        _trust(where)
        sock.settimeout(timeout)
        _connect(sock, where, deadline)
        _send_request(sock, payload)
        data = _read_line(sock, deadline, where)
    return _result(data, where)


def stream(path: str | os.PathLike[str], command: str, timeout: float = REQUEST_TIMEOUT, **args: Any) -> Iterator[Any]:
    """Open a stream (``events``) on the daemon at `path`: yields the acknowledgement, then every item, until
    the daemon ends the stream or the caller stops iterating (which disconnects). `timeout` bounds the
    connection and the acknowledgement only; items may be any time apart."""
    where = os.fspath(path)
    deadline = time.monotonic() + timeout
    payload = json.dumps({"command": command, **args}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        with _client_errors(where, timeout):
            _trust(where)
            sock.settimeout(timeout)
            _connect(sock, where, deadline)
            _send_request(sock, payload)
        # Buffered from the first byte: the acknowledgement and the first items may arrive in one read.
        with sock.makefile("rb") as lines:
            with _client_errors(where, timeout):
                first = lines.readline(MAX_RESPONSE + 1)
            if not first:
                raise ControlError(f"vrrpd on {where} closed the connection without answering")
            yield _result(first, where)
            sock.settimeout(None)
            while True:
                with _client_errors(where, timeout):
                    line = lines.readline(MAX_RESPONSE + 1)
                if not line.endswith(b"\n"):
                    if len(line) > MAX_RESPONSE:
                        raise ControlError(f"stream item over {MAX_RESPONSE // (1024 * 1024)} MiB from {where}")
                    return  # the end of the stream (or cut off mid-line: the daemon went away)
                try:
                    item = json.loads(line)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise ControlError(f"malformed stream item from {where}") from None
                yield item


def _connect(sock: socket.socket, where: str, deadline: float) -> None:
    while True:
        try:
            sock.connect(where)
            return
        except BlockingIOError:
            # The listen backlog is full: the daemon is accepting (or refusing) a burst of clients. A unix socket
            # with a timeout fails at once instead of waiting, so wait here, as far as the deadline allows.
            if time.monotonic() >= deadline:
                raise TimeoutError from None
            time.sleep(0.01)


def _send_request(sock: socket.socket, payload: bytes) -> None:
    # A daemon at its connection limit answers before reading, then closes: its answer is there to read.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        sock.sendall(payload)


def _trust(where: str) -> None:
    """Refuse a socket another user could have put there (vrrpd.services.sockdir), before sending it anything."""
    try:
        sockdir.check_socket(Path(where))
    except sockdir.UnsafeDirectory as e:
        raise ControlError(str(e)) from None


PERMISSION_ADVICE = (
    "run as root, or as a member of the group vrrpd runs with (the group vrrpd under the shipped unit: "
    "usermod -aG vrrpd USER; see README.md, Running vrrpctl without root)"
)


@contextlib.contextmanager
def _client_errors(where: str, timeout: float) -> Iterator[None]:
    """Socket errors as one sentence for the person at the terminal."""
    try:
        yield
    except (FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(f"no vrrpd listening on {where} (is it running?)") from None
    except PermissionError:
        raise ControlError(f"cannot open {where}: permission denied; {PERMISSION_ADVICE}") from None
    except TimeoutError:
        raise ControlError(f"no answer from vrrpd on {where} within {timeout:g} s") from None
    except ConnectionResetError:
        raise ControlError(f"vrrpd on {where} closed the connection") from None
    except OSError as e:
        if e.errno in (errno.ENOTDIR, errno.ENOTSOCK):
            raise NotRunning(f"no vrrpd listening on {where} (is it running?)") from None
        raise ControlError(f"cannot talk to vrrpd on {where}: {e.strerror or e}") from None


def _result(data: bytes, where: str) -> Any:
    try:
        response = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ControlError(f"malformed response from {where}") from None
    if not isinstance(response, dict) or not isinstance(response.get("ok"), bool):
        raise ControlError(f"malformed response from {where}")
    if not response["ok"]:
        raise ControlError(str(response.get("error") or "the daemon reported an unspecified error"))
    return response.get("result")


def _read_line(sock: socket.socket, deadline: float, where: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        if not chunk:
            if not chunks:
                raise ControlError(f"vrrpd on {where} closed the connection without answering")
            return b"".join(chunks)
        newline = chunk.find(b"\n")
        if newline >= 0:
            chunks.append(chunk[:newline])
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_RESPONSE:
            raise ControlError(f"response over {MAX_RESPONSE // (1024 * 1024)} MiB")
