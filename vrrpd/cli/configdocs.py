"""Each configuration key's description, read from the commented example (etc/vrrpd.yaml, "every key and its
default"): `describe()`, and `undocumented()`, the keys the checker accepts that the example does not describe.

A key's description is the comment block right above its line plus its inline comment (and the comment lines
continuing that one). A key line counts, commented out or not, only where the checker accepts that key
(vrrpd.config.keytree), with the indentation placing it: so prose such as ``#   weight: N  -253..253`` is never
taken for a key. Where one schema is used in several places (``notify`` under an instance and under a sync group,
the tracker lists, the ``defaults`` and an instance), a place the example does not describe takes the description
from where it does: the same keys mean the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from vrrpd.config.keytree import DEFAULTS, KEY_TREE, KeyPath, Schema, Shape, key_paths

_KEY = re.compile(r"^(?P<indent> *)(?P<dash>- +)?(?P<key>[a-z_][a-z0-9_]*):(?=\s|$)(?P<rest>.*)$")
_INLINE = re.compile(r"\s#(?: |$)(?P<text>.*)$")
_DATA = re.compile(r"^\s*(?:(?:- +)?[{\[].*[}\]]|- +[^\s:]+)\s*$")
"""A commented-out line of YAML data that is not a key: a flow collection, or a list item of one word."""


@dataclass(slots=True)
class _Frame:
    indent: int
    path: str
    schema: Schema | None
    """The keys that may appear below; None below a leaf."""
    named: bool = False
    """The keys below are names the user chooses (`Shape.NAMED`)."""


@dataclass(slots=True)
class Docs:
    by_path: dict[str, list[str]] = field(default_factory=dict)
    by_schema: dict[tuple[int, str], list[str]] = field(default_factory=dict)

    def get(self, key_path: KeyPath) -> list[str]:
        own = self.by_path.get(key_path.path)
        return own if own else self.by_schema.get((id(key_path.schema), key_path.key), [])


def _uncomment(line: str) -> tuple[str, str | None]:
    """The line as YAML would read it were its comment marker (and one space) removed, and the comment's text."""
    match = re.match(r"^(\s*(?:- +)?)# ?(.*)$", line)
    if not match:
        return line, None
    lead, text = match.groups()
    return lead + text, text


def _place(stack: list[_Frame], indent: int, key: str) -> tuple[int, _Frame] | None:
    """Where a key line at `indent` lands: how many frames stay, and the frame holding it; None if the checker
    accepts no such key there."""
    depth = len(stack)
    while depth > 1 and stack[depth - 1].indent >= indent:
        depth -= 1
    frame = stack[depth - 1]
    if frame.schema is None or not (frame.named or key in frame.schema.keys):
        return None
    return depth, frame


def describe(example: str, tree: Schema = KEY_TREE) -> Docs:
    """Every key line of the example and its description (lines of comment text, relative indentation kept)."""
    docs = Docs()
    stack = [_Frame(-1, "", tree)]
    pending: list[str] = []
    last: list[str] | None = None  # the description an inline-comment continuation line adds to
    for raw in example.splitlines():
        text, comment = _uncomment(raw)
        if not raw.strip():
            pending, last = [], None
            continue
        if comment is not None and comment.lstrip().startswith("#") and last is not None:
            last.append(comment.lstrip()[1:].strip())
            continue
        match = _KEY.match(text)
        placed = _place(stack, len(match["indent"]) + len(match["dash"] or ""), match["key"]) if match else None
        if match is None or placed is None:
            if comment is None:  # YAML data that is no key (a list item): what came above was about it
                pending = []
            elif not _DATA.match(comment):
                pending.append(comment)
            last = None
            continue
        depth, frame = placed
        del stack[depth:]
        indent, key = len(match["indent"]) + len(match["dash"] or ""), match["key"]
        if frame.named:  # a name (chk_web): its keys follow
            stack.append(_Frame(indent, frame.path + Shape.NAMED.value, frame.schema))
            pending, last = [], None
            continue
        assert frame.schema is not None
        path = f"{frame.path}.{key}" if frame.path else key
        inline = _INLINE.search(match["rest"])
        description = [*pending, *([inline["text"].strip()] if inline else [])]
        last = description if inline else None
        pending = []
        _record(docs, path, tree.nested["instances"][1] if frame.schema is DEFAULTS else frame.schema, key, description)
        shape, below = frame.schema.nested.get(key, (Shape.MAPPING, None))
        child = path + (shape.value if shape is Shape.LIST else "")
        stack.append(_Frame(indent, child, below, named=shape is Shape.NAMED))
    return docs


def _record(docs: Docs, path: str, schema: Schema, key: str, description: list[str]) -> None:
    """`schema` is the instance's for a key of `defaults`: either place documents both."""
    if description and not docs.by_path.get(path):
        docs.by_path[path] = description
    if description and not docs.by_schema.get((id(schema), key)):
        docs.by_schema[(id(schema), key)] = description


def undocumented(example: str, tree: Schema = KEY_TREE) -> list[str]:
    """The key paths the checker accepts (`tree`) that the example gives no description."""
    docs = describe(example, tree)
    return [p.path for p in key_paths(tree) if not any(line.strip() for line in docs.get(p))]
