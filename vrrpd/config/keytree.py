"""Every key the configuration accepts, as a tree of the checkers' own key tuples: `KEY_TREE`, `key_paths()`.

The checkers keep their key tuples beside the code that reads them (``checker.mapping(value, loc, KEYS)``); this
module only says where each tuple sits in the document, so documentation (the vrrpd.yaml(5) page, vrrpd.cli) and its
tests walk the same keys the checker accepts and cannot drift from it. tests/test_config_keytree.py holds every
``checker.mapping`` call of the package to a tuple of this tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum

from vrrpd.config.document import TOP_KEYS
from vrrpd.config.hooks import NOTIFY_KEYS
from vrrpd.config.instance import AUTH_KEYS, DEFAULTABLE_KEYS, GARP_KEYS, IDENTITY_KEYS, INSTANCE_KEYS
from vrrpd.config.metrics import METRICS_KEYS
from vrrpd.config.routes import ADDRESS_KEYS, ROUTE_KEYS, RULE_KEYS
from vrrpd.config.syncgroups import GROUP_KEYS
from vrrpd.config.track_files import FILE_KEYS, INIT_KEYS, ON_MISSING_KEYS
from vrrpd.config.tracking import SCRIPT_KEYS, TRACKER_KEYS
from vrrpd.protocol.tracking import TrackerKind


class Shape(Enum):
    """How a key holds the mapping below it; the value is what its path adds before the next key."""

    MAPPING = ""
    LIST = "[]"
    """A list of mappings (an address list also takes plain strings)."""
    NAMED = ".NAME"
    """A mapping from names the user chooses to mappings (`track_scripts`, `track_files`, `sync_groups`)."""


@dataclass(frozen=True, slots=True, eq=False)
class Schema:
    """The keys of one kind of mapping, and the schema of those that hold mappings themselves (compared by
    identity: a schema shared by two places, such as `NOTIFY`, is one object)."""

    keys: tuple[str, ...]
    nested: dict[str, tuple[Shape, Schema]] = field(default_factory=dict)


NOTIFY = Schema(NOTIFY_KEYS)
ADDRESS = Schema(ADDRESS_KEYS)
TRACKERS = {kind: Schema(keys) for kind, keys in TRACKER_KEYS.items()}
INSTANCE = Schema(
    INSTANCE_KEYS,
    {
        "virtual_addresses": (Shape.LIST, ADDRESS),
        "excluded_addresses": (Shape.LIST, ADDRESS),
        "authentication": (Shape.MAPPING, Schema(AUTH_KEYS)),
        "garp": (Shape.MAPPING, Schema(GARP_KEYS)),
        "track_scripts": (Shape.LIST, TRACKERS[TrackerKind.SCRIPT]),
        "track_interfaces": (Shape.LIST, TRACKERS[TrackerKind.INTERFACE]),
        "track_files": (Shape.LIST, TRACKERS[TrackerKind.FILE]),
        "notify": (Shape.MAPPING, NOTIFY),
        "routes": (Shape.LIST, Schema(ROUTE_KEYS)),
        "rules": (Shape.LIST, Schema(RULE_KEYS)),
    },
)
DEFAULTS = Schema(DEFAULTABLE_KEYS, {k: v for k, v in INSTANCE.nested.items() if k not in IDENTITY_KEYS})
"""Not walked by `key_paths`: ``defaults.K`` is ``instances[].K`` for every K but the identity keys."""
KEY_TREE = Schema(
    TOP_KEYS,
    {
        "defaults": (Shape.MAPPING, DEFAULTS),
        "track_scripts": (Shape.NAMED, Schema(SCRIPT_KEYS)),
        "track_files": (
            Shape.NAMED,
            Schema(
                FILE_KEYS,
                {"on_missing": (Shape.MAPPING, Schema(ON_MISSING_KEYS)), "init": (Shape.MAPPING, Schema(INIT_KEYS))},
            ),
        ),
        "instances": (Shape.LIST, INSTANCE),
        "metrics": (Shape.MAPPING, Schema(METRICS_KEYS)),
        "sync_groups": (
            Shape.NAMED,
            Schema(
                GROUP_KEYS,
                {
                    "track_scripts": INSTANCE.nested["track_scripts"],
                    "track_interfaces": INSTANCE.nested["track_interfaces"],
                    "notify": INSTANCE.nested["notify"],
                },
            ),
        ),
    },
)


@dataclass(frozen=True, slots=True)
class KeyPath:
    """One key where it may appear: ``instances[].garp.count`` is key ``count`` of the garp `Schema`."""

    path: str
    key: str
    schema: Schema


def key_paths(tree: Schema = KEY_TREE, skip: tuple[Schema, ...] = (DEFAULTS,)) -> Iterator[KeyPath]:
    """Every key path, depth first in the order the checker lists the keys."""
    yield from _walk(tree, "", skip)


def _walk(schema: Schema, prefix: str, skip: tuple[Schema, ...]) -> Iterator[KeyPath]:
    for key in schema.keys:
        path = f"{prefix}.{key}" if prefix else key
        yield KeyPath(path, key, schema)
        if key in schema.nested:
            shape, below = schema.nested[key]
            if not any(below is s for s in skip):
                yield from _walk(below, path + shape.value, skip)
