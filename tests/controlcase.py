"""Shared by the control-socket tests (tests/test_control.py, tests/test_ctl.py, tests/test_ctl_events.py): a
ControlServer on its own event loop in a thread, so the blocking client and vrrpctl can talk to it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from vrrpd.services.control import ControlServer


class ServerThread:
    """A ControlServer on its own event loop in a thread, for driving the blocking client (and vrrpctl)."""

    def __init__(self, path: Path, handlers: dict[str, Callable[[dict[str, Any]], Any]], **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = ControlServer(path, handlers, **kwargs)

    def run(self, coro: Awaitable[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)  # type: ignore[arg-type]

    def __enter__(self) -> ServerThread:
        self.thread.start()
        self.run(self.server.start())
        return self

    def __exit__(self, *exc: object) -> None:
        self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()
