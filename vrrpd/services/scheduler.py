"""The daemon's clock work: every router deadline on one timerfd, and the sockets read before any of them fires.

Both exist for CPU at scale (issue #6; figures in bench/results.md):
- Deadlines (vrrpd.services.deadlines): the adverts of many masters that are due together leave from one wake-up.
- Polling: a link that expects many adverts a second (a backup of 100 routers at 10 ms hears 10,000) costs a
  wake-up per packet when watched with `add_reader`; drained every POLL_PERIOD it costs one wake-up per period
  for all of them. A link is polled only when it expects more than one advert per period on average, so an idle
  or small daemon never pays for the tick. Polling delays when an advert is *processed* by at most POLL_PERIOD
  (the router is given the loop's time when the drain reads it), never whether it counts.

Before any deadline fires, every socket is read: polled ones always, watched ones (`watch`) when they are
readable. A Master_Down timer must never run out while an advert that would have reset it waits in a socket
buffer (RFC 9568 §6.4.2), and the loop's wake-up order does not promise that: after a pause (SIGSTOP, a stalled
VM) the timerfd and the sockets are ready at once, and the timerfd may come first, all the more so since a
deadline that moved later is re-armed lazily, so the timer still goes off at the earlier one (issue #13: 4 to 8
takeovers in 20 pauses of 0.5 s at a 0.1 s interval before this). An advert read this way is processed at the
time of the read, not of its arrival: it restarts Master_Down_Timer from then. That is what the RFC's rule asks
(the master was alive while we were not looking), and what keepalived 2.2.7 does: as the backup under the same
20 pauses it never took over.
Which watched sockets are readable is asked in one epoll_wait(0) for all of them, so a daemon with many links
pays one system call per firing, not one recv per link (bench/drain_cost.py, CPython 3.11: 0.3-0.8 µs per firing
for 1 to 1,000 idle links, against 1.6 µs to 2.1 ms). Masters' firings are drained before too: it costs that one
call, and a master that was paused then hears a higher priority before it sends again (RFC 9568 §6.4.3).
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import Callable

from vrrpd.net.timerfd import TimerFd
from vrrpd.services.deadlines import Deadlines

log = logging.getLogger(__name__)

POLL_PERIOD = 0.002
"""Seconds between two drains of a polled socket: at most this much processing delay for an advert."""
POLL_ABOVE_RATE = 1 / POLL_PERIOD
"""Adverts per second on one socket above which it is polled rather than watched."""
REFRESH_AHEAD = 2 * POLL_PERIOD
"""How far ahead each poll tick re-queues deadlines that moved later: past the next tick, with a tick's margin."""
MAX_SLACK = 0.001
"""The most a deadline with slack may be served early."""


class Scheduler:
    """Keys (router names) with deadlines, fired through `fire(key, now)` (`now` never before the deadline);
    drains (`poll`, and `watch` when readable) before each firing."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fire: Callable[[str, float], None],
        slack: Callable[[str], float],
    ) -> None:
        self._loop = loop
        self._fire = fire
        self.deadlines: Deadlines[str] = Deadlines(slack, MAX_SLACK)
        self._armed: float | None = None
        self._firing = False
        self._timerfd: TimerFd | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._drains: list[Callable[[], None]] = []
        self._poll_fd: TimerFd | None = None
        self._watched: dict[int, Callable[[], None]] = {}
        self._readable = select.epoll()
        """The watched descriptors, asked which are readable in one call before a firing."""
        try:
            self._timerfd = TimerFd()
        except OSError as exc:
            log.warning("no timerfd (%s); asyncio timers may fire up to a few ms late", exc)
        else:
            loop.add_reader(self._timerfd.fileno(), self._on_timerfd)

    def set(self, key: str, deadline: float | None) -> None:
        if self.deadlines.set(key, deadline) and not self._firing:
            self._rearm()

    def poll(self, drain: Callable[[], None]) -> None:
        """Call `drain` every POLL_PERIOD, and before any deadline fires."""
        self._drains.append(drain)
        if self._poll_fd is None:
            self._poll_fd = TimerFd()
            self._loop.add_reader(self._poll_fd.fileno(), self._on_poll)
            self._poll_fd.set(self._loop.time() + POLL_PERIOD, POLL_PERIOD)

    def watch(self, fd: int, drain: Callable[[], None]) -> None:
        """Call `drain` before any deadline fires while `fd` is readable: a socket the loop watches itself
        (`add_reader`), whose wake-up may come after the timer's."""
        self._readable.register(fd, select.EPOLLIN)
        self._watched[fd] = drain

    def unwatch(self, fd: int) -> None:
        """Stop draining `fd` (before it closes)."""
        if self._watched.pop(fd, None) is not None:
            self._readable.unregister(fd)

    def unpoll(self, drain: Callable[[], None]) -> None:
        """Stop calling `drain` (its socket is closing); the tick stops with the last one."""
        if drain in self._drains:
            self._drains.remove(drain)
        if not self._drains:
            self._stop_tick()

    def stop_polling(self) -> None:
        """Read no socket any more, polled or watched (the daemon is stopping)."""
        for fd in list(self._watched):
            self.unwatch(fd)
        self._drains.clear()
        self._stop_tick()

    def close(self) -> None:
        self.stop_polling()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._timerfd is not None:
            self._loop.remove_reader(self._timerfd.fileno())
            self._timerfd.close()
            self._timerfd = None
        self._readable.close()

    # --- internals ---------------------------------------------------------------------------------------

    def _stop_tick(self) -> None:
        if self._poll_fd is not None:
            self._loop.remove_reader(self._poll_fd.fileno())
            self._poll_fd.close()
            self._poll_fd = None

    def _drain(self) -> None:
        for drain in self._drains:
            drain()

    def _drain_all(self) -> None:
        self._drain()
        if self._watched:
            for fd, _ in self._readable.poll(0, len(self._watched)):
                if (drain := self._watched.get(fd)) is not None:  # an earlier drain may have let it go
                    drain()

    def _on_poll(self) -> None:
        assert self._poll_fd is not None
        self._poll_fd.clear()
        self._drain()
        if not self._firing:
            # The backups' entries due before the next tick whose deadline the adverts just read moved later:
            # re-queued now, so the timerfd does not wake up only to re-queue them (vrrpd.services.deadlines).
            # It is re-armed only if it would otherwise go off before the next tick, which looks again.
            now = self._loop.time()
            self.deadlines.refresh(now + REFRESH_AHEAD)
            if self._armed is not None and self._armed <= now + POLL_PERIOD:
                self._rearm()

    def _on_timerfd(self) -> None:
        assert self._timerfd is not None
        self._timerfd.clear()
        self._run_due()

    def _on_call_at(self) -> None:
        self._handle = None
        self._run_due()

    def _run_due(self) -> None:
        self._armed = None
        self._firing = True
        try:
            self._drain_all()
            now = self._loop.time()
            for key, deadline in self.deadlines.pop_due(now):
                # A timer may fire a hair early (or be served early within its slack); the router then sees
                # exactly its deadline (aioquic's rule), so a Master_Down_Timer never expires early.
                try:
                    self._fire(key, max(deadline, now))
                except Exception:  # one router's bug must not cost the others their timers
                    log.exception("%s: error handling its timer", key)
        finally:
            self._firing = False
            self._rearm()

    def _rearm(self) -> None:
        when = self.deadlines.next()
        if when == self._armed:
            return
        self._armed = when
        if self._timerfd is not None:
            self._timerfd.set(when)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None if when is None else self._loop.call_at(when, self._on_call_at)
