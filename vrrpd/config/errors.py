"""`ConfigError`: every configuration problem as one sentence, ``FILE: PATH (line N): PROBLEM``.

Warnings (`Config.warnings`) use the same sentence, so an operator reads errors and warnings alike.
"""

from __future__ import annotations


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


def sentence(filename: str, path: str, line: int | None, problem: str) -> str:
    at = f" (line {line})" if line is not None else ""
    return f"{filename}: {path}{at}: {problem}" if path else f"{filename}{at}: {problem}"
