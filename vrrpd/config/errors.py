"""`ConfigError`: every configuration problem as one sentence, ``FILE: PATH (line N): PROBLEM``, and `clip()`, which
every message quoting what the file says goes through, so that a sentence stays one short line whatever the file
holds (a megabyte-long value, a newline, an escape sequence).

Warnings (`Config.warnings`) use the same sentence, so an operator reads errors and warnings alike.
"""

from __future__ import annotations

CLIP = 60
"""Characters of a value a message quotes; the rest is replaced by its length."""
_PATH_MAX = 160
_PROBLEM_MAX = 800
"""The sentence's last line of defence: a key path or problem longer than this is cut (a value quoted without
`clip()` somewhere); no message written in this package comes near."""


class ConfigError(Exception):
    """An invalid configuration. `str()` is one sentence: ``FILE: PATH (line N): PROBLEM``."""

    def __init__(self, filename: str, path: str, line: int | None, problem: str) -> None:
        super().__init__(sentence(filename, path, line, problem))
        self.filename = filename
        self.path = path
        """Key path such as ``instances[1].priority``; empty for the document as a whole."""
        self.line = line
        """1-based line in the file, or None when the file could not be read at all."""
        self.problem = problem


class NoInstancesError(ConfigError):
    """The file configures no instance (no `instances` key, an empty list, an empty file) but is otherwise valid up
    to that point: the state of a freshly installed package whose example has every instance commented out, which
    systemd's ExecCondition= treats as "not configured yet" rather than as a failure (`vrrpd check
    --systemd-condition`)."""


def sentence(filename: str, path: str, line: int | None, problem: str) -> str:
    at = f" (line {line})" if line is not None else ""
    path, problem = _one_line(path, _PATH_MAX), _one_line(problem, _PROBLEM_MAX)
    return f"{filename}: {path}{at}: {problem}" if path else f"{filename}{at}: {problem}"


def clip(value: str, limit: int = CLIP, quoted: bool = True) -> str:
    """`value` as a message quotes it: in quotes with escapes (as `repr`), or bare but escaped (`quoted` false,
    for a number as written), and cut after `limit` characters with the full length said, e.g.
    ``'xxxx…' (100000 characters)``."""
    cut = value[:limit]
    shown = repr(cut) if quoted else _escaped(cut)
    return f"{shown}… ({len(value)} characters)" if len(value) > limit else shown


def _escaped(text: str) -> str:
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _one_line(text: str, limit: int) -> str:
    text = _escaped(text)
    return text if len(text) <= limit else f"{text[:limit]}… (cut; {len(text)} characters)"
