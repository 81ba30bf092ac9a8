"""Man pages and bash completion, generated at build time from the code so they cannot drift from it.

``python -m vrrpd.cli.manpages --example etc/vrrpd.yaml --out DIR`` writes vrrpd.8 and vrrpctl.8 (walked from the
click commands), vrrpd.yaml.5 (vrrpd.cli.configpage) and vrrpctl.bash (click's own bash completion, installed as
/usr/share/bash-completion/completions/vrrpctl). The output depends on nothing but the code, the example and
SOURCE_DATE_EPOCH (the date in ``.TH``; none without it), so builds are reproducible.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from types import ModuleType

import click
from click.shell_completion import BashComplete, ShellComplete

from vrrpd import __version__
from vrrpd.cli import ctl, daemon, roff
from vrrpd.cli.configpage import config_page
from vrrpd.defaults import DEFAULT_CONFIG_PATH, DEFAULT_CONTROL_SOCKET, DEFAULT_STATE_DIRECTORY

PAGES = {"vrrpd": daemon, "vrrpctl": ctl}
"""Each command's page and the module holding its click group (whose docstring says its exit status)."""
MANUAL = "System Administration"
COMPLETION = "vrrpctl.bash"


def exit_status(module: ModuleType) -> str:
    """The "Exit status: ..." paragraph of a command module's docstring."""
    match = re.search(r"^Exit status: (.+?)(?:\n\n|\Z)", module.__doc__ or "", re.MULTILINE | re.DOTALL)
    if match is None:
        raise ValueError(f"{module.__name__} documents no exit status")
    return " ".join(match.group(1).split())


def help_blocks(text: str) -> list[str]:
    """Click help text as roff: a paragraph marked ``\\b`` keeps its lines, the others are filled."""
    out: list[str] = []
    for block in re.split(r"\n\s*\n", click.unstyle(text).strip()):
        lines = block.splitlines()
        if lines and lines[0].strip() == "\b":
            out += roff.preformatted([line.rstrip() for line in _dedent(lines[1:])], 2)
        else:
            out += roff.paragraph(lines)
    return out


def _dedent(lines: list[str]) -> list[str]:
    margin = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return [line[margin:] for line in lines]


def _param_tag(ctx: click.Context, param: click.Parameter) -> str:
    if isinstance(param, click.Argument):
        return roff.italic(param.make_metavar(ctx))
    assert isinstance(param, click.Option)
    names = ", ".join(roff.bold(name) for name in (*param.opts, *param.secondary_opts))
    if param.is_flag:
        return names
    return f"{names} {roff.italic(param.make_metavar(ctx))}"


def _param_body(ctx: click.Context, param: click.Parameter) -> list[str]:
    text = param.help if isinstance(param, click.Option) and param.help else ""
    if isinstance(param.type, click.Choice):
        text += " One of: " + ", ".join(map(str, param.type.choices)) + "."
    elif isinstance(param, click.Argument):
        text += f"{param.type.name.capitalize()}{'' if param.required else ', optional'}."
    # Only a value: click marks "no default" with None or a sentinel of its own, and a flag is off by default.
    default = param.default
    if isinstance(default, str | int | float) and default is not False:
        text += f" Default: {default}."
    lines = [roff.safe_line(roff.escape(text.strip()))]
    if param.envvar:
        envvars = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        lines += [".br", "Environment: " + ", ".join(roff.bold(name) for name in envvars) + "."]
    return lines


def params_section(ctx: click.Context, command: click.Command) -> list[str]:
    out: list[str] = []
    for param in command.get_params(ctx):
        if getattr(param, "hidden", False):
            continue
        out += roff.tagged(_param_tag(ctx, param), _param_body(ctx, param))
    return out


def _usage(ctx: click.Context, command: click.Command) -> str:
    words = [
        roff.literal(word) if not word.isupper() else roff.italic(word) for word in command.collect_usage_pieces(ctx)
    ]
    return f"{roff.bold(ctx.command_path)} {' '.join(words)}".rstrip()


def command_page(name: str, module: ModuleType, epoch: str | None) -> str:
    group: click.Group = module.main
    root = click.Context(group, info_name=name, **group.context_settings)
    summary = (group.help or "").strip().splitlines()[0]
    lines = [roff.title(name, 8, f"vrrpd {__version__}", MANUAL, epoch), roff.section("NAME")]
    lines.append(f"{roff.literal(name)} \\- {roff.escape(summary)}")
    commands = [(sub, group.commands[sub]) for sub in group.list_commands(root)]
    contexts = {sub: click.Context(cmd, info_name=sub, parent=root) for sub, cmd in commands}
    lines.append(roff.section("SYNOPSIS"))
    lines += [_usage(root, group), *(item for sub, cmd in commands for item in (".br", _usage(contexts[sub], cmd)))]
    lines += [roff.section("DESCRIPTION"), *help_blocks(group.help or "")]
    lines += [
        roff.safe_line(roff.escape(f"{name} has these commands: ")) + ", ".join(roff.bold(s) for s, _ in commands) + "."
    ]
    lines += [roff.section("OPTIONS"), *params_section(root, group)]
    lines.append(roff.section("COMMANDS"))
    for sub, cmd in commands:
        lines += [roff.subsection(f"{name} {sub}"), _usage(contexts[sub], cmd), *help_blocks(cmd.help or "")]
        params = params_section(contexts[sub], cmd)
        if params:
            lines += [".PP", "Options and arguments:", *params]
    lines += [roff.section("EXIT STATUS"), ".PP", roff.safe_line(roff.escape(exit_status(module)))]
    lines += [roff.section("FILES"), *_files()]
    others = [f"{roff.bold(n)}(8)" for n in PAGES if n != name]
    see_also = [*others, f"{roff.bold('vrrpd.yaml')}(5)", f"{roff.bold('keepalived')}(8)", "RFC 9568 (VRRPv3)"]
    lines += [roff.section("SEE ALSO"), ", ".join(see_also)]
    return "\n".join(lines) + "\n"


def _files() -> list[str]:
    return [
        *roff.tagged(roff.italic(str(DEFAULT_CONFIG_PATH)), [r"The configuration file; see \fBvrrpd.yaml\fR(5)."]),
        *roff.tagged(
            roff.italic(str(DEFAULT_CONTROL_SOCKET)),
            ["The default control socket: vrrpd serves it, vrrpctl connects to it (control_socket in the file)."],
        ),
        *roff.tagged(
            roff.italic(str(DEFAULT_STATE_DIRECTORY / "drained.json")),
            [
                "The instances drained for maintenance (vrrpctl drain), kept across restarts; in "
                "$STATE_DIRECTORY instead when that is set (systemd sets it from the unit's StateDirectory=)."
            ],
        ),
    ]


def bash_completion() -> str:
    """click's bash completion script for vrrpctl, which calls vrrpctl back with _VRRPCTL_COMPLETE set."""
    completer = BashComplete(ctl.main, {}, "vrrpctl", "_VRRPCTL_COMPLETE")
    # ShellComplete.source, not BashComplete.source: the latter checks the bash of the machine that runs this
    # (the build host), which says nothing about the bash of the machine that will source the script.
    return ShellComplete.source(completer)


def write_all(example: Path, out: Path, epoch: str | None) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = {f"{name}.8": command_page(name, module, epoch) for name, module in PAGES.items()}
    written["vrrpd.yaml.5"] = config_page(example.read_text(), epoch)
    written[COMPLETION] = bash_completion()
    for file_name, text in written.items():
        (out / file_name).write_text(text)
    return [out / name for name in written]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--example",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    required=True,
    help="The commented example configuration (etc/vrrpd.yaml), the source of vrrpd.yaml(5).",
)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory.")
def main(example: Path, out: Path) -> None:
    """Write vrrpd.8, vrrpctl.8, vrrpd.yaml.5 and vrrpctl.bash into OUT."""
    try:
        written = write_all(example, out, os.environ.get("SOURCE_DATE_EPOCH"))
    except ValueError as e:
        click.echo(f"manpages: {e}", err=True)
        sys.exit(1)
    click.echo(f"manpages: wrote {', '.join(p.name for p in written)} to {out}")


if __name__ == "__main__":
    main()
