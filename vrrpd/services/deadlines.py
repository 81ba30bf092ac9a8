"""Every router's deadline on one timerfd: one wake-up serves all the timers that are due together.

Why not one timer per router: with 100 masters at a 10 ms interval, a timer each costs a wake-up, a read and
a re-arm per advert (three system calls and a trip round the event loop); batched, the adverts that are due
together go out from one wake-up. Two rules keep it cheap and punctual:

- Lazy re-arming. A backup's Master_Down deadline moves later with every advert it accepts; moving a deadline
  later only records it, and the heap entry that is already queued (earlier) is re-queued when it comes up.
  Only a deadline *earlier* than the queued one costs a heap push and, if it is the earliest of all, a
  timerfd re-arm.
- Refreshing ahead (`refresh`): a backup's entry comes up only to be re-queued, about once per
  Master_Down_Interval per router (2,500-3,000 times a second for 100 backups at 10 ms, each a wake-up of its own
  since the routers are out of phase). A caller that wakes up regularly anyway (the scheduler's poll tick) re-queues
  the entries due before its next wake-up whose deadline has already moved, so the timer is only armed for a
  deadline that may really fire.
- Slack, per key, chosen by the caller: a due timer also takes along the timers whose deadline is at most
  their slack ahead. The daemon gives slack only to a master's Adver_Timer (sending an advert a fraction of a
  millisecond early is harmless; the caller passes the router its deadline, so the advert schedule keeps its
  phase) and none to a Master_Down_Timer, which must never expire early.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """Deadlines by key, on any clock; the owner arms one timer at `next()` and calls `pop_due(now)`.

    Pure bookkeeping (no timerfd here) so it can be tested with a float clock; vrrpd.services.scheduler wires it to a
    timerfd.
    """

    def __init__(self, slack: Callable[[K], float] = lambda key: 0.0, max_slack: float = 0.0) -> None:
        self._slack = slack
        self._max_slack = max_slack
        self._want: dict[K, float] = {}
        """The current deadline of each key that has one."""
        self._queued: dict[K, float] = {}
        """The time of each key's one live heap entry (<= its wanted deadline); other entries are stale."""
        self._heap: list[tuple[float, int, K]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._want)

    def get(self, key: K) -> float | None:
        return self._want.get(key)

    def set(self, key: K, deadline: float | None) -> bool:
        """Record `key`'s deadline (None: no deadline). True if `next()` may have become earlier."""
        if deadline is None:
            self._want.pop(key, None)
            return False
        self._want[key] = deadline
        queued = self._queued.get(key)
        if queued is not None and queued <= deadline:
            return False  # the queued entry comes up first and is re-queued then
        self._queued[key] = deadline
        heapq.heappush(self._heap, (deadline, next(self._seq), key))
        return True

    def next(self) -> float | None:
        """When the earliest live entry comes up (it may only re-queue a deadline that moved later)."""
        heap = self._heap
        while heap:
            when, _, key = heap[0]
            if self._queued.get(key) == when and key in self._want:
                return when
            heapq.heappop(heap)
            if self._queued.get(key) == when:
                del self._queued[key]  # its deadline was removed
        return None

    def refresh(self, horizon: float) -> None:
        """Re-queue, at their deadline, the entries that come up by `horizon` although their deadline has moved
        later: `next()` then answers a deadline that may really fire, or one after `horizon`. Stops at the first
        entry whose deadline has not moved (it may fire); a deadline can only move earlier through `set`, which
        queues it anew, so nothing re-queued here can be due before its new entry."""
        heap = self._heap
        while heap and heap[0][0] <= horizon:
            when, _, key = heap[0]
            if self._queued.get(key) != when:
                heapq.heappop(heap)  # stale: its key has a newer entry, or none
                continue
            wanted = self._want.get(key)
            if wanted == when:
                return
            heapq.heappop(heap)
            if wanted is None:
                del self._queued[key]
                continue
            self._queued[key] = wanted
            heapq.heappush(heap, (wanted, next(self._seq), key))

    def pop_due(self, now: float) -> list[tuple[K, float]]:
        """Remove and return the keys due at `now` (each within its slack), earliest first, with their deadline."""
        heap, due, later = self._heap, [], []
        horizon = now + self._max_slack
        while heap and heap[0][0] <= horizon:
            when, _, key = heapq.heappop(heap)
            if self._queued.get(key) != when:
                continue  # stale
            del self._queued[key]
            wanted = self._want.get(key)
            if wanted is None:
                continue
            if wanted > now and wanted > now + self._slack(key):  # a key already due needs no slack asked
                later.append((wanted, key))
                continue
            del self._want[key]
            due.append((key, wanted))
        for wanted, key in later:
            self._queued[key] = wanted
            heapq.heappush(heap, (wanted, next(self._seq), key))
        due.sort(key=lambda item: item[1])
        return due
