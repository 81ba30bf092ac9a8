"""The configuration file a package installs: the commented example (etc/vrrpd.yaml) with its `instances` list
commented out, so that the file documents every key where the operator edits it, yet configures nothing until
they say so. Such a file parses as "no instance configured yet" (`NoInstancesError`), which the unit's
`vrrpd check --systemd-condition` turns into a skipped start, not a failed one.

`python -m vrrpd.config.example EXAMPLE` prints it (scripts/build-deb.sh).
"""

from __future__ import annotations

import sys
from pathlib import Path

HEADER = """\
# Installed by the vrrpd package, which starts vrrpd once this file configures an instance. To configure one:
# uncomment the `instances:` list below (delete the first "#" of each of its lines), adapt it to this host,
# check it with `vrrpd check -c /etc/vrrpd/vrrpd.yaml`, then run `systemctl restart vrrpd`.
# Until then `systemctl status vrrpd` says the start was skipped: "instances ... must not be empty".
#
"""


def unconfigured(example: str) -> str:
    """`example` with a header and every line of its top-level `instances` list prefixed with ``#``: the list
    ends at the next line that starts in column 0 (a top-level key or comment). Blank lines stay blank."""
    lines = example.splitlines(keepends=True)
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("instances:"))
    except StopIteration:
        raise ValueError("the example has no top-level `instances:` line") from None
    end = next((i for i in range(start + 1, len(lines)) if _top_level(lines[i])), len(lines))
    block = ["#" + line if line.strip() else line for line in lines[start:end]]
    return HEADER + "".join(lines[:start] + block + lines[end:])


def _top_level(line: str) -> bool:
    return bool(line.strip()) and not line.startswith((" ", "\t", "-"))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m vrrpd.config.example EXAMPLE", file=sys.stderr)
        return 2
    sys.stdout.write(unconfigured(Path(argv[0]).read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
