"""YAML configuration -> frozen, validated dataclasses (vrrpd.config.document has the rules)."""

from vrrpd.config.document import (
    AcceptChecksum,
    Authentication,
    Config,
    ConfigError,
    GarpConfig,
    InstanceConfig,
    ScriptConfig,
    VirtualAddress,
    load_config,
    parse_config,
)

__all__ = [
    "AcceptChecksum",
    "Authentication",
    "Config",
    "ConfigError",
    "GarpConfig",
    "InstanceConfig",
    "ScriptConfig",
    "VirtualAddress",
    "load_config",
    "parse_config",
]
