"""A first-in first-out queue for one consumer task, with asyncio.Queue's put_nowait / get / task_done / join.

Every instance has one (its ordered worker's operations, vrrpd.daemon.worker), so its size is paid per instance:
an asyncio.Queue holds three deques and an Event with a fourth, ~3.8 KB before anything is queued (tracemalloc,
CPython 3.11), which was a fifth of what an instance costs at 1000 instances (issue #16's 20 KB per instance).
This one holds a list, a count and at most two futures while someone waits: ~0.2 KB. Unbounded, like the
asyncio.Queue() it replaces; one task gets from it, any number may join.
"""

from __future__ import annotations

import asyncio
from typing import Generic, TypeVar

T = TypeVar("T")


class WorkQueue(Generic[T]):
    def __init__(self) -> None:
        self._items: list[T] = []
        self._unfinished = 0
        self._getter: asyncio.Future[None] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None

    def __len__(self) -> int:
        return len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: T) -> None:
        self._items.append(item)
        self._unfinished += 1
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    async def get(self) -> T:
        """The oldest item, waiting for one if there is none. Cancelled while waiting, it takes nothing."""
        while not self._items:
            if self._getter is not None and not self._getter.done():
                raise RuntimeError("WorkQueue has one consumer: another task is already waiting in get()")
            self._getter = asyncio.get_running_loop().create_future()
            try:
                await self._getter
            finally:
                self._getter = None
        return self._items.pop(0)  # short queues: a list's pop(0) is cheaper than a deque's size

    def task_done(self) -> None:
        """An item got earlier is done; when every item put is, `join` returns."""
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners:
            for joiner in self._joiners:
                if not joiner.done():
                    joiner.set_result(None)
            self._joiners = None

    async def join(self) -> None:
        """Wait until every item put so far is done."""
        if self._unfinished == 0:
            return
        joiner = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(joiner)
        await joiner
