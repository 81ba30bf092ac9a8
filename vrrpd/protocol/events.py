"""Inputs (what happened, past tense) and actions (what to do, imperative) of the VRRP state machine."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from vrrpd.protocol.packet import Advert, ChecksumForm, IPAddress
from vrrpd.protocol.parameters import RouterConfig


class State(StrEnum):
    INITIALIZE = "INITIALIZE"
    BACKUP = "BACKUP"
    MASTER = "MASTER"
    FAULT = "FAULT"


# --- inputs -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Started:
    """The router was started (RFC 9568 §6.4.1 Startup event)."""


@dataclass(frozen=True, slots=True)
class ShutdownRequested:
    """The router is being stopped (RFC 9568 §6.4.2/§6.4.3 Shutdown event)."""


@dataclass(frozen=True, slots=True)
class AdvertReceived:
    """A decoded advert for this router's VRID that passed the IP-level checks (TTL, own address)."""

    src: IPAddress
    """IP source: the sender's primary address (IPv6: link-local)."""
    advert: Advert
    checksum_form: ChecksumForm | None = None


@dataclass(frozen=True, slots=True)
class TimerExpired:
    """`now` reached `next_deadline()`."""


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    """Tracking moved the effective priority (already clamped to 1..254 by the caller for non-owners)."""

    priority: int


@dataclass(frozen=True, slots=True)
class Faulted:
    """The router can no longer serve (interface down, failed track with on_failure: fault)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Recovered:
    """All fault conditions cleared."""


@dataclass(frozen=True, slots=True)
class GroupMaster:
    """The router's sync group makes it Master together with the other members (vrrpd.protocol.syncgroup)."""

    reason: str


@dataclass(frozen=True, slots=True)
class GroupBackup:
    """The router's sync group takes it out of Master: another member left Master, faulted, or the group's own
    trackers failed. It leaves as a shutting-down Master would (priority 0, RFC 9568 §6.4.3) and waits as Backup."""

    reason: str
    hold: float = 0.0
    """Seconds added to its Master_Down timer: the group's tie-break when two groups each won one member."""


class Drain(StrEnum):
    """How a router is drained (`vrrpctl drain`, the operator taking it out of service for maintenance)."""

    HARD = "hard"
    """Never Master: a Master hands over at once (priority 0, as at shutdown, RFC 9568 §6.4.3) and stays Backup."""
    SOFT = "soft"
    """Stands for election with priority 1: every other router wins, and it serves only while none is heard."""


@dataclass(frozen=True, slots=True)
class Drained:
    """The operator drained the router (or changed how): see `Drain` and vrrpd.protocol.drain. Never an address
    owner's (priority 255): it owns the addresses, there is nobody to hand them to (RFC 9568 §5.2.4)."""

    mode: Drain


@dataclass(frozen=True, slots=True)
class Resumed:
    """The operator ended the router's drain: it stands with its effective priority again (and preempts, if it
    does, as usual)."""


@dataclass(frozen=True, slots=True)
class Reconfigured:
    """A configuration reload changed this router's parameters in place. Its VRID, family, version, owner status
    and sync group stay (changing one of those makes a new router); its state and timers stay too. The effective
    priority still arrives as `PriorityChanged` (the caller's tracking owns it)."""

    config: RouterConfig


Input = (
    Started
    | ShutdownRequested
    | AdvertReceived
    | TimerExpired
    | PriorityChanged
    | Faulted
    | Recovered
    | GroupMaster
    | GroupBackup
    | Reconfigured
    | Drained
    | Resumed
)


# --- actions ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendAdvert:
    advert: Advert


@dataclass(frozen=True, slots=True)
class AddAddresses:
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class RemoveAddresses:
    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class UpdateAddresses:
    """A Master's address list changed (a reload): remove `removed` and add `added` while it stays Master, its
    virtual MAC (if any) up. `Announce` follows for the added ones."""

    added: tuple[IPAddress, ...]
    removed: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class Announce:
    """Send gratuitous ARP (IPv4) or unsolicited NA (IPv6) for these addresses."""

    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    reason: str


@dataclass(frozen=True, slots=True)
class Log:
    """Something an operator should see. `key` groups repeats for rate limiting."""

    level: str
    key: str
    message: str


Action = SendAdvert | AddAddresses | RemoveAddresses | UpdateAddresses | Announce | StateChanged | Log
