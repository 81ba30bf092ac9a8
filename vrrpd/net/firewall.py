"""Accept_Mode (RFC 9568 §6.1) with nftables: a non-owner master that must not accept packets addressed to
its virtual addresses drops them in a table of our own, `table inet vrrpd`.

- The table is (re)created at start-up, replacing one a crashed run left behind, and deleted on exit. Nothing
  outside it is touched: other tables (firewalld, the administrator's) keep their own verdicts.
- Blocked addresses are elements of two sets; the rules never change. The daemon adds an address just
  before the VIP is added and removes it just after the VIP is removed, in the instance's ordered worker.
- What must still get through (§6.1, §6.4.3): ARP is not IP, so the `inet` family never sees it; IPv6
  Neighbor Solicitations and Advertisements addressed to a VIP (unicast NUD probes) are accepted explicitly.
- `nft` runs as an asyncio subprocess, never blocking the loop. When it is missing or fails, the daemon logs
  a clear warning and carries on without the drop (the VIP then answers, as with accept_mode: true).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Iterable
from ipaddress import IPv4Address

from vrrpd.protocol.packet import IPAddress

log = logging.getLogger("vrrpd")

TABLE = "vrrpd"
SET4 = "no_accept4"
SET6 = "no_accept6"
_TIMEOUT = 10.0

RULESET = f"""\
table inet {TABLE} {{}}
delete table inet {TABLE}
table inet {TABLE} {{
    comment "vrrpd: Accept_Mode false (RFC 9568 6.1); managed by vrrpd, deleted when it stops"
    set {SET4} {{ type ipv4_addr; }}
    set {SET6} {{ type ipv6_addr; }}
    chain input {{
        type filter hook input priority filter - 1; policy accept;
        ip daddr @{SET4} counter drop
        ip6 daddr @{SET6} icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept
        ip6 daddr @{SET6} counter drop
    }}
}}
"""


class FirewallError(Exception):
    pass


class Firewall:
    """The `inet vrrpd` table. `enabled` is False until `start()` succeeded (or when nft is missing)."""

    def __init__(self, nft: str = "nft") -> None:
        self.nft = nft
        self.enabled = False
        self.reason: str | None = None
        """Why the firewall is not enabled, for status."""
        self.blocked: set[IPAddress] = set()

    async def _run(self, script: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.nft,
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(script.encode()), _TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise FirewallError(f"nft did not finish within {_TIMEOUT:g} s") from None
        if proc.returncode != 0:
            raise FirewallError(err.decode(errors="replace").strip()[:500] or f"nft exited {proc.returncode}")

    async def start(self) -> bool:
        path = shutil.which(self.nft)
        if path is None:
            self.reason = "nft not found"
            log.warning(
                "nft not found: accept_mode: false cannot be enforced, so a non-owner master will accept "
                "packets addressed to its virtual addresses (install nftables, or set accept_mode: true)"
            )
            return False
        self.nft = path
        try:
            await self._run(RULESET)
        except (OSError, FirewallError) as exc:
            self.reason = f"cannot create table inet {TABLE}: {exc}"
            log.warning("%s; accept_mode: false is not enforced", self.reason)
            return False
        self.enabled, self.reason = True, None
        return True

    async def remove_stale(self) -> None:
        """Delete a table a crashed run left behind, when this configuration needs none. Quiet without nft."""
        path = shutil.which(self.nft)
        if path is not None:
            with contextlib.suppress(OSError, FirewallError):
                await self._run(f"table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")

    async def block(self, addresses: Iterable[IPAddress]) -> None:
        new = [a for a in addresses if a not in self.blocked]
        if self.enabled and new:
            await self._run(elements("add", new))
            self.blocked.update(new)

    async def unblock(self, addresses: Iterable[IPAddress]) -> None:
        # Only what we added: `delete element` of an absent element is an error (nft < 1.0.8 has no `destroy`).
        present = [a for a in addresses if a in self.blocked]
        if self.enabled and present:
            self.blocked.difference_update(present)
            await self._run(elements("delete", present))

    async def close(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        self.blocked.clear()
        try:
            await self._run(f"delete table inet {TABLE}\n")
        except (OSError, FirewallError) as exc:
            log.error("cannot delete table inet %s: %s", TABLE, exc)

    def status(self) -> dict[str, object]:
        return {
            "table": f"inet {TABLE}",
            "enabled": self.enabled,
            "reason": self.reason,
            "blocked": sorted(map(str, self.blocked), key=lambda a: (":" in a, a)),
        }


def elements(verb: str, addresses: list[IPAddress]) -> str:
    """The nft script that adds or deletes (`verb`) `addresses` in the sets of their families."""
    lines = []
    for name, family in ((SET4, True), (SET6, False)):
        chosen = [str(a) for a in addresses if isinstance(a, IPv4Address) == family]
        if chosen:
            lines.append(f"{verb} element inet {TABLE} {name} {{ {', '.join(chosen)} }}")
    return "\n".join(lines) + "\n"
