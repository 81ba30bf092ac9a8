"""The virtual router MAC (RFC 9568 §7.3) and the name of the macvlan that carries it.

Pure helpers: the daemon creates the macvlan through `AddressManager.add_macvlan` and the sysctls through
`vrrpd.net.sysctl`. Why a macvlan, in bridge mode, with addrgenmode random: docs/interop.md §3 (FRR's
rules) and the module docstring of vrrpd.daemon.vmac (what a Backup does with it).
"""

from __future__ import annotations

from vrrpd.protocol.packet import Family

IFNAMSIZ = 16


def virtual_mac(family: Family, vrid: int) -> str:
    """00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6 (RFC 9568 §7.3)."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"vrid {vrid} outside 1..255")
    return f"00:00:5e:00:{1 if family is Family.IPV4 else 2:02x}:{vrid:02x}"


def macvlan_name(family: Family, vrid: int, parent_index: int | None = None) -> str:
    """`vrrp4-51` / `vrrp6-51`; with `parent_index` (the same VRID and family use a virtual MAC on several
    interfaces of this host), `v4-<ifindex in hex>-51`, which still fits IFNAMSIZ for any ifindex."""
    digit = 4 if family is Family.IPV4 else 6
    name = f"vrrp{digit}-{vrid}" if parent_index is None else f"v{digit}-{parent_index:x}-{vrid}"
    if len(name) >= IFNAMSIZ:  # cannot happen for vrid <= 255 and a 32-bit ifindex; guards the formula
        raise ValueError(f"macvlan name {name!r} is longer than {IFNAMSIZ - 1} characters")
    return name
