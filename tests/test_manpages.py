"""vrrpd.cli.manpages: the man pages and the bash completion the Debian package installs, generated from the code.

The groff checks need groff (Debian package groff-base). With VRRPD_NO_SKIPS set (scripts/test.sh) a missing groff
fails the run instead of skipping.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from hosttools import required_tool

from vrrpd import __version__
from vrrpd.cli import ctl, daemon, manpages
from vrrpd.cli.configdocs import describe, undocumented
from vrrpd.cli.configpage import config_page
from vrrpd.config.keytree import GARP_KEYS, KEY_TREE, Schema, key_paths
from vrrpd.defaults import DEFAULT_CONFIG_PATH, DEFAULT_CONTROL_SOCKET

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "etc" / "vrrpd.yaml"
PAGES = ("vrrpd.8", "vrrpctl.8", "vrrpd.yaml.5")


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("man")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SOURCE_DATE_EPOCH": "1700000000"}
    cmd = [sys.executable, "-m", "vrrpd.cli.manpages", "--example", "etc/vrrpd.yaml", "--out", str(directory)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" and len(result.stdout.splitlines()) == 1, result
    return directory


def groff() -> str:
    return required_tool("groff", "groff-base")


def render(page: Path) -> str:
    result = subprocess.run(
        [groff(), "-man", "-Tutf8", "-P-cbou", "-rLL=200n", str(page)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.replace("\u2010", "-").replace("\u2212", "-")


def unwrap(text: str) -> str:
    return " ".join(text.split())


def test_the_interface_writes_the_four_files(out):
    assert sorted(p.name for p in out.iterdir()) == sorted([*PAGES, "vrrpctl.bash"])


@pytest.mark.parametrize("page", PAGES)
def test_groff_prints_no_warning(out, page):
    result = subprocess.run(
        [groff(), "-man", "-Tutf8", "-ww", "-z", str(out / page)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


@pytest.mark.parametrize(
    ("page", "sections"),
    [
        ("vrrpd.8", ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "FILES", "SEE ALSO"]),
        ("vrrpctl.8", ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "FILES", "SEE ALSO"]),
        ("vrrpd.yaml.5", ["NAME", "SYNOPSIS", "DESCRIPTION", "KEYS", "EXAMPLE", "FILES", "SEE ALSO"]),
    ],
)
def test_rendered_pages_have_their_sections_in_order(out, page, sections):
    text = render(out / page)
    headings = [line for line in text.splitlines() if line and not line[0].isspace()]
    assert [h for h in headings if h in sections] == sections
    assert f"vrrpd {__version__}" in text
    assert "2023-11-14" in text  # SOURCE_DATE_EPOCH=1700000000


@pytest.mark.parametrize(("name", "module"), [("vrrpd", daemon), ("vrrpctl", ctl)])
def test_every_command_option_argument_and_choice_is_in_the_page(out, name, module):
    text = unwrap(render(out / f"{name}.8"))
    group: click.Group = module.main
    commands = [(group, click.Context(group, info_name=name, **group.context_settings))]
    commands += [(cmd, click.Context(cmd, info_name=sub, parent=commands[0][1])) for sub, cmd in group.commands.items()]
    for command, ctx in commands:
        assert f"{ctx.command_path} [OPTIONS]" in text
        assert unwrap(click.unstyle(command.help or "")).split("\b")[0].strip()[:60] in text
        for param in command.get_params(ctx):
            spellings = [*param.opts, *param.secondary_opts] if isinstance(param, click.Option) else []
            for spelling in spellings:  # both spellings: -c and --config
                assert re.search(rf"(^|[ ,]){re.escape(spelling)}\b", text), spelling
            if isinstance(param, click.Argument):
                assert param.make_metavar(ctx) in text
            if isinstance(param.type, click.Choice):
                assert all(str(choice) in text for choice in param.type.choices)
            if isinstance(param, click.Option) and param.help:
                assert unwrap(param.help)[:40] in text
            if isinstance(param, click.Option) and param.envvar:
                assert f"Environment: {param.envvar}" in text
    assert unwrap(manpages.exit_status(module)) in text
    assert str(DEFAULT_CONFIG_PATH) in text and str(DEFAULT_CONTROL_SOCKET) in text


def test_exit_status_comes_from_the_module_docstring():
    assert manpages.exit_status(ctl).startswith("0 success, 1 the daemon could not be reached")
    with pytest.raises(ValueError, match="documents no exit status"):
        manpages.exit_status(manpages)


def test_option_names_are_minus_signs_in_roff(out):
    source = (out / "vrrpctl.8").read_text()
    assert r"\-\-socket" in source and "--socket" not in source
    assert not any(line.startswith(("'", '.\\"')) for line in source.splitlines() if not line.startswith(".TH"))


def test_every_accepted_key_has_a_description_in_the_config_page(out):
    text = unwrap(render(out / "vrrpd.yaml.5"))
    docs = describe(EXAMPLE.read_text())
    paths = list(key_paths())
    assert len(paths) > 100
    for key_path in paths:
        description = " ".join(line.strip() for line in docs.get(key_path) if line.strip())
        assert description, key_path.path
        assert f"{key_path.path} {unwrap(description)[:30]}" in text, key_path.path


def test_the_config_page_shows_the_example_and_the_rules(out):
    text = render(out / "vrrpd.yaml.5")
    assert "instances:" in text and "vrid: 51" in text
    assert "YAML 1.1" in text and "Unknown keys are errors" in unwrap(text) and "line 14" in text


def test_a_key_the_checker_accepts_but_the_example_does_not_describe_fails_the_build():
    example = EXAMPLE.read_text()
    assert undocumented(example) == []
    garp = KEY_TREE.nested["instances"][1].nested["garp"][1]
    doctored_garp = Schema((*GARP_KEYS, "burst"))
    instances = Schema(
        KEY_TREE.nested["instances"][1].keys,
        {
            **KEY_TREE.nested["instances"][1].nested,
            "garp": (KEY_TREE.nested["instances"][1].nested["garp"][0], doctored_garp),
        },
    )
    doctored = Schema(
        (*KEY_TREE.keys, "vrrp_strict"),
        {**KEY_TREE.nested, "instances": (KEY_TREE.nested["instances"][0], instances)},
    )
    assert garp.keys == GARP_KEYS
    assert undocumented(example, doctored) == ["instances[].garp.burst", "vrrp_strict"]
    with pytest.raises(ValueError, match=r"instances\[\]\.garp\.burst, vrrp_strict"):
        config_page(example, None, doctored)


def test_prose_that_looks_like_a_key_is_not_taken_for_one():
    """``#   weight: N  -253..253`` in the tracking prose sits under a leaf (virtual_mac), where no key can be."""
    docs = describe(EXAMPLE.read_text())
    assert set(docs.by_path) <= {p.path for p in key_paths()} | {p for p in docs.by_path if p.startswith("defaults.")}
    assert "weight: N" in "\n".join(docs.by_path["instances[].track_scripts"])


def test_output_is_reproducible(out, tmp_path):
    again = manpages.write_all(EXAMPLE, tmp_path, "1700000000")
    for path in again:
        assert path.read_text() == (out / path.name).read_text(), path.name
        assert str(ROOT) not in path.read_text()
    undated = manpages.command_page("vrrpd", daemon, None)
    assert undated.splitlines()[0].startswith('.TH VRRPD 8 ""')


def complete(words: str) -> list[str]:
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_VRRPCTL_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(ctl.main, [], env=env, prog_name="vrrpctl")
    assert result.exit_code == 0, result.output
    return [line.split(",", 1)[1] for line in result.output.splitlines()]


def test_click_completes_commands_and_options():
    assert complete("vrrpctl st") == ["status"]
    assert "--json" in complete("vrrpctl status --")
    assert {"events", "import-keepalived", "reload", "status"} <= set(complete("vrrpctl "))


def test_the_completion_script_is_clicks_and_completes_through_vrrpctl(out, tmp_path):
    script = (out / "vrrpctl.bash").read_text()
    assert "_VRRPCTL_COMPLETE=bash_complete" in script
    assert re.search(r"^\s*complete .*-F _vrrpctl_completion vrrpctl$", script, re.MULTILINE)
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    wrapper = tmp_path / "vrrpctl"
    # What the installed console script does: click's main, named vrrpctl (which names _VRRPCTL_COMPLETE).
    call = "import sys; from vrrpd.cli.ctl import main; sys.exit(main(prog_name='vrrpctl'))"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -c "{call}" "$@"\n')
    wrapper.chmod(0o755)
    driver = f"source {out / 'vrrpctl.bash'}; COMP_WORDS=(vrrpctl status --); COMP_CWORD=2; "
    driver += '_vrrpctl_completion vrrpctl; printf "%s\\n" "${COMPREPLY[@]}"'
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([bash, "--norc", "-c", driver], env=env, capture_output=True, text=True, timeout=60)
    assert "--json" in result.stdout.split(), result
