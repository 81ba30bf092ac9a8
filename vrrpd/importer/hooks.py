"""keepalived's notify scripts (`notify_master`, ..., `notify`) of a vrrp_instance or a vrrp_sync_group -> the
`notify:` section of the instance or group.

keepalived splits the script text at spaces with quotes grouping and runs it without a shell, as shlex.split and
vrrpd do, except a line starting `</`, which it runs with /bin/sh -c (the import writes [/bin/bash, -c, ...], as for
a vrrp_script); the generic `notify` gets the same appended arguments (INSTANCE|GROUP NAME STATE PRIORITY) in both.
"""

from __future__ import annotations

import shlex
from typing import Any

from vrrpd.importer.model import Context
from vrrpd.importer.scripts import runs_in_shell, with_bash
from vrrpd.importer.syntax import Statement
from vrrpd.importer.tables import HOOK_KEYS


def remember_hook(ctx: Context, hooks: dict[str, Statement], block: str, stmt: Statement) -> None:
    """One notify_* statement of `block` (e.g. "vrrp_instance VI_1"); keepalived uses the last one given."""
    if not stmt.args:
        ctx.warn(stmt, f"{stmt.keyword}: has no script; ignored")
        return
    if stmt.keyword in hooks:
        ctx.warn(
            stmt,
            f"{stmt.keyword}: given twice in {block}; vrrpd imports this last one, check it is the one keepalived used",
        )
    hooks[stmt.keyword] = stmt


def hooks_out(ctx: Context, hooks: dict[str, Statement], block: str, name: str, at: Statement) -> dict[str, Any] | None:
    """The notify: section of the vrrp_instance or (`block` "vrrp_sync_group") group NAME, None when no hook was
    imported."""
    section: dict[str, Any] = {}
    users: dict[str, Statement] = {}
    for keyword, key in HOOK_KEYS.items():
        stmt = hooks.get(keyword)
        if stmt is None:
            continue
        try:
            argv = shlex.split(stmt.args[0])
        except ValueError as e:
            ctx.warn(stmt, f"{keyword}: cannot split {stmt.args[0]!r} into arguments ({e}); not imported")
            continue
        if not argv:
            ctx.warn(stmt, f"{keyword}: the script is empty; not imported")
            continue
        if runs_in_shell(stmt.args[0]):
            # The same rule as vrrp_script's (lib/notify.c, check_script_secure): keepalived runs it with sh -c.
            argv = with_bash(argv)
            ctx.warn(
                stmt,
                f"{keyword}: {stmt.args[0]!r} is a shell redirection, which keepalived runs with /bin/sh -c; the "
                "import runs it with /bin/bash -c (dash, Debian's /bin/sh, has no /dev/tcp). Check the command "
                "does what you expect",
            )
        section[key] = argv
        if len(stmt.args) > 1:
            user, _, group = stmt.args[1].partition(":")
            group = group or (stmt.args[2] if len(stmt.args) > 2 else "")
            if user:
                users.setdefault(user, stmt)
            if group:
                ctx.warn(
                    stmt,
                    f"{keyword}: vrrpd runs hooks with the user's primary group; group {group} is not imported",
                )
    if not section:
        return None
    if len(users) > 1:
        first, *others = users
        unit = "instance" if block == "vrrp_instance" else "sync group"
        for other in others:
            ctx.warn(
                users[other],
                f"notify scripts of {name} run as different users ({', '.join(users)}); vrrpd has one "
                f"notify.user per {unit} and uses {first}",
            )
    user = next(iter(users), None) or ctx.globals.script_user
    ctx.note_once(
        "notify",
        at,
        f"{block} {name}: notify scripts run one at a time in transition order in vrrpd, each killed "
        "after notify.timeout (30 s by default); keepalived runs them concurrently and never kills them "
        "(said once for every instance and group with notify scripts)",
    )
    return {**section, **({"user": user} if user is not None else {})}
