"""YAML that remembers where each value came from, so every message can name its line.

`load_yaml()` reads YAML 1.1 with PyYAML's safe loader (no arbitrary objects), except that mappings become `Map`
and sequences `Seq`: the plain dict and list plus the line of each value and the source text of each scalar
(so a message can quote ``on`` rather than ``True``). A key given twice is recorded rather than silently
collapsed to the last one, as PyYAML would.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.nodes import ScalarNode

from vrrpd.config.errors import ConfigError

_MERGE_TAG = "tag:yaml.org,2002:merge"


class Map(dict[Any, Any]):
    """A YAML mapping that remembers where it, and each of its values, came from."""

    line: int
    value_lines: dict[Any, int]
    raw: dict[Any, str | None]
    """Each value's source text if it is a scalar, else None."""
    duplicates: list[tuple[Any, int]]
    """Keys written more than once (explicitly, not through a ``<<:`` merge) and the line of the repeat."""


class Seq(list[Any]):
    """A YAML sequence that remembers where it, and each of its items, came from."""

    line: int
    item_lines: list[int]
    raw: list[str | None]


def load_yaml(text: str, filename: str) -> Any:
    """The document as `Map`/`Seq`/scalars; None for an empty one. Malformed YAML is a `ConfigError`."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader derives from SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = f"{e.problem} ({e.context})" if e.context and e.problem else e.problem or e.context
        raise ConfigError(filename, "", line, f"invalid YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise ConfigError(filename, "", None, f"invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(filename, "", None, "the document is nested too deeply") from None


class _UnhashableKey:
    """Stands in for a list/mapping used as a key, so the checker can name it instead of crashing."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _Loader(yaml.SafeLoader):
    pass


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _raw(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Map:
    explicit = sum(1 for k, _ in node.value if k.tag != _MERGE_TAG)
    loader.flatten_mapping(node)  # resolves `<<: *anchor`; merged pairs come first, explicit ones last
    result = Map()
    result.line, result.value_lines, result.raw, result.duplicates = _line(node), {}, {}, []
    seen_explicit: set[Any] = set()
    first_explicit = len(node.value) - explicit
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            key = _UnhashableKey(str(key))
        if index >= first_explicit:
            if key in seen_explicit:
                result.duplicates.append((key, _line(key_node)))
            seen_explicit.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.value_lines[key] = _line(value_node)
        result.raw[key] = _raw(value_node)
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    result = Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = _line(node)
    result.item_lines = [_line(child) for child in node.value]
    result.raw = [_raw(child) for child in node.value]
    return result


def _with_mark(construct: Callable[[yaml.SafeLoader, ScalarNode], Any]) -> Callable[[_Loader, ScalarNode], Any]:
    # SafeLoader builds timestamps with datetime() and ints with int(), which raise a bare ValueError
    # (2024-02-30, an int of 5000 digits); a mark makes the error name the line like any other.
    def checked(loader: _Loader, node: ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except ValueError as e:
            problem = f"{node.value[:40]!r} is not a valid value ({e})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    return checked


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
for _tag, _construct in (
    ("tag:yaml.org,2002:int", yaml.SafeLoader.construct_yaml_int),
    ("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_float),
    ("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_timestamp),
):
    _Loader.add_constructor(_tag, _with_mark(_construct))
