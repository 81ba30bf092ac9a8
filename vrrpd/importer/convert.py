"""keepalived statements -> the vrrpd YAML document, plus a message for everything that does not map 1:1.

Severity:
- ``warning``: keepalived would behave differently from the generated YAML (a keyword is dropped, a value
  changed); `vrrpctl import-keepalived` then exits 1. Each warning says what to do about it.
- ``note``: the mapping is faithful but worth knowing (e.g. a password keepalived also truncates).

The steps: `syntax` reads the file and its includes; the definitions (global_defs, vrrp_script, track_file,
vrrp_sync_group) are read first, since keepalived applies them wherever they appear; then each vrrp_instance
(`instance`), which `resolve` maps once all is known; the top-level sections follow from what the instances use;
`render` prints the document and vrrpd's own parser checks it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vrrpd.config import ConfigError, parse_config
from vrrpd.importer import scripts, syncgroups, track_files
from vrrpd.importer.globals import read_global_defs
from vrrpd.importer.instance import read_instance
from vrrpd.importer.model import Context, Instance, Message
from vrrpd.importer.render import render
from vrrpd.importer.resolve import resolve_instances
from vrrpd.importer.syntax import Statement, parse_file
from vrrpd.importer.tables import TOP_IGNORED, TOP_UNMAPPED


@dataclass(frozen=True, slots=True)
class ImportResult:
    yaml: str
    """The generated document, header comment included; it passed `vrrpd.config.parse_config`."""
    document: dict[str, Any]
    messages: tuple[Message, ...]
    files: tuple[str, ...]
    """Every keepalived file read (the top one first, then includes)."""

    @property
    def warnings(self) -> tuple[Message, ...]:
        return tuple(m for m in self.messages if m.severity == "warning")

    @property
    def complete(self) -> bool:
        """True when everything mapped (no warnings)."""
        return not self.warnings


class GeneratedInvalid(Exception):
    """The generated YAML does not validate: a bug in the importer. Carries the YAML for the report."""

    def __init__(self, error: ConfigError, text: str, messages: tuple[Message, ...]) -> None:
        super().__init__(f"the generated YAML does not validate (an importer bug, please report it): {error}")
        self.text = text
        self.messages = messages


def tracking_supported() -> bool:
    """Whether this vrrpd's config schema has track_scripts / track_interfaces (they are being added)."""
    base = "instances:\n  - {name: a, interface: eth0, vrid: 1, virtual_addresses: [203.0.113.1/24]%s}\n"
    for doc in ("track_scripts: 0\n" + base % "", base % ", track_interfaces: 0"):
        try:
            parse_config(doc, "<probe>")
        except ConfigError as e:
            if e.problem.startswith("unknown key"):
                return False
    return True


_DEFINITION_READERS: dict[str, Callable[[Context, Statement], None]] = {
    "global_defs": read_global_defs,
    "vrrp_script": scripts.read_script,
    "vrrp_sync_group": syncgroups.read_group,
    "track_file": track_files.read_block,
    "vrrp_track_file": track_files.read_block,
}
"""Top-level blocks read before any instance, in file order."""


def convert_statements(ctx: Context, statements: list[Statement]) -> dict[str, Any]:
    """The vrrpd document for the top-level statements; the messages go to `ctx`."""
    for stmt in statements:
        reader = _DEFINITION_READERS.get(stmt.keyword)
        if reader is not None and ctx.block(stmt) is not None:
            reader(ctx, stmt)
    instances: list[Instance] = []
    for stmt in statements:
        if stmt.keyword == "vrrp_instance":
            if ctx.block(stmt) is not None:
                inst = read_instance(ctx, stmt)
                if inst is not None:
                    instances.append(inst)
        elif stmt.keyword in _DEFINITION_READERS:
            pass
        elif stmt.keyword in TOP_UNMAPPED:
            ctx.warn(stmt, f"{stmt.keyword}: {TOP_UNMAPPED[stmt.keyword]}")
        elif stmt.keyword in TOP_IGNORED:
            ctx.note(stmt, f"{stmt.keyword}: ignored: {TOP_IGNORED[stmt.keyword]}")
        else:
            ctx.unknown(stmt, "the top level")
    # Instances and groups first: they mark the scripts and files they use, and only those are written.
    outputs = resolve_instances(ctx, instances)
    _global_strict_resets(ctx)
    groups = syncgroups.section_out(ctx, instances, outputs)
    doc: dict[str, Any] = {}
    script_section = scripts.section_out(ctx)
    if script_section:
        doc["track_scripts"] = script_section
    file_section = track_files.section_out(ctx)
    if file_section:
        doc["track_files"] = file_section
    doc["instances"] = outputs
    if groups:
        doc["sync_groups"] = groups
    return doc


def _global_strict_resets(ctx: Context) -> None:
    """global_defs settings keepalived resets in each strict-mode instance (vrrp.c, vrrp_complete_instance): a note
    when every instance is strict (they then change nothing), the warning otherwise."""
    all_strict = bool(ctx.strict_instances) and all(ctx.strict_instances)
    for at, warning in ctx.globals.strict_resets:
        if all_strict:
            ctx.note(at, f"{at.keyword}: keepalived resets it in every (strict-mode) instance; not imported")
        else:
            ctx.warn(at, warning)


def import_keepalived(path: str, config_id: str | None = None, tracking: bool | None = None) -> ImportResult:
    """Read PATH (and its includes) and convert it. Raises `SyntaxProblem` when keepalived's syntax cannot
    be parsed, `GeneratedInvalid` when the result would not validate (a bug).

    `tracking`: map track_script / track_interface onto vrrpd's tracking keys (default: if this vrrpd's
    schema has them); otherwise each one is a warning that shows the mapping it would get.
    """
    parsed = parse_file(path, config_id)
    ctx = Context(tracking_supported() if tracking is None else tracking)
    for file, line, text in parsed.warnings:
        ctx.messages.append(Message("warning", file, line, text))
    doc = convert_statements(ctx, parsed.statements)
    order = {file: index for index, file in enumerate(parsed.files)}
    ctx.messages.sort(key=lambda m: (order.get(m.file, len(order)), m.line is None, m.line or 0))
    if not doc["instances"]:
        ctx.messages.append(
            Message("warning", path, None, "no vrrp_instance could be imported, so there is no YAML to print")
        )
        return ImportResult("", doc, tuple(ctx.messages), tuple(parsed.files))
    text = render(doc, path, ctx.origins)
    try:
        config = parse_config(text, "<generated>")
    except ConfigError as e:
        raise GeneratedInvalid(e, text, tuple(ctx.messages)) from None
    for warning in config.warnings:
        ctx.messages.append(Message("note", path, None, f"vrrpd's own check of the output: {warning}"))
    return ImportResult(text, doc, tuple(ctx.messages), tuple(parsed.files))
