"""Third-party VRRP peers run inside lab hosts (keepalived 2.2.7)."""

from __future__ import annotations

import ipaddress
import itertools
import os
import signal
import socket
import stat
import subprocess
from collections.abc import Sequence

from lab import Host, check_address

__all__ = ["Keepalived"]

# keepalived hands a generic `notify` script: TYPE ("INSTANCE"/"GROUP") NAME STATE PRIORITY. It runs the script only
# after the transition's work is done (VIPs set or removed), so "MASTER" in the state file implies the VIPs are up.
# The state file is replaced atomically so a reader never sees it empty or half written.
_NOTIFY_SCRIPT = """#!/bin/sh
dir='{dir}'
printf '%s\\n' "$3" > "$dir/state.$$" && mv -f "$dir/state.$$" "$dir/state"
printf '%s %s %s %s %s\\n' "$(date +%s.%N)" "$1" "$2" "$3" "$4" >> "$dir/transitions"
"""

_counter = itertools.count()


class Keepalived:
    """One keepalived VRRP instance in a lab host.

    The process is started through ``host.popen`` so the lab ends it even if the test forgets to.
    """

    def __init__(
        self,
        host: Host,
        vrid: int,
        priority: int,
        addresses: Sequence[str],
        *,
        name: str = "VI_1",
        interface: str | None = None,
        advert_int: float = 1.0,
        version: int = 3,
        preempt: bool = True,
        family: int | None = None,
        extra_instance_config: Sequence[str] = (),
        extra_global_config: Sequence[str] = (),
    ) -> None:
        if not addresses:
            raise ValueError("keepalived needs at least one virtual address")
        for addr in addresses:
            if "/" not in addr:
                raise ValueError(f"{addr}: give the prefix length explicitly (keepalived defaults to a host route)")
            check_address(addr)
        families = {ipaddress.ip_interface(a).version for a in addresses}
        if len(families) != 1:
            raise ValueError("a VRRP instance carries one address family; split IPv4 and IPv6 into two instances")
        self.family = families.pop()
        # Accept both 4/6 and socket.AF_INET/AF_INET6, since both spellings are common in this code base.
        if family is not None and {socket.AF_INET: 4, socket.AF_INET6: 6}.get(family, family) != self.family:
            raise ValueError(f"family {family} given but the addresses are IPv{self.family}")
        if self.family == 6 and version != 3:
            raise ValueError("IPv6 needs VRRP version 3")
        if version not in (2, 3):
            raise ValueError(f"unknown VRRP version {version}")
        if not 1 <= vrid <= 255 or not 1 <= priority <= 255:
            raise ValueError("vrid is 1..255 and priority 1..255")
        if advert_int < 0.01:
            # keepalived logs and ignores a smaller value (falling back to 1 s) while `keepalived -t` still passes.
            raise ValueError("keepalived's minimum advert_int is 0.01 s")

        self.host = host
        self.name = name
        self.interface = interface or host.ifname
        self.vrid = vrid
        self.priority = priority
        self.advert_int = advert_int
        self.addresses = list(addresses)
        self.version = version
        self.preempt = preempt
        self.extra_instance_config = list(extra_instance_config)
        self.extra_global_config = list(extra_global_config)

        # Lives in the lab's 0700 root-owned workdir: keepalived's script security refuses a notify script if any
        # directory on its path is writable by a non-root user (sticky /tmp itself is accepted).
        self.dir = host.lab.workdir / f"keepalived-{host.name}-{name}-{next(_counter)}"
        self.dir.mkdir(mode=0o700)
        self.conf_path = self.dir / "keepalived.conf"
        self.log_path = self.dir / "keepalived.log"
        self.notify_path = self.dir / "notify.sh"
        self.state_path = self.dir / "state"
        self.transitions_path = self.dir / "transitions"
        host.lab.logs[f"keepalived {host.name}/{name}"] = self.log_path
        self.proc: subprocess.Popen | None = None

    def config(self) -> str:
        vips = "\n".join(f"        {a}" for a in self.addresses)
        advert = f"{self.advert_int:g}"
        lines = [
            "global_defs {",
            f"    router_id {self.host.name}",
            f"    vrrp_version {self.version}",
            # Both needed (checked with `keepalived -t`): without enable_script_security it reports a SECURITY
            # VIOLATION; without script_user it looks for a `keepalived_script` user, which does not exist here.
            "    enable_script_security",
            "    script_user root",
            *(f"    {line}" for line in self.extra_global_config),
            "}",
            f"vrrp_instance {self.name} {{",
            # Always start as Backup: `state MASTER` would skip the RFC's Master_Down wait and `nopreempt` requires it.
            "    state BACKUP",
            f"    interface {self.interface}",
            f"    virtual_router_id {self.vrid}",
            f"    priority {self.priority}",
            f"    advert_int {advert}",
            f"    version {self.version}",
            *(["    nopreempt"] if not self.preempt else []),
            "    virtual_ipaddress {",
            vips,
            "    }",
            f"    notify {self.notify_path}",
            *(f"    {line}" for line in self.extra_instance_config),
            "}",
            "",
        ]
        return "\n".join(lines)

    def _write_files(self) -> None:
        self.conf_path.write_text(self.config())
        self.notify_path.write_text(_NOTIFY_SCRIPT.format(dir=self.dir))
        # Script security also rejects a script writable by anyone but root.
        os.chmod(self.notify_path, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)

    def start(self) -> Keepalived:
        if self.running:
            raise RuntimeError(f"keepalived {self.host.name}/{self.name} is already running")
        self._write_files()
        # A stale state from a previous run would satisfy a wait for the state this run has not reached yet.
        for stale in (self.state_path, self.dir / "keepalived.pid", self.dir / "vrrp.pid"):
            stale.unlink(missing_ok=True)
        # Appending keeps the log of a previous run (e.g. before a crash) for post-mortems.
        with open(self.log_path, "a") as log:
            log.write(f"===== start: {' '.join(self.argv())}\n")
            log.flush()
            self.proc = self.host.popen(self.argv(), stdout=log, stderr=subprocess.STDOUT)
        return self

    def argv(self) -> list[str]:
        # -n foreground, -l log to stdout, -D detail, -P VRRP only, -G no syslog; own pid files so instances in
        # different namespaces do not fight over /run/keepalived.pid.
        pid_files = ["-p", str(self.dir / "keepalived.pid"), "-r", str(self.dir / "vrrp.pid")]
        return ["keepalived", "-n", "-l", "-D", "-P", "-G", "-f", str(self.conf_path), *pid_files]

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        """Graceful stop: SIGTERM to the parent, which makes a Master send a priority-0 advert and drop its VIPs."""
        if self.proc is None:
            return None
        return self.host.stop(self.proc, signal.SIGTERM, timeout)

    def crash(self) -> None:
        """SIGKILL parent and VRRP child at once. No priority-0 advert; the VIPs stay on the interface."""
        if self.proc is not None:
            self.host.kill(self.proc)

    def state(self) -> str | None:
        """Last state keepalived reported through its notify script ("BACKUP", "MASTER", "FAULT", "STOP").

        None before the first report of the current run. After crash() this is the last state before the crash.
        """
        try:
            return self.state_path.read_text().strip() or None
        except FileNotFoundError:
            return None

    def transitions(self) -> list[str]:
        """Every state reported since the lab started this instance (all runs), oldest first."""
        try:
            lines = self.transitions_path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [parts[3] for parts in (line.split() for line in lines) if len(parts) >= 4]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __repr__(self) -> str:
        return f"Keepalived({self.host.name}/{self.name}, vrid={self.vrid}, prio={self.priority}, state={self.state()})"
