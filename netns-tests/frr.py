"""FRR 8.4 vrrpd (with the zebra it needs) run inside a lab host.

Everything FRR needs lives in the host's namespace and the lab's workdir: the macvlans it looks for, its own run
directory (owned by ``frr``) with pid files, zebra's API socket and the vty sockets, and its config files. Nothing in
/etc/frr or /var/run/frr is touched, and no daemon listens on a TCP vty (``-P 0``).

How FRR's VRRP works (doc/user/vrrp.rst, vrrpd/vrrp.c at frr-8.4), which is what this runner prepares for:

- FRR never creates interfaces. Per family it looks for a macvlan on the VRRP interface whose MAC is the virtual MAC
  (00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6), in bridge mode, carrying the VIPs.
- The VIPs stay configured on that macvlan in every state; Backup is ``protodown on`` on the macvlan and Master is
  ``protodown off``. So the host "holds" a VIP when the macvlan is not protodown (see ``holds_vip``).
- IPv4 adverts are sourced from the parent's primary IPv4 address, IPv6 adverts from the macvlan's link-local (hence
  ``addrgenmode random``: EUI-64 from the shared virtual MAC would give two routers the same source).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import Host, check_address, wait_for

__all__ = ["Frr"]

ZEBRA = "/usr/lib/frr/zebra"
VRRPD = "/usr/lib/frr/vrrpd"
VTYSH = "vtysh"
FRR_USER = "frr"

_STATES = {"Initialize": "INITIALIZE", "Backup": "BACKUP", "Master": "MASTER"}
_counter = itertools.count()


def _family_key(family: int | str) -> str:
    """ "v4"/"v6" (FRR's JSON keys) from 4/6, socket.AF_INET/AF_INET6, or "ipv4"/"ipv6"."""
    key = {4: "v4", 6: "v6", socket.AF_INET: "v4", socket.AF_INET6: "v6", "ipv4": "v4", "ipv6": "v6"}.get(family)
    if key is None and family in ("v4", "v6"):
        key = str(family)
    if key is None:
        raise ValueError(f"unknown address family {family!r}")
    return key


class Frr:
    """One FRR VRRP virtual router (IPv4, IPv6 or both under one VRID) in a lab host.

    ``advert_interval`` is in seconds like the other runners; FRR's config takes milliseconds (10..40950, a multiple
    of 10). Priority is 1..254: FRR cannot be the address owner.
    """

    def __init__(
        self,
        host: Host,
        vrid: int,
        priority: int,
        addresses: Sequence[str],
        advert_interval: float = 1.0,
        *,
        version: int = 3,
        preempt: bool = True,
        debug: Sequence[str] | None = ("",),
        interface: str | None = None,
    ) -> None:
        if not addresses:
            raise ValueError("FRR needs at least one virtual address per family it runs")
        for addr in addresses:
            if "/" not in addr:
                raise ValueError(f"{addr}: give the prefix length (it is what goes on the macvlan)")
            check_address(addr)
        if not 1 <= vrid <= 255:
            raise ValueError("vrid is 1..255")
        if not 1 <= priority <= 254:
            raise ValueError("FRR priorities are 1..254: it cannot be the address owner (vrrp_vty.c)")
        interval_ms = round(advert_interval * 1000)
        if not 10 <= interval_ms <= 40950 or interval_ms % 10:
            raise ValueError("FRR's advertisement-interval is 10..40950 ms in steps of 10 ms")
        families = {ipaddress.ip_interface(a).version for a in addresses}
        if 6 in families and version != 3:
            raise ValueError("IPv6 needs VRRP version 3")
        if version not in (2, 3):
            raise ValueError(f"unknown VRRP version {version}")

        self.host = host
        self.interface = interface or host.ifname
        self.vrid = vrid
        self.priority = priority
        self.addresses = list(addresses)
        self.advert_interval = advert_interval
        self.version = version
        self.preempt = preempt
        # `debug vrrp <what>` lines; "" = `debug vrrp` (everything), None = no debugging.
        self.debug = list(debug) if debug is not None else []
        self.families = sorted(families)

        # FRR drops to the `frr` user after start-up: it must be able to reach its run directory, which lives in the
        # lab's 0700 root-owned workdir. Traverse-only (no listing) for others keeps the rest of the workdir private.
        workdir = host.lab.workdir
        os.chmod(workdir, 0o711)
        self.dir = workdir / f"frr-{host.name}-{next(_counter)}"
        self.dir.mkdir(mode=0o750)
        shutil.chown(self.dir, FRR_USER, FRR_USER)
        self.conf_path = self.dir / "frr.conf"
        self.zebra_conf_path = self.dir / "zebra.conf"
        self.zapi_path = self.dir / "zserv.api"
        self.zebra_log_path = self.dir / "zebra.log"
        self.log_path = self.dir / "vrrpd.log"
        host.lab.logs[f"frr vrrpd {host.name}"] = self.log_path
        host.lab.logs[f"frr zebra {host.name}"] = self.zebra_log_path
        self.zebra: subprocess.Popen | None = None
        self.vrrpd: subprocess.Popen | None = None
        self._interfaces_ready = False

    # --- names ----------------------------------------------------------------------------------------------

    def macvlan(self, family: int | str) -> str:
        return f"vrrp{_family_key(family)[1]}-{self.vrid}"[:15]

    def vmac(self, family: int | str) -> str:
        # RFC 9568 §7.3: 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6.
        return f"00:00:5e:00:0{1 if _family_key(family) == 'v4' else 2}:{self.vrid:02x}"

    def _vips(self, family: int | str) -> list[str]:
        want = int(_family_key(family)[1])
        return [a for a in self.addresses if ipaddress.ip_interface(a).version == want]

    # --- host set-up ------------------------------------------------------------------------------------------

    def _sysctl(self, settings: dict[str, str]) -> None:
        script = "; ".join(f"echo {v} > /proc/sys/{k.replace('.', '/')}" for k, v in settings.items())
        self.host.run(["sh", "-ec", script])

    def setup_interfaces(self) -> None:
        """The macvlans FRR looks for (one per family), with the VIPs on them. Idempotent."""
        if self._interfaces_ready:
            return
        if 4 in self.families and not self.host.addresses(socket.AF_INET):
            raise RuntimeError(f"{self.host.name}: FRR sources IPv4 adverts from a primary IPv4 address on eth0")
        # Without arp_ignore eth0 answers ARP for the VIP (configured on the macvlan) even while FRR is Backup;
        # without arp_announce the host's own ARP requests from eth0 (e.g. to answer a ping to the VIP) carry the
        # VIP as sender with eth0's MAC, and every neighbour re-learns the VIP at the physical MAC.
        self._sysctl(
            {f"net.ipv4.conf.{self.interface}.arp_ignore": "1", f"net.ipv4.conf.{self.interface}.arp_announce": "2"}
        )
        for fam in self.families:
            name = self.macvlan(fam)
            ip = ["ip", "link"]
            # Two steps: the documented one-liner with `addrgenmode` fails ("Address family not supported").
            self.host.run([*ip, "add", name, "link", self.interface, "type", "macvlan", "mode", "bridge"])
            self.host.run([*ip, "set", "dev", name, "addrgenmode", "random"])
            self.host.run([*ip, "set", "dev", name, "address", self.vmac(fam)])
            if fam == 6:
                self._sysctl({f"net.ipv6.conf.{name}.accept_dad": "0", f"net.ipv6.conf.{name}.dad_transmits": "0"})
            for vip in self._vips(fam):
                self.host.run(["ip", "addr", "add", vip, "dev", name, *(["nodad"] if fam == 6 else [])])
            self.host.run([*ip, "set", "dev", name, "up"])
        self._interfaces_ready = True

    # --- config -----------------------------------------------------------------------------------------------

    def config(self) -> str:
        n = self.vrid
        lines = [
            f"hostname {self.host.name}",
            "log stdout debugging",
            *(f"debug vrrp {what}".rstrip() for what in self.debug),
            "!",
            f"interface {self.interface}",
            f" vrrp {n} version {self.version}",
            f" vrrp {n} priority {self.priority}",
            f" vrrp {n} advertisement-interval {round(self.advert_interval * 1000)}",
            f" {'' if self.preempt else 'no '}vrrp {n} preempt",
        ]
        for addr in self.addresses:
            iface = ipaddress.ip_interface(addr)
            lines.append(f" vrrp {n} {'ip' if iface.version == 4 else 'ipv6'} {iface.ip}")
        lines += ["!", ""]
        return "\n".join(lines)

    def _write_files(self) -> None:
        self.conf_path.write_text(self.config())
        self.zebra_conf_path.write_text(f"hostname {self.host.name}\nlog stdout informational\n!\n")
        for path in (self.conf_path, self.zebra_conf_path):
            shutil.chown(path, FRR_USER, FRR_USER)

    def _common_argv(self, name: str, conf: Path) -> list[str]:
        return [
            "-f",
            str(conf),
            "-i",
            str(self.dir / f"{name}.pid"),
            "-z",
            str(self.zapi_path),
            "--vty_socket",
            str(self.dir),
            "-P",
            "0",
            "--log",
            "stdout",
        ]

    def zebra_argv(self) -> list[str]:
        return [ZEBRA, *self._common_argv("zebra", self.zebra_conf_path)]

    def vrrpd_argv(self) -> list[str]:
        return [VRRPD, *self._common_argv("vrrpd", self.conf_path), "--log-level", "debug"]

    # --- life cycle ---------------------------------------------------------------------------------------------

    def _spawn(self, argv: list[str], log_path: Path) -> subprocess.Popen:
        with open(log_path, "a") as log:
            log.write(f"===== start: {' '.join(argv)}\n")
            log.flush()
            return self.host.popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def start(self, wait: bool = True) -> Frr:
        """Start zebra (unless it is still running), then vrrpd; with ``wait``, until every family left Initialize."""
        if self.running:
            raise RuntimeError(f"FRR on {self.host.name} is already running")
        self.setup_interfaces()
        self._write_files()
        # Leftovers of a crash: a stale socket would satisfy the readiness checks before the new daemon is up.
        for stale in ("vrrpd.pid", "vrrpd.vty"):
            (self.dir / stale).unlink(missing_ok=True)
        if self.zebra is None or self.zebra.poll() is not None:
            for stale in (self.zapi_path, self.dir / "zebra.pid", self.dir / "zebra.vty"):
                stale.unlink(missing_ok=True)
            self.zebra = self._spawn(self.zebra_argv(), self.zebra_log_path)
            wait_for(self._zebra_ready, 10, message=f"zebra on {self.host.name} never opened {self.zapi_path}")
        self.vrrpd = self._spawn(self.vrrpd_argv(), self.log_path)
        if wait:
            wait_for(
                self._started,
                10,
                message=f"FRR vrrpd on {self.host.name} never left Initialize:\n{self.log()[-3000:]}",
            )
        return self

    def _zebra_ready(self) -> bool:
        assert self.zebra is not None
        if self.zebra.poll() is not None:
            raise AssertionError(f"zebra on {self.host.name} exited {self.zebra.returncode}:\n{self.zebra_log()}")
        return self.zapi_path.exists() and (self.dir / "zebra.vty").exists()

    def _started(self) -> bool:
        assert self.vrrpd is not None
        if self.vrrpd.poll() is not None:
            raise AssertionError(f"FRR vrrpd on {self.host.name} exited {self.vrrpd.returncode}:\n{self.log()}")
        return all(self.state(f) in ("BACKUP", "MASTER") for f in self.families)

    @property
    def running(self) -> bool:
        return self.vrrpd is not None and self.vrrpd.poll() is None

    def stop(self, timeout: float = 10) -> int | None:
        """Graceful stop of vrrpd: SIGTERM, on which a Master sends priority 0 (vrrp_fini() -> vrrp_shutdown(),
        seen on the wire with FRR 8.4.4) and asks zebra for protodown on its macvlans.

        zebra keeps running (a later start() then only restarts vrrpd); ``stop_all`` stops it too. Either way the
        macvlans stay in protodown: zebra's exit clears its reason bits but leaves the kernel flag set.
        Returns vrrpd's exit code.
        """
        if self.vrrpd is None:
            return None
        return self.host.stop(self.vrrpd, signal.SIGTERM, timeout)

    def stop_all(self, timeout: float = 10) -> int | None:
        """stop(), then zebra. Returns vrrpd's exit code."""
        code = self.stop(timeout)
        if self.zebra is not None:
            self.host.stop(self.zebra, signal.SIGTERM, timeout)
        return code

    def shutdown_vr(self) -> None:
        """`vrrp N shutdown` through vtysh: a Master sends priority 0 and goes to Initialize (daemon keeps running)."""
        self.vtysh("conf t", f"interface {self.interface}", f"vrrp {self.vrid} shutdown")

    def crash(self) -> None:
        """SIGKILL vrrpd and zebra: no priority-0 advert, and the macvlan keeps its VIPs and protodown state."""
        for proc in (self.vrrpd, self.zebra):
            if proc is not None:
                self.host.kill(proc)

    # --- oracles ------------------------------------------------------------------------------------------------

    def vtysh(self, *commands: str, timeout: float = 5) -> str:
        argv = [VTYSH, "--vty_socket", str(self.dir)]
        for cmd in commands:
            argv += ["-c", cmd]
        return self.host.run(argv, timeout=timeout).stdout

    def show(self) -> dict[str, Any]:
        """This VRID's entry of `show vrrp json` (FRR's own view)."""
        data = json.loads(self.vtysh("show vrrp json"))
        for vr in data:
            if vr.get("vrid") == self.vrid:
                return vr
        raise KeyError(f"VRID {self.vrid} not in show vrrp json: {data}")

    def state(self, family: int | str = 4) -> str | None:
        """INITIALIZE / BACKUP / MASTER from `show vrrp json`, or None when vrrpd is not answering."""
        if not self.running:
            return None
        try:
            status = self.show()[_family_key(family)]["status"]
        except (subprocess.SubprocessError, KeyError, ValueError):
            return None
        return _STATES.get(status, status)

    def master_adver_interval(self, family: int | str = 4) -> float:
        """Seconds, as FRR learned it from the Master's adverts (its own interval while it is Master)."""
        return self.show()[_family_key(family)]["masterAdverInterval"] / 1000

    def stats(self, family: int | str = 4) -> dict[str, int]:
        return dict(self.show()[_family_key(family)]["stats"])

    def _link(self, name: str) -> dict[str, Any] | None:
        cp = self.host.run(["ip", "-j", "-d", "link", "show", "dev", name], check=False)
        if cp.returncode != 0:
            return None
        return json.loads(cp.stdout)[0]

    def protodown(self, family: int | str = 4) -> bool | None:
        link = self._link(self.macvlan(family))
        return None if link is None else bool(link.get("proto_down", False))

    def holds_vip(self, vip: str) -> bool:
        """The VIP is configured on its macvlan and the macvlan forwards (not protodown, admin up)."""
        fam = ipaddress.ip_interface(vip).version
        name = self.macvlan(fam)
        link = self._link(name)
        if link is None or link.get("proto_down", False) or "UP" not in link.get("flags", []):
            return False
        out = self.host.run(["ip", "-j", "addr", "show", "dev", name]).stdout
        infos = json.loads(out)[0].get("addr_info", [])
        return any(f"{i['local']}/{i['prefixlen']}" == vip for i in infos)

    def log(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.log_path.read_text(errors="replace")
        return ""

    def zebra_log(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return self.zebra_log_path.read_text(errors="replace")
        return ""

    def __repr__(self) -> str:
        return f"Frr({self.host.name}, vrid={self.vrid}, prio={self.priority})"
