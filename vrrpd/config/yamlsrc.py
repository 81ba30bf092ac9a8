"""YAML that remembers where each value came from, so every message can name its line.

`load_yaml()` reads YAML 1.1 with PyYAML's safe constructor (no arbitrary objects; libyaml parses when PyYAML
has it, as the wheels and Debian's python3-yaml do), except that mappings become `Map`
and sequences `Seq`: the plain dict and list plus the line of each value and the source text of each scalar
(so a message can quote ``on`` rather than ``True``). A key given twice is recorded rather than silently
collapsed to the last one, as PyYAML would.

Hostile files end in a `ConfigError` too, in time and memory proportional to the file (which
vrrpd.config.document caps in size): at most `MAX_NODES` values, and aliases that expand to at most
`MAX_ALIASED` values in all (a "billion laughs" of nine nested aliases is 700 bytes); an alias may not refer to
the value it is part of; a number too long to convert, a date that does not exist or nesting deeper than Python's
stack (or libyaml's limit) are errors, naming their line where there is one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from vrrpd.config.errors import ConfigError, clip

_MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_NODES = 200_000
"""Values (scalars, lists, mappings) written in one file: a file of 4095 instances written out in block style,
two addresses, a tracker and two hooks each, has about 131,000. 200,000 values take about 1.2 s of CPU."""
_SMALL_KEY = 20
"""Values in a list or mapping used as a key (an error) that a message still writes out."""
MAX_ALIASED = 100_000
"""Values that aliases stand for, in all: 4095 instances each merging (``<<: *common``) ten keys is 82,000."""


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
        return yaml.load(text, Loader=_Loader)  # _Loader's constructor is SafeConstructor: no arbitrary objects
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        problem = f"{e.problem} ({e.context})" if e.context and e.problem else e.problem or e.context
        prefix = "" if isinstance(e, _TooLarge) else "invalid YAML: "
        raise ConfigError(filename, "", line, f"{prefix}{problem}") from None
    except yaml.reader.ReaderError as e:
        before = text.encode("utf-8", "surrogatepass")[: e.position] if _OFFSETS_IN_BYTES else text[: e.position]
        line = before.count(b"\n" if isinstance(before, bytes) else "\n") + 1
        problem = f"invalid YAML: character {_character(e.character)} is not allowed"
        raise ConfigError(filename, "", line, problem) from None
    except yaml.YAMLError as e:
        raise ConfigError(filename, "", None, f"invalid YAML: {e}") from None
    except RecursionError:
        raise ConfigError(filename, "", None, "the document is nested too deeply") from None
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
        # PyYAML failing inside on input no test has found yet: still one sentence, never a traceback.
        problem = f"invalid YAML: cannot be read ({type(e).__name__}: {clip(str(e), quoted=False)})"
        raise ConfigError(filename, "", None, problem) from None


def _character(character: int | str) -> str:
    # PyYAML's Reader reports a code point (an int) when the text is str, a byte (str) when it is bytes.
    return repr(chr(character) if isinstance(character, int) else character)


class _UnhashableKey:
    """Stands in for a list/mapping used as a key, so the checker can name it instead of crashing."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class _TooLarge(yaml.composer.ComposerError):
    """Valid YAML that stands for more than vrrpd reads."""


if yaml.__with_libyaml__:

    class _LibyamlLoader(
        yaml.composer.Composer, yaml.cyaml.CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        """libyaml scans and parses (six times faster than PyYAML's Python scanner: a dense 1 MB file in 0.3 s of
        CPU instead of 2 s, and a nesting limit of its own); composing stays in Python, in `_Loader`, where aliases
        are counted, and so does constructing."""

        def __init__(self, stream: str) -> None:
            yaml.cyaml.CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _Base: type = _LibyamlLoader
    _OFFSETS_IN_BYTES = True  # libyaml reads the text as UTF-8: a ReaderError's position counts bytes
else:  # pragma: no cover - PyYAML built without libyaml
    _Base = yaml.SafeLoader
    _OFFSETS_IN_BYTES = False


class _Loader(_Base):  # both bases are SafeLoader's constructor: no arbitrary objects
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.nodes = 0
        self.aliased = 0
        self.sizes: dict[int, int] = {}
        """By id() of each node composed: how many values it stands for with the aliases in it expanded."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Composing is linear in the text (an alias is a reference to its anchor's node), but what is built from
        # the nodes and every walk over the result are linear in the *expanded* document; so the expansion is
        # counted here, where each alias still has its line.
        if self.check_event(AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            size = self.sizes.get(id(node))
            if size is None:
                problem = "this alias refers to the value it is part of"
                raise yaml.composer.ComposerError(None, None, problem, mark)
            self.aliased += size
            if self.aliased > MAX_ALIASED:
                problem = f"aliases stand for more than {MAX_ALIASED:,} values in all (this one for {size:,})"
                raise _TooLarge(None, None, problem, mark)
            return node
        self.nodes += 1
        if self.nodes > MAX_NODES:
            problem = f"the file holds more than {MAX_NODES:,} values"
            raise _TooLarge(None, None, problem, self.peek_event().start_mark)
        node = super().compose_node(parent, index)
        if isinstance(node, SequenceNode):
            size = 1 + sum(self.sizes[id(child)] for child in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(self.sizes[id(key)] + self.sizes[id(value)] for key, value in node.value)
        else:
            size = 1
        self.sizes[id(node)] = size
        return node


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _raw(node: yaml.Node) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def _expect(node: yaml.Node, kind: type[yaml.Node], what: str) -> None:
    # An explicit tag can put any node under our constructors (`!!seq .nan`, `!!map [1]`).
    if not isinstance(node, kind):
        problem = f"the tag {node.tag.rpartition(':')[2]} needs {what}"
        raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark)


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Map:
    _expect(node, MappingNode, "a mapping")
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
            # str() only of a small key: one made of aliases can stand for a hundred thousand values.
            small = loader.sizes.get(id(key_node), _SMALL_KEY + 1) <= _SMALL_KEY
            key = _UnhashableKey(str(key) if small else "a mapping" if isinstance(key, dict) else "a list")
        if index >= first_explicit:
            if key in seen_explicit:
                result.duplicates.append((key, _line(key_node)))
            seen_explicit.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.value_lines[key] = _line(value_node)
        result.raw[key] = _raw(value_node)
    return result


def _construct_seq(loader: _Loader, node: yaml.SequenceNode) -> Seq:
    _expect(node, SequenceNode, "a list")
    result = Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = _line(node)
    result.item_lines = [_line(child) for child in node.value]
    result.raw = [_raw(child) for child in node.value]
    return result


def _with_mark(construct: Callable[[yaml.SafeLoader, ScalarNode], Any]) -> Callable[[_Loader, ScalarNode], Any]:
    # SafeLoader builds timestamps with datetime(), ints with int() and floats with float(), which raise a bare
    # ValueError or OverflowError (2024-02-30, an int of 5000 digits, 1:59:59:...:59.5), and an explicit tag on a
    # value that does not match it (`!!timestamp x`, `!!bool x`) fails inside PyYAML with AttributeError or KeyError;
    # a mark makes each error name the line like any other.
    def checked(loader: _Loader, node: ScalarNode) -> Any:
        try:
            return construct(loader, node)
        except (ValueError, OverflowError, AttributeError, KeyError, IndexError) as e:
            if node.tag.endswith(":int") and len(node.value) > sys.get_int_max_str_digits():
                why = f"Python reads at most {sys.get_int_max_str_digits()} digits"
            elif isinstance(e, AttributeError | KeyError | IndexError):
                why = f"not a {node.tag.rpartition(':')[2]}"
            else:
                why = clip(str(e), quoted=False)
            problem = f"{clip(node.value)} is not a valid value ({why})"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    return checked


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
for _tag, _construct in (
    ("tag:yaml.org,2002:int", yaml.SafeLoader.construct_yaml_int),
    ("tag:yaml.org,2002:float", yaml.SafeLoader.construct_yaml_float),
    ("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_timestamp),
    ("tag:yaml.org,2002:bool", yaml.SafeLoader.construct_yaml_bool),
):
    _Loader.add_constructor(_tag, _with_mark(_construct))
