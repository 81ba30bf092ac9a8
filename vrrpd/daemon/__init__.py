"""The daemon: config, protocol core and adapters on one asyncio loop (vrrpd.daemon.daemon)."""

from vrrpd.daemon.daemon import Daemon, Instance, Link, StartupError

__all__ = ["Daemon", "Instance", "Link", "StartupError"]
