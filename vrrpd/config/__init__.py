"""YAML configuration -> frozen, validated dataclasses (vrrpd.config.document has the rules)."""

from vrrpd.config.checker import VirtualAddress
from vrrpd.config.document import Config, load_config, parse_config
from vrrpd.config.errors import ConfigError, NoInstancesError
from vrrpd.config.instance import AcceptChecksum, Authentication, GarpConfig, InstanceConfig
from vrrpd.config.tracking import ScriptConfig

__all__ = [
    "AcceptChecksum",
    "Authentication",
    "Config",
    "ConfigError",
    "GarpConfig",
    "InstanceConfig",
    "NoInstancesError",
    "ScriptConfig",
    "VirtualAddress",
    "load_config",
    "parse_config",
]
