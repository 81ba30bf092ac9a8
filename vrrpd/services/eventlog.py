"""The ordered event stream: every transition, drain, priority change and reload, numbered, kept in memory and fanned
out to followers.

keepalived's only ordered channel is its notify FIFO, which a slow reader blocks and a restart loses; here it is a
stream on the control socket (`vrrpctl events`), one JSON object per line:

    {"type": "transition", "seq": 7, "time": "2026-11-26T08:31:37.123Z", "timestamp": 1795681897.123,
     "kind": "instance", "name": "gw-v4", "old": "BACKUP", "new": "MASTER", "reason": "...", "priority": 150,
     "vrid": 51, "interface": "eth0", "family": "IPv4"}

`kind` is "instance" (or "group", for sync groups); `new` is MASTER, BACKUP, FAULT or STOP (the daemon stopped
the instance), `old` the same or INITIALIZE for the first transition after start. `seq` starts at 1 and has no
holes in what the daemon produced, so a follower can see what it missed. Events of other types share the numbering
and the stamps (`type` tells them apart; README.md, "Notify hooks and events", has every field):

    {"type": "priority", ..., "kind": "instance", "name": "gw-v4", "old": 150, "new": 100,
     "reason": "base 150, track script chk_web down -50", "vrid": 51, "interface": "eth0", "family": "IPv4"}
    {"type": "drain", ..., "kind": "instance", "name": "gw-v4", "mode": "hard", "reason": "vrrpctl drain", ...}
    {"type": "reload", ..., "result": "applied", "error": null, "generation": 2, "unchanged": 3, "changed": 1,
     "added": 0, "removed": 0}

A follower never slows the daemon: publishing only appends to each follower's bounded queue. When a follower's
queue is full, the events that do not fit are dropped for that follower and it gets one
``{"type": "gap", "missed": N, "first_seq": A, "last_seq": B}`` line in their place once it catches up.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

KEEP = 1000
"""Events kept for replay (`vrrpctl events --replay N`)."""
FOLLOWER_QUEUE = 1000
"""Events waiting for one follower before its further events are dropped (and reported as a gap)."""

Event = dict[str, Any]


def iso_time(timestamp: float) -> str:
    """UTC, to the millisecond, as the event stream and the status write times: ``2026-11-26T08:31:37.123Z``."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Follower:
    """One follower's queue: an async iterator of events (and gap records).

    The producer side ends it with `finish()` (the iteration stops after what is queued); the consumer side
    with `close()` (gone: nothing more is queued)."""

    def __init__(self, log: EventLog, limit: int, backlog: list[Event]) -> None:
        self._log = log
        self.limit = limit
        self._queue: deque[Event] = deque(backlog)
        self._wake = asyncio.Event()
        self.finished = False
        self.ended = asyncio.Event()
        """Set once the consumer is done: it read to the end, or went away."""
        self.missed = 0
        """Events dropped for this follower in total."""

    def push(self, event: Event) -> None:
        if self.finished or self.ended.is_set():
            return
        last = self._queue[-1] if self._queue else None
        if last is not None and last.get("type") == "gap":
            # Already losing events: everything until the follower has read the gap is lost too, in order.
            last["missed"] += 1
            last["last_seq"] = event["seq"]
            self.missed += 1
        elif len(self._queue) >= self.limit:
            self._queue.append({"type": "gap", "missed": 1, "first_seq": event["seq"], "last_seq": event["seq"]})
            self.missed += 1
        else:
            self._queue.append(event)
        self._wake.set()

    def finish(self) -> None:
        self.finished = True
        self._log._followers.discard(self)
        self._wake.set()

    def close(self) -> None:
        self._log._followers.discard(self)
        self._queue.clear()
        self.ended.set()
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def __aiter__(self) -> Follower:
        return self

    async def __anext__(self) -> Event:
        while not self._queue:
            if self.finished or self.ended.is_set():
                self.ended.set()
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()
        return self._queue.popleft()


class EventLog:
    def __init__(
        self, keep: int = KEEP, follower_queue: int = FOLLOWER_QUEUE, clock: Callable[[], float] = time.time
    ) -> None:
        self.keep = keep
        self.follower_queue = follower_queue
        self.clock = clock
        self._events: deque[Event] = deque(maxlen=keep)
        self._followers: set[Follower] = set()
        self.seq = 0
        """The last sequence number given out (0: none yet)."""

    def publish(self, fields: dict[str, Any], event_type: str = "transition") -> Event:
        """Number and stamp `fields` (kind, name, old, new, ...) as an event of `event_type`, keep it, and queue it
        for every follower."""
        self.seq += 1
        now = self.clock()
        event: Event = {
            "type": event_type,
            "seq": self.seq,
            "time": iso_time(now),
            "timestamp": round(now, 6),
            **fields,
        }
        self._events.append(event)
        for follower in list(self._followers):
            follower.push(event)
        return event

    def recent(self, count: int) -> list[Event]:
        return list(self._events)[-count:] if count > 0 else []

    def follow(self, replay: int = 0) -> Follower:
        """A follower that first gets the last `replay` kept events, then every new one."""
        follower = Follower(self, max(self.follower_queue, replay), self.recent(replay))
        self._followers.add(follower)
        return follower

    def open_stream(self, args: dict[str, Any]) -> tuple[dict[str, Any], Follower]:
        """The control socket's `events` request: ``{"command": "events", "replay": N}`` (N optional, default 0).

        Returns the acknowledgement and the follower; raises ValueError for bad arguments (before anything is
        streamed), worded for the client: the daemon answers it as the request's error."""
        unknown = sorted(set(args) - {"replay"})
        if unknown:
            raise ValueError(f"events: unknown argument {unknown[0]!r} (known: replay)")
        replay = args.get("replay", 0)
        if isinstance(replay, bool) or not isinstance(replay, int) or not 0 <= replay <= self.keep:
            raise ValueError(f"events: replay must be a whole number 0..{self.keep}, got {replay!r}")
        follower = self.follow(replay)
        ack = {"stream": "events", "replayed": follower.pending, "last_seq": self.seq, "kept": len(self._events)}
        return ack, follower

    async def close(self, timeout: float) -> None:
        """End every follower's stream (daemon shutdown) after what it has queued; wait at most `timeout` seconds
        for them to be sent, so the last transitions (STOP) reach followers that keep up."""
        followers = list(self._followers)
        for follower in followers:
            follower.finish()
        waits = [asyncio.ensure_future(f.ended.wait()) for f in followers]
        if waits:
            _, late = await asyncio.wait(waits, timeout=timeout)
            for task in late:
                task.cancel()

    @property
    def followers(self) -> int:
        return len(self._followers)
