"""`vrrpctl`: ask a running vrrpd what it is doing (and convert a keepalived.conf: `import-keepalived`).

Exit status: 0 success, 1 the daemon could not be reached or reported an error, 2 usage error.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

import click

from vrrpd.cli.status.groups import render_groups
from vrrpd.cli.status.hooks import render_hooks
from vrrpd.cli.status.trackers import render_trackers
from vrrpd.cli.status.unicast import render_unicast
from vrrpd.defaults import DEFAULT_CONTROL_SOCKET
from vrrpd.services.control import REQUEST_TIMEOUT, ControlError, request, stream

COLUMNS = (
    "NAME",
    "IFACE",
    "FAMILY",
    "VRID",
    "STATE",
    "PRIO(EFF)",
    "INTERVAL",
    "MASTER",
    "MDI",
    "ADV_TX",
    "ADV_RX",
    "DROPS",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--socket",
    "socket_path",
    envvar="VRRPCTL_SOCKET",
    default=str(DEFAULT_CONTROL_SOCKET),
    show_default=True,
    show_envvar=True,
    type=click.Path(dir_okay=False),
    help="The daemon's control socket (control_socket in its configuration).",
)
@click.option(
    "--timeout", default=REQUEST_TIMEOUT, show_default=True, type=click.FloatRange(min=0.1), help="Seconds to wait."
)
@click.pass_context
def main(ctx: click.Context, socket_path: str, timeout: float) -> None:
    """Query and control a running vrrpd."""
    ctx.obj = {"socket": socket_path, "timeout": timeout}


def _call(ctx: click.Context, command: str, **args: Any) -> Any:
    try:
        return request(ctx.obj["socket"], command, timeout=ctx.obj["timeout"], **args)
    except ControlError as e:
        click.echo(f"vrrpctl: {e}", err=True)
        ctx.exit(1)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the daemon's status object as JSON.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show every instance: state, priorities, the master seen, timers and counters.

    \b
    PRIO(EFF)  configured priority (effective priority after tracking)
    INTERVAL   our advert interval (the master's, when it differs)
    MASTER     the current master's address, priority and the age of its last advert
    MDI        Master_Down_Interval: how long a backup waits before taking over
    DROPS      adverts discarded, in total and by reason

    \b
    Then every tracker: its state (up, down, unknown until a script has run), its effect
    (weight +N / weight -N / fault) and what it adds to the priority now (CONTRIB). "(own)" marks
    the instance's own interface, always tracked: down means FAULT.

    \b
    Then, for unicast instances, every peer: the source and TTL we send with, the lowest TTL
    accepted, adverts sent to the peer and send errors (with the last one).
    Then every sync group: its state, its members' states and what holds it out of MASTER
    (a member in FAULT, a failed group tracker, a member deferring to a higher master), and
    the group's own trackers.
    """
    result = _call(ctx, "status")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(render_status(result), nl=False)


def render_status(result: Any) -> str:
    """The human view of a status result. Tolerates missing fields: an older daemon may send fewer."""
    if not isinstance(result, dict):
        return f"unexpected status from the daemon: {result!r}\n"
    header = f"vrrpd {result.get('version', '?')}, pid {result.get('pid', '?')}, up {_duration(result.get('uptime'))}"
    instances = [i for i in result.get("instances") or [] if isinstance(i, dict)]
    if not instances:
        return header + "\nno instances\n"
    rows = [COLUMNS, *(_row(inst) for inst in instances)]
    widths = [max(len(row[c]) for row in rows) for c in range(len(COLUMNS))]
    lines = [header, *("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)]
    for inst in instances:
        if inst.get("fault_reason"):
            lines.append(f"{inst.get('name', '?')}: fault: {inst['fault_reason']}")
        if inst.get("conflict"):
            age = inst.get("conflict_age")
            seen = f" (last seen {_seconds(age, digits=1)} ago)" if age is not None else ""
            lines.append(f"{inst.get('name', '?')}: CONFLICT: {inst['conflict']}{seen}")
    lines.extend(render_trackers(instances))
    lines.extend(render_unicast(instances))
    lines.extend(render_hooks(instances))
    lines.extend(render_groups(result))
    return "\n".join(lines) + "\n"


def _row(inst: dict[str, Any]) -> tuple[str, ...]:
    counters = inst.get("counters") if isinstance(inst.get("counters"), dict) else {}
    priority, effective = inst.get("priority"), inst.get("effective_priority")
    interval, master_interval = inst.get("advert_interval"), inst.get("master_advert_interval")
    shown_interval = _seconds(interval)
    if master_interval is not None and master_interval != interval:
        shown_interval += f" ({_seconds(master_interval)})"
    return (
        _text(inst.get("name")),
        _text(inst.get("interface")),
        _text(inst.get("family")),
        _text(inst.get("vrid")),
        _text(inst.get("state")),
        f"{_text(priority)}({_text(effective if effective is not None else priority)})",
        shown_interval,
        _master(inst),
        _seconds(inst.get("master_down_interval")),
        _text(counters.get("adverts_sent")),
        _text(counters.get("adverts_received")),
        _drops(counters.get("drops")),
    )


def _master(inst: dict[str, Any]) -> str:
    address = inst.get("master_address")
    if address is None:
        return "-"
    parts = [str(address)]
    if inst.get("master_priority") is not None:
        parts.append(f"prio={inst['master_priority']}")
    age = inst.get("master_age")
    if age is not None:
        parts.append(f"age={_seconds(age, digits=1)}")
    elif inst.get("state") == "MASTER":
        parts.append("(self)")
    return " ".join(parts)


def _drops(drops: Any) -> str:
    if not isinstance(drops, dict) or not drops:
        return "0"
    counts = {str(k): v for k, v in drops.items() if isinstance(v, int) and v}
    if not counts:
        return "0"
    reasons = ",".join(f"{k}={v}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return f"{sum(counts.values())} ({reasons})"


def _text(value: Any) -> str:
    return "-" if value is None else str(value)


def _seconds(value: Any, digits: int = 3) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "-"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _duration(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return "?"
    seconds = int(value)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


@main.command()
@click.option(
    "--replay", default=0, show_default=True, type=click.IntRange(min=0), help="First print the last N events kept."
)
@click.option("--count", type=click.IntRange(min=1), help="Exit after printing N transitions.")
@click.pass_context
def events(ctx: click.Context, replay: int, count: int | None) -> None:
    """Follow the daemon's transitions: one JSON object per line, in order, until interrupted.

    \b
    {"type": "transition", "seq": 7, "time": "...Z", "timestamp": ..., "kind": "instance", "name": "gw-v4",
     "old": "BACKUP", "new": "MASTER", "reason": "...", "priority": 150, "vrid": 51, ...}
    Sync group events: "kind": "group", "priority": 0, "members": [...] (no vrid, interface, family).
    new is MASTER, BACKUP, FAULT or STOP (the daemon stopped the instance or group). A reader too slow to keep up
    gets {"type": "gap", "missed": N, "first_seq": A, "last_seq": B} where events were dropped for it.
    Exit status: 0 on Ctrl-C or after --count transitions, 1 when the daemon ends the stream or cannot be reached.
    """
    printed = 0
    try:
        items = stream(ctx.obj["socket"], "events", timeout=ctx.obj["timeout"], replay=replay)
        next(items)  # the acknowledgement
        for item in items:
            sys.stdout.write(json.dumps(item) + "\n")
            sys.stdout.flush()
            if isinstance(item, dict) and item.get("type") == "transition":
                printed += 1
                if count is not None and printed >= count:
                    return
    except ControlError as e:
        click.echo(f"vrrpctl: {e}", err=True)
        ctx.exit(1)
    except KeyboardInterrupt:
        return
    except BrokenPipeError:
        # The reader went away (`| head`); nothing left to say to it, and nothing to say on stderr either.
        # Python's own advice: point stdout at /dev/null so the flush at interpreter exit does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    click.echo("vrrpctl: vrrpd ended the event stream (stopped?)", err=True)
    ctx.exit(1)


@main.command("import-keepalived")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--config-id",
    default=None,
    help="keepalived's -i for @ID conditional lines. Default: the short hostname, as keepalived.",
)
def import_keepalived(path: str, config_id: str | None) -> None:
    """Print PATH (a keepalived.conf) as vrrpd YAML; warnings go to stderr.

    \b
    Exit status: 0 everything mapped, 1 something could not be mapped (the YAML is still printed
    when there is any), 2 the file cannot be read or parsed.
    """
    from vrrpd.importer import SyntaxProblem
    from vrrpd.importer import import_keepalived as convert
    from vrrpd.importer.convert import GeneratedInvalid

    try:
        result = convert(path, config_id=config_id)
    except SyntaxProblem as e:
        click.echo(f"vrrpctl: {e}", err=True)
        sys.exit(2)
    except GeneratedInvalid as e:
        for message in e.messages:
            click.echo(str(message), err=True)
        click.echo(f"vrrpctl: {e}", err=True)
        sys.exit(1)
    click.echo(result.yaml, nl=False)
    for message in result.messages:
        click.echo(str(message), err=True)
    if not result.complete:
        click.echo(f"vrrpctl: {len(result.warnings)} warning(s): the YAML does not do everything {path} did", err=True)
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())
