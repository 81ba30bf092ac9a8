"""Roff for man(7) pages: escaping, and the few macros vrrpd's pages use (vrrpd.cli.manpages writes them).

Text is escaped once, here: a backslash is ``\\e``; a line that would start with ``.`` or ``'`` (a request to
roff) starts with ``\\&``; in literals (option names, commands, paths) ``-`` is ``\\-``, the minus sign, so that
man(1) searches and copy-paste find ``--json`` rather than a hyphen; in prose it stays a hyphen.
"""

from __future__ import annotations

import time
from collections.abc import Iterable


def escape(text: str) -> str:
    """Prose: safe anywhere on a text line. Characters beyond ASCII are named (``\\[u00A7]``), as groff reads its
    input as Latin-1 unless run through preconv, which not every man(1) does."""
    text = text.replace("\\", "\\e")
    return "".join(c if ord(c) < 128 else f"\\[u{ord(c):04X}]" for c in text)


def literal(text: str) -> str:
    """A name to type as it is (option, command, file): hyphens are minus signs."""
    return escape(text).replace("-", "\\-")


def bold(text: str) -> str:
    return f"\\fB{literal(text)}\\fR"


def italic(text: str) -> str:
    return f"\\fI{literal(text)}\\fR"


def safe_line(line: str) -> str:
    """An escaped text line that roff will not read as a request."""
    return "\\&" + line if line.startswith((".", "'")) else line


def quoted_arg(text: str) -> str:
    """A macro argument: in double quotes, which roff writes as ``\\(dq`` inside one."""
    return '"' + escape(text).replace('"', "\\(dq") + '"'


def title(name: str, section: int, source: str, manual: str, epoch: str | None) -> str:
    """``.TH``: the date from SOURCE_DATE_EPOCH (reproducible builds) or none at all, never the build's clock."""
    date = time.strftime("%Y-%m-%d", time.gmtime(int(epoch))) if epoch else ""
    args = " ".join(quoted_arg(a) for a in (date, source, manual))
    return f".TH {name.upper()} {section} {args}"


def section(name: str) -> str:
    return f".SH {quoted_arg(name)}"


def subsection(name: str) -> str:
    return f".SS {quoted_arg(name)}"


def paragraph(lines: Iterable[str]) -> list[str]:
    """Filled text: escaped, one source line each (roff joins and wraps them)."""
    return [".PP", *(safe_line(escape(line.strip())) for line in lines if line.strip())]


def preformatted(lines: Iterable[str], indent: int = 4) -> list[str]:
    """Lines kept as they are (tables, examples), indented; blank lines stay blank without a blank text line,
    which groff warns about in -ww mode."""
    body = [safe_line(escape(line.rstrip())) if line.strip() else ".sp" for line in lines]
    return [f".RS {indent}", ".nf", *body, ".fi", ".RE"]


def tagged(tag: str, body: list[str]) -> list[str]:
    """A ``.TP`` item: `tag` (already roff) on its own line, then `body` (roff lines) indented beside it."""
    return [".TP", tag, *body]


def blocks(lines: list[str]) -> list[str]:
    """Comment-style text in roff: runs of lines indented past the rest are preformatted (a value and its meaning
    in columns), everything else is filled prose, one paragraph per blank-line-separated run."""
    out: list[str] = []
    run: list[str] = []
    table: list[str] = []

    def flush() -> None:
        if run:
            out.extend(paragraph(run)[1:] if not out else [".br", *paragraph(run)[1:]])
            run.clear()
        if table:
            out.extend(preformatted(table, 2))
            table.clear()

    for line in lines:
        if line.startswith("  "):
            if run:
                flush()
            table.append(line)
        else:
            if table:
                flush()
            if not line.strip():
                flush()
                continue
            run.append(line)
    flush()
    return out
