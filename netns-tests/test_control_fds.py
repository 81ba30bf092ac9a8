"""Control-socket clients cannot starve the daemon of descriptors (issue #13 item 3), on a real kernel.

Before: 1,015 idle `vrrpctl events` clients exhausted systemd's default limit of 1,024 descriptors, the next track
script run failed with EMFILE and the VIP moved. Here 1,100 such clients connect to a master whose limit is set to
1,024 (as without LimitNOFILE= in the unit): all but MAX_STREAMS are refused, the daemon holds at most MAX_CLIENTS
connections, and its track script keeps running (its failure moves the VIP, its recovery moves it back).

Run with -s to see the descriptor figures.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import socket
from contextlib import ExitStack
from pathlib import Path

from lab import Lab, wait_for
from vrrpd_runner import Vrrpd, flag_script, instance, two_hosts, vip_holders

from vrrpd.services.control import MAX_CLIENTS, MAX_STREAMS

VIP = "198.51.100.100/24"
CLIENTS = 1100
DAEMON_NOFILE = 1024  # systemd's default soft limit for a service without LimitNOFILE=


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def first_line(s: socket.socket) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(4096)
        assert chunk, f"closed without an answer after {data!r}"
        data += chunk
    return json.loads(data.splitlines()[0])


def subscribe(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)

    def connected() -> bool:
        try:
            s.connect(str(path))
        except BlockingIOError:
            return False  # the listen backlog is full until the daemon accepts (and refuses) the earlier ones
        return True

    wait_for(connected, 30, message="the daemon stopped accepting")
    with contextlib.suppress(BrokenPipeError):  # refused: answered and closed before the request arrived
        s.sendall(b'{"command": "events"}\n')
    return s


def test_idle_event_clients_cannot_starve_a_track_script(lab: Lab):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = CLIENTS + 200
    if soft < needed:  # this process holds every client socket
        assert hard == resource.RLIM_INFINITY or hard >= needed, f"need {needed} descriptors, hard limit {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    flag = lab.workdir / "a-check-fails"
    ha, hb = hosts = two_hosts(lab)
    a_inst = instance(priority=200, track_scripts=[{"name": "chk", "weight": -150}])
    a = Vrrpd(ha, [a_inst], track_scripts={"chk": flag_script(flag)}).start()
    b = Vrrpd(hb, [instance(priority=100)]).start()
    wait_for(lambda: a.state() == "MASTER" and b.state() == "BACKUP", 10, message="a never became master")
    wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 5, message="VIP not on a alone")
    assert a.proc is not None
    pid = a.proc.pid
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (DAEMON_NOFILE, DAEMON_NOFILE))
    before = fds(pid)

    with ExitStack() as stack:
        clients = [stack.enter_context(subscribe(a.socket)) for _ in range(CLIENTS)]
        answers = [first_line(s) for s in clients]
        transient = fds(pid)  # may include the last refused ones, closed on the daemon's next loop iterations
        bound = before + MAX_CLIENTS + 8
        during = wait_for(lambda: (n := fds(pid)) <= bound and n, 10, message=f"over {bound} descriptors held")
        accepted = [x for x in answers if x.get("ok")]
        refused = [x for x in answers if not x.get("ok")]
        assert len(accepted) == MAX_STREAMS
        assert all("its limit; try again later" in x["error"] for x in refused), refused[:3]

        # The abusers stay connected: the track script still runs, fails (the VIP moves), passes (it comes back).
        flag.touch()
        wait_for(lambda: vip_holders(hosts, VIP) == ["b"], 10, message="the failing script did not move the VIP")
        flag.unlink()
        wait_for(lambda: vip_holders(hosts, VIP) == ["a"], 10, message="the passing script did not bring it back")
        wait_for(lambda: a.state() == "MASTER", 15, message="a's status never answered")
        settled = fds(pid)
        assert settled <= before + MAX_STREAMS + 8  # only the streams stay: the refused were closed, the idle timed out
    after = wait_for(lambda: (n := fds(pid)) <= before + 2 and n, 15, message="the streams' descriptors stayed")
    log = a.log()
    assert "Too many open files" not in log
    assert "control socket: refused a client: at the limit of 64 connections" in log
    print(
        f"\n{CLIENTS} idle events clients, daemon limited to {DAEMON_NOFILE} descriptors: {before} before, "
        f"{transient} -> {during} with all connected ({len(accepted)} streams, {len(refused)} refused), "
        f"{settled} once the idle timed out, {after} after they left"
    )
