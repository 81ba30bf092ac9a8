"""What one virtual router is configured with (RFC 9568 §6.1, "Parameters Per Virtual Router") and what it counts.

Frozen, validated on construction (ValueError: a bug or a config error on our side, never a peer's), and shared by
the state machine (vrrpd.protocol.router), the sync groups and the config that builds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from vrrpd.protocol.constants import OWNER_PRIORITY
from vrrpd.protocol.packet import MAX_INTERVAL_CS, AuthType, Family, IPAddress


class AddressCheck(StrEnum):
    """What to do with an advert whose address list differs from ours (RFC 9568 §7.1: MAY check, SHOULD log)."""

    LOG = "log"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class RouterConfig:
    """Static parameters of one virtual router (RFC 9568 §6.1). Validated on construction (ValueError)."""

    vrid: int
    addresses: tuple[IPAddress, ...]
    priority: int = 100
    """Base priority: 255 = address owner, 1..254 otherwise."""
    advert_interval_cs: int = 100
    """Advertisement_Interval in centiseconds (VRRPv2: whole seconds, so a multiple of 100)."""
    preempt: bool = True
    preempt_delay: float = 0.0
    """Seconds after start-up, or after first seeing a lower-priority master, before preempting (keepalived)."""
    startup_delay: float = 0.0
    """Seconds after start-up before this router may become Master at all (slow links and bonds at boot);
    the owner waits too. Adverts heard meanwhile are processed as usual."""
    version: int = 3
    address_check: AddressCheck = AddressCheck.LOG
    advert_on_lower_priority: bool = True
    """RFC 9568 §6.4.3: a Master discarding a lower-priority advert sends one at once (RFC 5798: it did not)."""
    owner_ignores_adverts: bool = True
    """RFC 5798 §7.1: the owner discards all adverts (RFC 9568 erratum 8298 would only log)."""
    auth_type: AuthType = AuthType.NONE
    auth_data: bytes = b""
    """VRRPv2 simple password (at most 8 bytes)."""
    sync_group: str | None = None
    """The sync group this router belongs to: it then waits for the group instead of becoming Master itself."""

    def __post_init__(self) -> None:
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"vrid {self.vrid} outside 1..255")
        if not 1 <= self.priority <= OWNER_PRIORITY:
            raise ValueError(f"priority {self.priority} outside 1..255")
        if not self.addresses or len(self.addresses) > 255:
            raise ValueError("a virtual router needs 1..255 virtual addresses")
        if len({a.version for a in self.addresses}) != 1:
            raise ValueError("virtual addresses must all be IPv4 or all IPv6 (RFC 9568 §5.2.9)")
        if self.version not in (2, 3):
            raise ValueError(f"version {self.version} is not 2 or 3")
        if self.version == 2:
            if self.family is not Family.IPV4:
                raise ValueError("VRRPv2 is IPv4 only (RFC 3768)")
            if self.advert_interval_cs % 100 or not 100 <= self.advert_interval_cs <= 25500:
                raise ValueError("VRRPv2 advert interval must be whole seconds, 1..255")
            if len(self.auth_data) > 8:
                raise ValueError("VRRPv2 simple password is at most 8 bytes")
        elif not 1 <= self.advert_interval_cs <= MAX_INTERVAL_CS:
            raise ValueError(f"advert interval {self.advert_interval_cs} cs outside 1..{MAX_INTERVAL_CS}")
        if self.startup_delay < 0:
            raise ValueError("startup_delay must not be negative")
        if self.preempt_delay < 0:
            raise ValueError("preempt_delay must not be negative")

    @property
    def family(self) -> Family:
        return Family.of(self.addresses[0])

    @property
    def is_owner(self) -> bool:
        return self.priority == OWNER_PRIORITY


@dataclass(slots=True)
class Counters:
    adverts_sent: int = 0
    adverts_received: int = 0
    """Adverts handed to the router (before the router's own discards)."""
    priority_zero_sent: int = 0
    priority_zero_received: int = 0
    transitions: int = 0
    became_master: int = 0
    address_mismatches: int = 0
    message_only_checksums: int = 0
    """Adverts accepted with the RFC 9568 message-only IPv4 checksum (peers that differ from keepalived/FRR)."""
    lower_priority_received: int = 0
    """Adverts discarded for a lower priority (preempting Backup, or Master); normal during preemption."""
    owner_conflicts: int = 0
    """Adverts with priority 255 received while we are the address owner ourselves (RFC 9568 §8.3.2)."""
    drops: dict[str, int] = field(default_factory=dict)
    """Adverts ignored as invalid or not ours, by reason."""

    def drop(self, reason: str) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + 1
