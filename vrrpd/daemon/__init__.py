"""The daemon: config, protocol core and adapters on one asyncio loop (vrrpd.daemon.daemon composes the rest)."""

from vrrpd.daemon.assembly import StartupError
from vrrpd.daemon.daemon import Daemon
from vrrpd.daemon.model import Instance, Link, Openers

__all__ = ["Daemon", "Instance", "Link", "Openers", "StartupError"]
