"""keepalived's `vrrp_script` blocks -> vrrpd's top-level `track_scripts` (the scripts some instance or sync group
tracks; `tracking` maps the track_script lists that use them)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from vrrpd.importer.model import Context, Script, unused_reason
from vrrpd.importer.render import yaml_number
from vrrpd.importer.syntax import Statement
from vrrpd.protocol.constants import MAX_WEIGHT

_SHELL_REDIRECTION = re.compile(r"<[ \t]*/")
"""keepalived 2.2.7 runs a script whose first word starts `</` (blanks allowed between) through system(), i.e.
/bin/sh -c (lib/notify.c, check_script_secure returns SC_SYSTEM), to test that a file can be opened."""


def runs_in_shell(text: str) -> bool:
    """Whether keepalived hands this script line to /bin/sh -c rather than running it directly (`</`)."""
    return bool(_SHELL_REDIRECTION.match(text))


def with_bash(argv: list[str]) -> list[str]:
    """The argv that does what keepalived's shell did with a `</` line (bash: dash has no /dev/tcp)."""
    return ["/bin/bash", "-c", shell_line(argv)]


def shell_line(argv: list[str]) -> str:
    """The line keepalived hands the shell (lib/notify.c, cmd_str_r): the first word as is, each other one in
    single quotes."""
    return " ".join([argv[0], *(f"'{word}'" for word in argv[1:])])


def read_script(ctx: Context, stmt: Statement) -> None:
    """A `vrrp_script NAME { script CMD; interval S; timeout S; weight W [reverse]; rise N; fall N; user U;
    init_fail }`."""
    name = ctx.definition_name(stmt)
    if name is None:
        return
    script = Script(name, stmt)
    assert stmt.block is not None
    for sub in stmt.block:
        key = sub.keyword
        if key == "script":
            script.command = " ".join(sub.args) if sub.args else None
        elif key == "interval":
            script.interval = ctx.number(sub, 0.001, 86400) or script.interval
        elif key == "timeout":
            script.timeout = ctx.number(sub, 0.001, 86400) or script.timeout
        elif key == "weight":
            weight, script.reverse = ctx.definition_weight(sub, MAX_WEIGHT)
            if weight is not None:
                script.weight = weight
        elif key in ("rise", "fall"):
            value = ctx.integer(sub, 1, 100)
            if value is not None:
                setattr(script, key, value)
        elif key == "user":
            if sub.args:
                script.user = sub.args[0]
            if len(sub.args) > 1:
                ctx.warn(
                    sub,
                    f"user: vrrpd runs a script with the user's primary group; group {sub.args[1]} is not imported",
                )
        elif key == "init_fail":
            script.init_fail = True
        else:
            ctx.unknown(sub, f"vrrp_script {script.name}")
    if script.command is None:
        ctx.warn(stmt, f"vrrp_script {script.name}: has no script line; keepalived ignores it, so does the import")
        return
    try:
        shlex.split(script.command)
    except ValueError as e:
        ctx.warn(
            stmt,
            f"vrrp_script {script.name}: cannot split {script.command!r} into arguments ({e}); keepalived refuses "
            "such a script line (lib/parser.c: missing terminating quote) and drops the vrrp_script, so does the "
            "import",
        )
        return
    if runs_in_shell(script.command):
        ctx.warn(
            stmt,
            f"vrrp_script {script.name}: {script.command!r} is a shell redirection, which keepalived runs with "
            "/bin/sh -c; vrrpd runs no shell of its own, so the import runs it with /bin/bash -c (bash, because "
            "dash, Debian's /bin/sh, has no /dev/tcp and fails such a check every time). Check the command "
            "does what you expect",
        )
    ctx.scripts[script.name] = script


def script_out(ctx: Context, script: Script) -> dict[str, Any]:
    """The script's entry under track_scripts."""
    assert script.command is not None
    try:
        # keepalived runs the command directly, split at spaces with quotes grouping; so does shlex, and
        # the list shows the reviewer the exact argv.
        command: list[str] | str = shlex.split(script.command)
    except ValueError:
        command = script.command
    if isinstance(command, list) and command and runs_in_shell(command[0]):
        command = with_bash(command)
    out: dict[str, Any] = {
        "command": command,
        "interval": yaml_number(script.interval),
        "timeout": yaml_number(script.timeout if script.timeout is not None else script.interval),
        "rise": script.rise,
        "fall": script.fall,
    }
    if script.init_fail:
        out["initial_state"] = "down"  # keepalived's init_fail: failed until `rise` passes (vrrp_init_script)
    if script.user is not None:
        out["user"] = script.user
    elif ctx.globals.script_user is not None:
        out["user"] = ctx.globals.script_user
    return out


def section_out(ctx: Context) -> dict[str, Any]:
    """The top-level track_scripts section (empty: none), once the instances and groups have marked what they use;
    a note for each script nobody tracks."""
    used = [script for script in ctx.scripts.values() if script.used]
    section = {script.name: script_out(ctx, script) for script in used} if ctx.tracking else {}
    for script in ctx.scripts.values():
        if not script.used:
            reason = unused_reason(ctx, "track_script", script.name)
            ctx.note(script.at, f"vrrp_script {script.name}: {reason}; not imported (keepalived skips it too)")
    return section
