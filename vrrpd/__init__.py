"""vrrpd: a pure-Python VRRPv3 (RFC 9568) daemon for Linux."""

__version__ = "0.1.0"
