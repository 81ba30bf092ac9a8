"""One run of a track script or notify hook: over when its leader exits, not when its output pipe closes.

- The command runs in its own session and process group (`start_new_session`), never through a shell, with stdin
  on /dev/null and stdout and stderr into one pipe.
- The run is over when the command itself (the group's leader) exits, learnt from a pidfd (pidfd_open(2)) without
  reaping it. A check that exits 0 and leaves a background child holding the output pipe has passed, at once: the
  exit status decides, as it does for keepalived. Waiting for the pipe to close instead turned such a check into a
  timeout, a failure, and a failover.
- Then the whole group gets SIGKILL, and only then is the leader reaped, so that nothing a finished run started
  lives on. Until it is reaped the leader is a zombie that still holds its pid, which is also the group's id, so
  the signal cannot reach a group made later under a recycled id: POSIX fork() gives no new process "any active
  process group ID", and a process's lifetime (XBD "Process Lifetime") ends only when its status is collected, so
  the zombie keeps the group active. (After the reap, members still alive would keep it so too.) A child
  that made itself a new session (setsid, a daemon) is outside the group: the unit's TasksMax= bounds how many
  such processes there can be, and systemd kills them when vrrpd stops (KillMode=control-group).
- At `timeout` the group gets SIGTERM, SIGKILL after `grace`; a timeout is a failure.
- Output: the first `cap` bytes are kept, the rest is read and discarded, so a verbose command never blocks on a
  full pipe and a chatty check that exits 0 still passes (closing the pipe at the cap would kill it with SIGPIPE).
  After the leader's exit, what is left in the pipe is read for at most `OUTPUT_GRACE` seconds; then the pipe is
  closed, whoever still holds it.
- Cancelled (the daemon stops, a hook is cut short): the group gets SIGKILL, and the leader is reaped before the
  cancellation goes on (after `REAP_LIMIT` seconds it goes on anyway; the exit watch still reaps the leader).
- Without pidfd_open(2) (a kernel older than 5.3, a seccomp filter that denies it) a thread blocked in
  waitid(WEXITED | WNOWAIT) reports the exit instead, also without reaping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO

from vrrpd.services.logsetup import printable

KILL_GRACE = 2.0
"""Seconds between SIGTERM and SIGKILL for a command that timed out (keepalived's value)."""
OUTPUT_CAP = 4096
"""Bytes of a run's output kept for the log."""
OUTPUT_GRACE = 0.1
"""Seconds to read what is left in the pipe after the leader exited and its group was killed."""
LOG_OUTPUT = 512
"""Bytes of output shown in one log record (escaped, so at most four times as many characters)."""
REAP_LIMIT = 2.0
"""Seconds a cancelled run waits for its SIGKILLed leader to be reaped before the cancellation goes on."""
_READ_SIZE = 65536
"""The default pipe capacity: one read per wake-up takes all a full pipe holds."""


@dataclass(frozen=True, slots=True)
class RunAs:
    """The identity a command runs with (resolved from `user` before the loop needs it)."""

    user: str
    uid: int
    gid: int


@dataclass(frozen=True, slots=True)
class RunResult:
    ok: bool
    returncode: int | None
    """The exit status; negative: killed by that signal; None: it could not be started."""
    duration: float
    timed_out: bool = False
    output: bytes = b""
    """At most OUTPUT_CAP bytes of stdout+stderr."""
    truncated: bool = False
    error: str | None = None
    """Why it could not be started (no such file, permission denied...)."""
    output_size: int = 0
    """Bytes of output read in all: the kept ones and those discarded beyond the cap."""

    def describe(self) -> str:
        if self.error is not None:
            return f"cannot run: {self.error}"
        if self.timed_out:
            return f"timed out after {self.duration:.2f}s (killed)"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"killed by {name} after {self.duration:.2f}s"
        return f"exit status {self.returncode} after {self.duration:.2f}s"

    def shown_output(self, limit: int = LOG_OUTPUT) -> str:
        """The output for the log: "; output: ..." escaped onto one line and capped, or "" when there was none."""
        output = self.output.strip()
        if not output:
            return ""
        return f"; output: {printable(output, limit, len(output) + self.output_size - len(self.output))}"


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


class _ExitWatch:
    """Calls `on_exit` on the loop once process `pid` has exited, without reaping it; then `exited` is done."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pid: int, on_exit: Callable[[], None]) -> None:
        self._loop = loop
        self._on_exit = on_exit
        self.exited: asyncio.Future[None] = loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except OSError:
            threading.Thread(target=self._wait, args=(pid,), name=f"vrrpd-wait-{pid}", daemon=True).start()
        else:
            loop.add_reader(self._pidfd, self._fire)

    def _wait(self, pid: int) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile; the process exit reaps then
            self._loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if not self.exited.done():
            try:
                self._on_exit()
            finally:
                self.exited.set_result(None)


class _Output:
    """Reads a pipe on the loop: keeps the first `cap` bytes, counts and discards the rest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, pipe: IO[bytes], cap: int) -> None:
        self._loop = loop
        self._pipe: IO[bytes] | None = pipe
        self._fd = pipe.fileno()
        self._cap = cap
        self._buffer = bytearray(_READ_SIZE)
        self.kept = bytearray()
        self.size = 0
        self.eof: asyncio.Future[None] = loop.create_future()
        os.set_blocking(self._fd, False)
        loop.add_reader(self._fd, self._read)

    def _read(self) -> None:
        try:
            n = os.readv(self._fd, [self._buffer])
        except BlockingIOError:
            return
        except OSError:
            n = 0
        if n == 0:
            self.close()
            return
        self.size += n
        room = self._cap - len(self.kept)
        if room > 0:
            self.kept += self._buffer[: min(room, n)]

    def close(self) -> None:
        if self._pipe is not None:
            self._loop.remove_reader(self._fd)
            self._pipe.close()
            self._pipe = None
        if not self.eof.done():
            self.eof.set_result(None)


async def run_once(
    argv: tuple[str, ...] | list[str],
    timeout: float,
    *,
    run_as: RunAs | None = None,
    grace: float = KILL_GRACE,
    cap: int = OUTPUT_CAP,
    env: Mapping[str, str] | None = None,
) -> RunResult:
    """Run one command to its exit (or to its timeout and kill). Never raises for the command's own failures.

    `env`: the whole environment of the child (None: the daemon's own); notify hooks use it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    extra: dict[str, object] = {}
    if run_as is not None:
        extra = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    try:
        # Synchronous, as asyncio's own subprocess start is: fork/exec, and the exec's outcome read back.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            **extra,  # type: ignore[arg-type]
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return RunResult(False, None, loop.time() - started, error=str(exc))
    pgid = proc.pid  # start_new_session: the child leads its own group

    def reap() -> None:
        # The leader has exited and is not reaped yet, so `pgid` is still this run's group (see the docstring).
        signal_group(pgid, signal.SIGKILL)
        proc.poll()

    assert proc.stdout is not None
    output = _Output(loop, proc.stdout, cap)
    watch = _ExitWatch(loop, proc.pid, reap)
    timed_out = False
    try:
        await asyncio.wait([watch.exited], timeout=timeout)
        if not watch.exited.done():
            timed_out = True
            signal_group(pgid, signal.SIGTERM)
            await asyncio.wait([watch.exited], timeout=grace)
            if not watch.exited.done():
                signal_group(pgid, signal.SIGKILL)
                await watch.exited
        await asyncio.wait([output.eof], timeout=OUTPUT_GRACE)
    except asyncio.CancelledError:
        signal_group(pgid, signal.SIGKILL)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([watch.exited], timeout=REAP_LIMIT)
        raise
    finally:
        output.close()
    returncode = proc.returncode
    kept = bytes(output.kept)
    ok = not timed_out and returncode == 0
    truncated = output.size > len(kept)
    return RunResult(ok, returncode, loop.time() - started, timed_out, kept, truncated, output_size=output.size)
