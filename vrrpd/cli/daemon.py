"""`vrrpd` entry point: `vrrpd run -c FILE` (foreground until SIGTERM) and `vrrpd check -c FILE`.

Exit status: 0 success (check: the file is valid; run: stopped by SIGTERM or SIGINT), 1 the configuration is
invalid or the daemon could not start or run, 2 usage error.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import click

from vrrpd import __version__
from vrrpd.cli.leanimports import lean_run_imports
from vrrpd.config import Config, ConfigError, InstanceConfig, NoInstancesError, load_config
from vrrpd.defaults import DEFAULT_CONFIG_PATH
from vrrpd.services.commands import ROOT, Identity, command_problems

if TYPE_CHECKING:
    from vrrpd.daemon import Daemon

DEFAULT_CONFIG = str(DEFAULT_CONFIG_PATH)
CONDITION_FAILED = 255
"""The one ExecCondition= status that fails the unit; 1..254 only skip it (systemd.service(5))."""
log = logging.getLogger("vrrpd")


def _load(path: str, daemon: Identity | None = None, invalid: int = 1, unconfigured: int = 1) -> Config:
    """The configuration, its commands checked (vrrpd.services.commands) as run by `daemon` (None: this
    process); any problem is printed, one line each, and ends the program: exit status `unconfigured` when the
    file configures no instance yet, `invalid` for anything else."""
    try:
        config = load_config(path)
    except NoInstancesError as exc:
        click.echo(f"vrrpd: {exc}; vrrpd starts once the file configures an instance", err=True)
        sys.exit(unconfigured)
    except ConfigError as exc:
        click.echo(f"vrrpd: {exc}", err=True)
        sys.exit(invalid)
    problems = command_problems(config, daemon)
    for problem in problems:
        click.echo(f"vrrpd: {problem}", err=True)
    if problems:
        sys.exit(invalid)
    return config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vrrpd")
def main() -> None:
    """A VRRPv3 (RFC 9568) daemon."""


@main.command()
@click.option("-c", "--config", "path", default=DEFAULT_CONFIG, show_default=True, help="YAML configuration file.")
@click.option(
    "--systemd-condition",
    "condition",
    is_flag=True,
    help="Exit as systemd's ExecCondition= wants it: 0 valid; 1 no instance configured yet (systemd then skips the"
    " start quietly, as after installing the package); 255 invalid (the start fails, with the reason in the journal).",
)
def check(path: str, condition: bool) -> None:
    """Validate a configuration file and exit (0 = valid, 1 = not).

    The commands (track scripts, notify hooks) are checked as `vrrpd run` under the shipped unit runs them: as
    root, unless they name a `user:`."""
    config = _load(path, ROOT, invalid=CONDITION_FAILED if condition else 1)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"{path}: OK, {len(config.instances)} instance(s)")
    for inst in config.instances:
        for line in _owned(inst):
            click.echo(f"  {inst.name}: {line}")


def _owned(inst: InstanceConfig) -> list[str]:
    """What the instance holds while Master besides its advertised addresses on its own interface: worth a line
    each, as an imported keepalived.conf puts them in places the operator may not expect."""
    lines = [
        f"{a} on {inst.interface_of(a.ip)}" for a in inst.virtual_addresses if inst.interface_of(a.ip) != inst.interface
    ]
    lines += [f"excluded {a} on {inst.interface_of(a.ip)} (not advertised)" for a in inst.excluded_addresses]
    lines += [f"route {r} (while Master)" for r in inst.routes]
    lines += [f"rule {r} (while Master)" for r in inst.rules]
    return lines


@main.command()
@click.option("-c", "--config", "path", default=DEFAULT_CONFIG, show_default=True, help="YAML configuration file.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Log level; wins over the file's log_level, also at a reload. Default: the file's, else info.",
)
def run(path: str, log_level: str | None) -> None:
    """Run in the foreground until SIGTERM/SIGINT (graceful: masters send priority 0)."""
    lean_run_imports()  # before asyncio and the daemon are imported: what the daemon never needs stays out
    import asyncio

    from vrrpd.services.logsetup import setup_logging

    handler = setup_logging((log_level or "info").upper())
    # pyroute2 logs every netlink message at debug level: far too much even for `--log-level debug`.
    handler.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith("pyroute2"))
    config = _load(path)
    if log_level is None and config.log_level is not None:
        logging.getLogger().setLevel(config.log_level.upper())
    for warning in config.warnings:
        log.warning("%s", warning)
    # Imported here, not at module top, so `vrrpd check` and `--version` stay light (no netlink, no
    # sockets), and not inside the coroutine, so the import never runs on (and stalls) the event loop.
    from vrrpd.daemon import Daemon

    try:
        asyncio.run(_serve(Daemon, config, log_level is not None))
    except _Failed as exc:
        click.echo(f"vrrpd: {exc}", err=True)
        sys.exit(1)


class _Failed(Exception):
    pass


async def _serve(daemon_class: type[Daemon], config: Config, level_pinned: bool) -> None:
    from vrrpd.daemon import StartupError
    from vrrpd.services.control import ControlError

    daemon = daemon_class(config)
    daemon.log_level_pinned = level_pinned
    try:
        await daemon.run()
    except (StartupError, ControlError) as exc:
        raise _Failed(str(exc)) from None
    except PermissionError as exc:
        raise _Failed(f"{exc} (vrrpd needs CAP_NET_RAW and CAP_NET_ADMIN)") from None


if __name__ == "__main__":
    main()
