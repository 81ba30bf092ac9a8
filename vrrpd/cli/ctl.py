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

from vrrpd.cli.status import render_status
from vrrpd.defaults import DEFAULT_CONTROL_SOCKET
from vrrpd.services.control import REQUEST_TIMEOUT, ControlError, NotRunning, request, stream

RELOAD_TIMEOUT = 120.0
"""Seconds `vrrpctl reload` waits by default: re-created instances stop gracefully (their on_stop hooks included)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--socket",
    "socket_path",
    envvar="VRRPCTL_SOCKET",
    default=str(DEFAULT_CONTROL_SOCKET),
    show_default=True,
    show_envvar=True,
    # A plain string: click.Path's checks would answer a socket the user may not open with a usage error
    # ("is not readable"); the client says what is wrong and what to do (vrrpd.services.control).
    type=str,
    help="The daemon's control socket (control_socket in its configuration).",
)
@click.option(
    "--timeout", default=REQUEST_TIMEOUT, show_default=True, type=click.FloatRange(min=0.1), help="Seconds to wait."
)
@click.pass_context
def main(ctx: click.Context, socket_path: str, timeout: float) -> None:
    """Query and control a running vrrpd."""
    explicit = ctx.get_parameter_source("timeout") is not click.core.ParameterSource.DEFAULT
    ctx.obj = {"socket": socket_path, "timeout": timeout, "timeout_given": explicit}


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


@main.command()
@click.pass_context
def reload(ctx: click.Context) -> None:
    """Have the daemon re-read its configuration file and apply it, instance by instance.

    \b
    Unchanged instances are not touched; changed ones keep their state where the change allows
    (priority, VIPs, trackers, hooks, timers...); the others stop and start again. The daemon answers
    once it is done.

    \b
    Exit status: 0 applied, printing "N unchanged, N changed, N added, N removed"; 1 rejected, the
    error (file, key, line) on stderr, and the daemon keeps running its configuration entirely
    (or applied in part: the summary, then what failed on stderr); 2 no daemon listening.
    """
    result = _command(ctx, "reload")
    click.echo(result.get("summary", "?"))
    if result.get("error"):
        click.echo(f"vrrpctl: applied in part: {result['error']}", err=True)
        ctx.exit(1)


def _drain_command(ctx: click.Context, command: str, names: tuple[str, ...], every: bool, **args: Any) -> None:
    """`drain` and `resume`: the daemon's summary on stdout (exit 0), its refusal on stderr (exit 1), or exit 2."""
    if bool(names) == every:
        raise click.UsageError(f"name the instances to {command}, or give --all (not both)")
    request_args: dict[str, Any] = {"all": True} if every else {"names": list(names)}
    result = _command(ctx, command, **request_args, **args)  # a drain may wait for a reload to finish
    click.echo(result.get("summary", "?"))


def _command(ctx: click.Context, command: str, **args: Any) -> dict[str, Any]:
    """A command that changes the daemon (reload, drain, resume): its answer, or exit 2 (no daemon) or 1 (refused,
    the daemon's sentence on stderr as it is: scripts may match on it). Waits RELOAD_TIMEOUT unless --timeout."""
    timeout = ctx.obj["timeout"] if ctx.obj["timeout_given"] else RELOAD_TIMEOUT
    try:
        result = request(ctx.obj["socket"], command, timeout=timeout, **args)
    except NotRunning as e:
        click.echo(f"vrrpctl: {e}", err=True)
        ctx.exit(2)
    except ControlError as e:
        click.echo(str(e), err=True)
        ctx.exit(1)
    if not isinstance(result, dict):
        click.echo(f"vrrpctl: unexpected answer from the daemon: {result!r}", err=True)
        ctx.exit(1)
    return result


@main.command()
@click.argument("names", metavar="[NAME]...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Drain every instance.")
@click.option(
    "--soft",
    is_flag=True,
    help="Stand with priority 1 instead: Master only while no other router is heard, so draining the last router "
    "keeps the service up.",
)
@click.pass_context
def drain(ctx: click.Context, names: tuple[str, ...], every: bool, soft: bool) -> None:
    """Take instances out of service for maintenance: a Master hands over at once, and they stay BACKUP.

    \b
    A drained Master sends one advert with priority 0, as at shutdown, so a backup takes over after its Skew_Time
    (under one advert interval) rather than Master_Down_Interval; it removes its addresses and never becomes Master
    while drained, even with no other router left (vrrpd then warns that nobody serves the addresses).
    --soft: the same priority-0 advert, but the addresses stay until another router has taken over, and it stands
    with priority 1: any other router wins, and it serves only while none is heard.
    The drain survives restarts and reloads (the state file $STATE_DIRECTORY/drained.json, by default
    /var/lib/vrrpd/drained.json), and shows in `vrrpctl status` and `vrrpctl events`. Refused, and nothing
    drained: an unknown name, an address owner (priority 255), some members of a sync group without the others.
    Exit status: 0 drained (or drained already), printing which; 1 refused, the reason on stderr; 2 no daemon
    listening.
    """
    _drain_command(ctx, "drain", names, every, soft=soft)


@main.command()
@click.argument("names", metavar="[NAME]...", nargs=-1)
@click.option("--all", "every", is_flag=True, help="Resume every drained instance.")
@click.pass_context
def resume(ctx: click.Context, names: tuple[str, ...], every: bool) -> None:
    """End the drain of instances: they stand with their own priority again.

    \b
    A resumed backup preempts a lower-priority master as usual (with preempt on: after Master_Down_Interval),
    and one that has heard no master for a Master_Down_Interval takes over after its Skew_Time.
    Exit status: 0 resumed (or not drained), printing which; 1 refused, the reason on stderr; 2 no daemon listening.
    """
    _drain_command(ctx, "resume", names, every)


EVENT_TYPES = ("transition", "priority", "drain", "reload")


@main.command()
@click.option(
    "--replay", default=0, show_default=True, type=click.IntRange(min=0), help="First print the last N events kept."
)
@click.option(
    "--type",
    "types",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="Print only events of this type (repeatable). Default: every type.",
)
@click.option("--count", type=click.IntRange(min=1), help="Exit after printing N events (gaps not counted).")
@click.pass_context
def events(ctx: click.Context, replay: int, types: tuple[str, ...], count: int | None) -> None:
    """Follow the daemon's events: one JSON object per line, in order, until interrupted.

    \b
    {"type": "transition", "seq": 7, "time": "...Z", "timestamp": ..., "kind": "instance", "name": "gw-v4",
     "old": "BACKUP", "new": "MASTER", "reason": "...", "priority": 150, "vrid": 51, ...}
    Sync group events: "kind": "group", "priority": 0, "members": [...] (no vrid, interface, family).
    new is MASTER, BACKUP, FAULT or STOP (the daemon stopped the instance or group).
    {"type": "priority", ..., "name": "gw-v4", "old": 150, "new": 100, "reason": "base 150, track script chk -50", ...}
    {"type": "drain", ..., "name": "gw-v4", "mode": "hard", "soft" or "resumed", "reason": "vrrpctl drain", ...}
    {"type": "reload", ..., "result": "applied", "error": null, "generation": 2, "unchanged": 3, "changed": 1, ...}
    A reader too slow to keep up gets {"type": "gap", "missed": N, "first_seq": A, "last_seq": B} where events were
    dropped for it (whatever --type says).
    Exit status: 0 on Ctrl-C or after --count events, 1 when the daemon ends the stream or cannot be reached.
    """
    printed = 0
    try:
        items = stream(ctx.obj["socket"], "events", timeout=ctx.obj["timeout"], replay=replay)
        next(items)  # the acknowledgement
        for item in items:
            kind = item.get("type") if isinstance(item, dict) else None
            if types and kind != "gap" and kind not in types:
                continue
            sys.stdout.write(json.dumps(item) + "\n")
            sys.stdout.flush()
            if kind != "gap":
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
    from vrrpd.importer import GeneratedInvalid, SyntaxProblem
    from vrrpd.importer import import_keepalived as convert

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
