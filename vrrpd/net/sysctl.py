"""Per-interface sysctls the virtual MAC set-up needs, written through /proc/sys and restored on exit.

Writing a /proc/sys file is one short syscall; it happens at start-up and shutdown only, never on the
packet or timer path. The original values are also kept in a small JSON file, so a restart after a crash
(kill -9 leaves our values behind) still restores what the administrator had, not what we wrote.

/proc/sys/net resolves in the network namespace of the calling process, like netlink.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("vrrpd")

PROC_SYS = Path("/proc/sys")


def conf_key(family: int, ifname: str, name: str) -> str:
    """'net/ipv4/conf/eth0/arp_ignore'. Slashes, not dots: an interface name may contain a dot (eth0.100)."""
    return f"net/ipv{family}/conf/{ifname}/{name}"


class Sysctls:
    """Sets sysctls, remembering each original value once, and puts them back with `restore()`."""

    def __init__(self, state_file: Path | None, root: Path = PROC_SYS) -> None:
        self.root = root
        self.state_file = state_file
        self.originals: dict[str, str] = {}
        """key -> the value before vrrpd first changed it (possibly in a run that crashed)."""
        self.current: dict[str, str] = {}
        """key -> the value we set."""
        if state_file is not None:
            try:
                self.originals = {str(k): str(v) for k, v in json.loads(state_file.read_text()).items()}
            except FileNotFoundError:
                pass
            except (OSError, ValueError, AttributeError) as exc:
                log.warning("ignoring unreadable sysctl state %s: %s", state_file, exc)
            else:
                if self.originals:
                    log.warning(
                        "a previous run did not restore %s (crash?); restoring them on exit",
                        ", ".join(f"{k.replace('/', '.')}={v}" for k, v in self.originals.items()),
                    )

    def read(self, key: str) -> str:
        return (self.root / key).read_text().strip()

    def write(self, key: str, value: int | str) -> None:
        """Write without remembering (for our own interfaces, which disappear with their settings)."""
        (self.root / key).write_text(f"{value}\n")

    def ensure_at_least(self, key: str, value: int) -> None:
        """Raise an integer sysctl to `value` unless it already is at least that; restore it on exit."""
        old = self.read(key)
        if int(old) >= value:
            return
        self.originals.setdefault(key, old)
        self._save()
        self.write(key, value)
        self.current[key] = str(value)
        log.info("sysctl %s: %s -> %s (restored on exit)", key.replace("/", "."), old, value)

    def restore(self) -> None:
        """Put every original value back (also those a crashed run left), then forget them. Never raises."""
        failed: dict[str, str] = {}
        for key, value in self.originals.items():
            try:
                self.write(key, value)
            except FileNotFoundError:
                pass  # the interface is gone, and with it the setting
            except OSError as exc:
                failed[key] = value
                log.error("cannot restore sysctl %s to %s: %s", key.replace("/", "."), value, exc)
        self.originals, self.current = failed, {}
        self._save()

    def status(self) -> dict[str, dict[str, str]]:
        return {k.replace("/", "."): {"set": v, "original": self.originals.get(k, "")} for k, v in self.current.items()}

    def _save(self) -> None:
        if self.state_file is None:
            return
        try:
            if self.originals:
                tmp = self.state_file.with_name(self.state_file.name + ".tmp")
                tmp.write_text(json.dumps(self.originals))
                os.replace(tmp, self.state_file)
            else:
                self.state_file.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("cannot record sysctl originals in %s: %s", self.state_file, exc)
