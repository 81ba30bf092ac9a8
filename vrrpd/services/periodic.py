"""The one asyncio task of a monitor that does something every `interval` (track scripts, track files).

Only the task's life cycle and the guard around each step are shared: each monitor keeps its own schedule
(a track script runs at once and skips the ticks its run overlapped; a track file was read by `prime()`, so its
first read is one interval later, and after a stall it reads once at once and starts a new grid).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable


class PeriodicTask:
    """start() runs `_loop()` as a task named by `_task_name()`; stop() cancels it and waits for it to end."""

    _task: asyncio.Task[None] | None = None

    def _task_name(self) -> str:
        raise NotImplementedError

    async def _loop(self) -> None:
        raise NotImplementedError

    @property
    def started(self) -> bool:
        """Running: started and not stopped since."""
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._task_name())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def survive(step: Awaitable[object], log: logging.Logger, message: str, *args: object) -> None:
    """Await one step of a loop; our own bug in it is logged (`message`, `args`) and the loop goes on, rather than
    freeze the tracker's state forever. Cancellation still ends the loop."""
    try:
        await step
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception(message, *args)
