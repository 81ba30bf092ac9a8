"""Numbers of the protocol that several layers share (RFC 9568 and keepalived's tracking bounds)."""

OWNER_PRIORITY = 255
"""The address owner's priority (RFC 9568 §5.2.4): it owns the addresses and always takes over at once."""
VRRP_TTL = 255
"""TTL / hop limit of every multicast advert, and the only one accepted (RFC 9568 §5.1.1.3, §7.1)."""
MIN_PRIORITY = 1
"""Lowest priority tracking can leave a non-owner with (0 only ever means "master is leaving")."""
MAX_PRIORITY = 254
"""Highest priority tracking can give a non-owner (255 belongs to the owner alone)."""
MAX_WEIGHT = 253
"""|weight| limit, as keepalived: base 1 + 253 = 254, base 254 - 253 = 1."""
