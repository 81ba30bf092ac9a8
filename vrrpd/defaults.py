"""Where vrrpd looks by default. Imports nothing, so `vrrpctl` gets a socket path without loading the config code."""

from pathlib import Path

DEFAULT_CONFIG_PATH = Path("/etc/vrrpd/vrrpd.yaml")
DEFAULT_CONTROL_SOCKET = Path("/run/vrrpd/vrrpd.sock")
DEFAULT_STATE_DIRECTORY = Path("/var/lib/vrrpd")
"""Where vrrpd keeps what must survive a restart (the drained instances), unless $STATE_DIRECTORY says otherwise:
systemd sets it from the unit's StateDirectory=vrrpd (to this very path)."""
