"""Where vrrpd looks by default. Imports nothing, so `vrrpctl` gets a socket path without loading the config code."""

from pathlib import Path

DEFAULT_CONFIG_PATH = Path("/etc/vrrpd/vrrpd.yaml")
DEFAULT_CONTROL_SOCKET = Path("/run/vrrpd/vrrpd.sock")
