"""keepalived.conf syntax -> a tree of `Statement`s that remember their file and line.

What keepalived's parser (lib/parser.c) does and this one copies:
- A line is a keyword and its arguments; `{` opens a block for the statement it follows (on the same line or
  alone on the next line) and `}` closes it; `virtual_ipaddress { 203.0.113.1/24 }` fits on one line.
- `#` and `!` start a comment anywhere outside double quotes, even inside a word (`priority 1#0` is 1).
- Double quotes make one argument of text with spaces, braces or comment characters; `\\"` and `\\\\` escape.
- `include GLOB...` anywhere, relative to the including file's directory, matches in sorted order.
- `@ID line` / `@^ID line` (a space or a tab after ID): kept only when ID is (is not) the config id, which
  defaults to the short hostname as in keepalived (`-i`).
- `$NAME=value` defines a parameter; `$NAME` and `${NAME}` are replaced on later lines.

Multi-line parameter definitions (a trailing `\\`) and `~SEQ` are refused as `SyntaxProblem`s, like an
unbalanced brace or a file that cannot be read: the importer cannot know what keepalived would have read.
"""

from __future__ import annotations

import glob
import os
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path

_MAX_INCLUDE_DEPTH = 16
_PARAM_DEF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)")
_CONDITIONAL = re.compile(r"@(\^?)([^ \t]*)[ \t]+(.*)", re.DOTALL)
"""`@ID line` / `@^ID line`: the ID ends at a space or a tab."""
_PARAM_USE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class SyntaxProblem(Exception):
    """The file cannot be parsed. `str()` is one line: ``FILE:LINE: PROBLEM``."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        super().__init__(f"{file}:{line}: {problem}" if line is not None else f"{file}: {problem}")
        self.file = file
        self.line = line
        self.problem = problem


@dataclass
class Statement:
    """One keyword with its arguments and, if it opened one, its block."""

    keyword: str
    args: list[str]
    file: str
    line: int
    block: list[Statement] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class _Token:
    text: str
    quoted: bool

    @property
    def brace(self) -> str | None:
        return self.text if not self.quoted and self.text in ("{", "}") else None


@dataclass
class _Line:
    tokens: list[_Token]
    file: str
    number: int


@dataclass
class _Reader:
    config_id: str
    params: dict[str, str] = field(default_factory=dict)
    lines: list[_Line] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Every file read, in order (the top file first)."""
    warnings: list[tuple[str, int, str]] = field(default_factory=list)
    """(file, line, text) for includes that matched nothing, which keepalived only logs."""

    def read(self, path: str, depth: int, at: tuple[str, int] | None) -> None:
        if depth > _MAX_INCLUDE_DEPTH:
            assert at is not None
            raise SyntaxProblem(*at, f"includes nest deeper than {_MAX_INCLUDE_DEPTH} (an include loop?)")
        try:
            text = Path(path).read_text(encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            problem = f"cannot read {path}: {e.strerror or e}"
            raise (SyntaxProblem(*at, problem) if at else SyntaxProblem(path, None, problem)) from None
        self.files.append(path)
        for number, raw in enumerate(text.splitlines(), start=1):
            self.line(path, number, raw, depth)

    def line(self, path: str, number: int, raw: str, depth: int) -> None:
        text = raw.strip()
        if text.startswith("@"):
            # keepalived ends the ID at the first space or tab (lib/parser.c, read_line); a line with nothing
            # after the ID is dropped
            conditional = _CONDITIONAL.match(text)
            if conditional is None:
                return
            negate, wanted, rest = conditional.groups()
            if (wanted == self.config_id) == bool(negate):
                return
            text = rest.strip()
        if text.startswith("$"):
            definition = _PARAM_DEF.fullmatch(text)
            if definition:
                if definition.group(2).endswith("\\"):
                    raise SyntaxProblem(path, number, "multi-line $parameter definitions are not supported")
                self.params[definition.group(1)] = definition.group(2).strip()
                return
        if self.params and "$" in text:
            text = _PARAM_USE.sub(lambda m: self.params.get(m.group(1) or m.group(2), m.group(0)), text)
        tokens = _tokenize(text, path, number)
        if not tokens:
            return
        if tokens[0].text.startswith("~SEQ") and not tokens[0].quoted:
            raise SyntaxProblem(path, number, "~SEQ(...) lines are not supported; expand them by hand")
        if tokens[0].text == "include" and not tokens[0].quoted:
            self.include(path, number, tokens[1:], depth)
            return
        self.lines.append(_Line(tokens, path, number))

    def include(self, path: str, number: int, args: list[_Token], depth: int) -> None:
        if not args:
            raise SyntaxProblem(path, number, "include needs a file name or glob pattern")
        base = os.path.dirname(path)
        for arg in args:
            pattern = arg.text if os.path.isabs(arg.text) else os.path.join(base, arg.text)
            matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
            if not matches:
                self.warnings.append((path, number, f"include {arg.text}: no file matches; nothing was read"))
            for match in matches:
                self.read(match, depth + 1, (path, number))


def _tokenize(text: str, path: str, number: int) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c in "#!":
            break
        elif c in "{}":
            tokens.append(_Token(c, quoted=False))
            i += 1
        elif c == '"':
            chars: list[str] = []
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= n:
                raise SyntaxProblem(path, number, "unterminated double-quoted string")
            tokens.append(_Token("".join(chars), quoted=True))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in '{}#!"':
                i += 1
            tokens.append(_Token(text[start:i], quoted=False))
    return tokens


def _build(lines: list[_Line], top: str) -> list[Statement]:
    root: list[Statement] = []
    stack: list[tuple[list[Statement], Statement | None]] = [(root, None)]
    pending: Statement | None = None  # a statement whose block may open on the next line
    for line in lines:
        current: Statement | None = None
        for token in line.tokens:
            target = current if current is not None else pending
            pending = None
            if token.brace == "{":
                if target is None or target.block is not None:
                    raise SyntaxProblem(line.file, line.number, "'{' does not follow a keyword")
                target.block = []
                stack.append((target.block, target))
                current = None
            elif token.brace == "}":
                if len(stack) == 1:
                    raise SyntaxProblem(line.file, line.number, "'}' without a block to close")
                stack.pop()
                current = None
            elif current is None:
                current = Statement(token.text, [], line.file, line.number)
                stack[-1][0].append(current)
            else:
                current.args.append(token.text)
        pending = current if current is not None and current.block is None else None
    if len(stack) > 1:
        opener = stack[-1][1]
        assert opener is not None
        raise SyntaxProblem(top, None, f"missing '}}' for {opener.keyword} opened at {opener.where}")
    return root


def default_config_id() -> str:
    """keepalived's default `-i`: the host name up to the first dot."""
    return socket.gethostname().split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class Parsed:
    statements: list[Statement]
    files: list[str]
    warnings: list[tuple[str, int, str]]


def parse_file(path: str, config_id: str | None = None) -> Parsed:
    """The statements of PATH and its includes. Raises `SyntaxProblem`."""
    reader = _Reader(config_id if config_id is not None else default_config_id())
    reader.read(path, 0, None)
    return Parsed(_build(reader.lines, path), reader.files, reader.warnings)
