"""Script security and command checks (issue #13, item 6; vrrpd.services.commands): a command that runs as root
and that someone else can change is refused, as keepalived's enable_script_security does; a missing or
non-executable command is an error. Each problem is one sentence naming the path, who can write it and the fix.

The rules are checked with files in tmp_path. `TRUSTED` adds this test's own user to root as an owner allowed to
change what runs, so that the mode rules are tested whoever runs the tests; the owner rule itself needs files
owned by someone else (chown), so those tests need root, which CI has."""

from __future__ import annotations

import logging
import os
import pwd
from pathlib import Path

import pytest
from click.testing import CliRunner

from vrrpd.cli.daemon import main
from vrrpd.config import parse_config
from vrrpd.services.commands import ROOT, Identity, check_command, command_problems, interpreted_script

TRUSTED = frozenset({0, os.geteuid()})
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def script(directory: Path, name: str = "check.sh", mode: int = 0o755) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(mode)
    return path


def problems(*argv: str | Path, identity: Identity = ROOT, path: list[str] | None = None) -> list[str]:
    return check_command(tuple(str(a) for a in argv), identity, path or [], TRUSTED)


def test_a_script_only_its_owners_can_change_is_fine(tmp_path):
    assert problems(script(tmp_path / "safe")) == []


def test_a_world_writable_script_is_refused_with_the_fix(tmp_path):
    path = script(tmp_path / "safe", mode=0o757)
    assert problems(path) == [
        f"'{path}' is writable by every user (mode 0757), and the command runs as root: chmod o-w {path}"
    ]


def test_a_script_in_a_world_writable_directory_is_refused(tmp_path):
    path = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    assert problems(path) == [
        f"'{tmp_path / 'ww'}' (on the way to '{path}') is writable by every user (mode 0777), and the command "
        f"runs as root: chmod o-w {tmp_path / 'ww'}"
    ]


def test_a_sticky_world_writable_directory_is_fine_for_a_file_owned_by_root(tmp_path):
    # /tmp itself: others may create names in it, but not replace a file they do not own.
    path = script(tmp_path / "sticky")
    (tmp_path / "sticky").chmod(0o1777)
    assert problems(path) == []


def test_a_group_writable_script_is_refused_unless_the_group_is_root(tmp_path):
    path = script(tmp_path / "g", mode=0o775)
    if os.getegid() == 0:
        assert problems(path) == []  # group root: only root is in it
        os.chown(path, -1, NOBODY)
    found = problems(path)
    assert len(found) == 1
    assert found[0].startswith(f"'{path}' is writable by group ")
    assert found[0].endswith(f"(mode 0775), and the command runs as root: chmod g-w {path}")


@as_root
def test_a_script_owned_by_another_user_is_refused(tmp_path):
    path = script(tmp_path / "own")
    os.chown(path, NOBODY, -1)
    name = pwd.getpwuid(NOBODY).pw_name
    assert check_command((str(path),), ROOT, []) == [
        f"'{path}' is owned by user {name} (uid {NOBODY}), who can replace it, and the command runs as root: "
        f"chown root {path}"
    ]


@as_root
def test_a_directory_owned_by_another_user_is_refused(tmp_path):
    path = script(tmp_path / "theirs")
    os.chown(tmp_path / "theirs", NOBODY, -1)
    (found,) = check_command((str(path),), ROOT, [])
    assert found.startswith(f"'{tmp_path / 'theirs'}' (on the way to '{path}') is owned by user ")
    assert found.endswith(f"chown root {tmp_path / 'theirs'}")


def test_a_symlink_is_checked_for_what_it_resolves_to(tmp_path):
    target = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    link = tmp_path / "safe" / "check"
    link.parent.mkdir()
    link.symlink_to(target)
    (found,) = problems(link)
    assert found.startswith(f"'{tmp_path / 'ww'}' (on the way to '{link}') is writable by every user")


@as_root
def test_a_symlink_owned_by_another_user_is_refused(tmp_path):
    target = script(tmp_path / "safe")
    link = tmp_path / "safe" / "link"
    link.symlink_to(target)
    os.lchown(link, NOBODY, -1)
    (found,) = check_command((str(link),), ROOT, [])
    assert found.startswith(f"'{link}' is owned by user ")


def test_a_command_run_as_another_user_is_not_held_to_root_rules(tmp_path):
    # Whoever can change it gets no more than that user has (keepalived: protection is for root's scripts).
    path = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    assert problems(path, identity=Identity(NOBODY, NOBODY)) == []


def test_a_command_that_does_not_exist_is_an_error(tmp_path):
    assert problems(tmp_path / "nope.sh") == [f"'{tmp_path / 'nope.sh'}' does not exist"]


def test_a_bare_name_is_looked_up_on_path(tmp_path):
    script(tmp_path / "bin", "my-check")
    assert problems("my-check", path=[str(tmp_path / "empty"), str(tmp_path / "bin")]) == []
    assert problems("no-such-check", path=[str(tmp_path / "bin")]) == [
        f"'no-such-check' is not found on PATH ({tmp_path / 'bin'})"
    ]


def test_a_bare_name_on_path_is_checked_like_a_path(tmp_path):
    script(tmp_path / "bin", "my-check")
    (tmp_path / "bin").chmod(0o777)
    (found,) = problems("my-check", path=[str(tmp_path / "bin")])
    assert found.startswith(f"'{tmp_path / 'bin'}' (on the way to '{tmp_path / 'bin' / 'my-check'}') is writable")


def test_a_command_that_is_not_executable_is_an_error(tmp_path):
    path = script(tmp_path / "x", mode=0o644)
    assert problems(path) == [f"'{path}' is not executable (mode 0644): chmod +x {path}"]


def test_executable_means_for_the_user_it_runs_as(tmp_path):
    path = script(tmp_path / "x", mode=0o744)
    assert problems(path) == []
    (found,) = problems(path, identity=Identity(NOBODY, NOBODY))
    assert found.startswith(f"'{path}' is not executable for ")
    assert found.endswith(f"(mode 0744): chmod +x {path}")


def test_a_directory_is_not_a_command(tmp_path):
    assert problems(tmp_path) == [f"'{tmp_path}' is not a regular file"]


def test_the_script_an_interpreter_runs_is_checked_too(tmp_path):
    path = script(tmp_path / "ww", mode=0o644)  # read by the shell: no executable bit needed
    assert problems("/bin/sh", path) == []
    path.chmod(0o646)
    assert problems("/bin/sh", path) == [
        f"'{path}' is writable by every user (mode 0646), and the command runs as root: chmod o-w {path}"
    ]
    assert problems("/bin/sh", tmp_path / "gone.sh") == [
        f"'{tmp_path / 'gone.sh'}' cannot be run: No such file or directory"
    ]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (("/bin/sh", "/etc/vrrpd/check.sh", "arg"), "/etc/vrrpd/check.sh"),
        (("bash", "-x", "/etc/vrrpd/check.sh"), "/etc/vrrpd/check.sh"),
        (("/usr/bin/python3.11", "-u", "/opt/check.py"), "/opt/check.py"),
        (("/bin/bash", "-c", "/etc/vrrpd/check.sh"), None),  # code, not a file
        (("/bin/sh", "-ec", "exit 0"), None),
        (("python3", "-m", "checks.web"), None),
        (("perl", "-e", "exit 0"), None),
        (("/bin/sh", "relative.sh"), None),  # relative to vrrpd's working directory: not checked
        (("/usr/bin/curl", "/etc/passwd"), None),  # not an interpreter: its arguments are data
    ],
)
def test_which_argument_is_an_interpreted_script(argv, expected):
    assert interpreted_script(argv) == expected


CONFIG = """\
track_scripts:
  used: {{command: [{used}]}}
  unused: {{command: [/nonexistent/unused]}}
defaults:
  notify: {{on_master: [{hook}]}}
instances:
  - name: a
    interface: eth0
    vrid: 1
    virtual_addresses: [198.51.100.1/24]
    track_scripts: [{{name: used, weight: -10}}]
  - name: b
    interface: eth0
    vrid: 2
    virtual_addresses: [198.51.100.2/24]
    notify: {{on_backup: [/nonexistent/own-hook]}}
sync_groups:
  g:
    members: [b]
    notify: {{on_fault: [/nonexistent/group-hook], user: nosuchuser-x}}
"""


def test_every_command_is_named_where_it_is_written(tmp_path):
    """Used scripts (not unused ones: they never run), inherited hooks once, at `defaults`, an instance's own
    hooks, a group's hooks; a `user:` that does not exist is start-up's own error, not checked here."""
    ww = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    config = parse_config(CONFIG.format(used=ww, hook="/nonexistent/hook"), "/etc/vrrpd/vrrpd.yaml")
    assert command_problems(config, ROOT) == [
        f"/etc/vrrpd/vrrpd.yaml: track_scripts.used.command (line 2): '{tmp_path / 'ww'}' (on the way to '{ww}') "
        f"is writable by every user (mode 0777), and the command runs as root: chmod o-w {tmp_path / 'ww'}",
        "/etc/vrrpd/vrrpd.yaml: defaults.notify.on_master (line 5): '/nonexistent/hook' does not exist",
        "/etc/vrrpd/vrrpd.yaml: instances[1].notify.on_backup (line 16): '/nonexistent/own-hook' does not exist",
    ]


def test_vrrpd_check_reports_every_problem_one_line_each(tmp_path):
    ww = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    path = tmp_path / "vrrpd.yaml"
    path.write_text(CONFIG.format(used=ww, hook="/nonexistent/hook"))
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("vrrpd: ")]
    assert len(errors) == 3
    assert errors[0].startswith(f"vrrpd: {path}: track_scripts.used.command (line 2): ")
    assert "OK" not in result.output


def test_vrrpd_check_passes_commands_that_are_safe(tmp_path):
    safe = script(tmp_path / "safe")
    path = tmp_path / "vrrpd.yaml"
    text = CONFIG.format(used=safe, hook=safe).replace("/nonexistent/own-hook", str(safe))
    path.write_text(text.replace("/nonexistent/group-hook", str(safe)))
    result = CliRunner().invoke(main, ["check", "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{path}: OK, 2 instance(s)" in result.output


def test_vrrpd_run_refuses_an_insecure_script_before_it_starts_anything(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr("vrrpd.cli.daemon._serve", lambda *a: started.append(a))
    monkeypatch.setattr("vrrpd.services.logsetup.setup_logging", lambda level: logging.NullHandler())
    ww = script(tmp_path / "ww")
    (tmp_path / "ww").chmod(0o777)
    path = tmp_path / "vrrpd.yaml"
    path.write_text(CONFIG.format(used=ww, hook=ww))
    result = CliRunner().invoke(main, ["run", "-c", str(path)])
    assert result.exit_code == 1
    assert f"vrrpd: {path}: track_scripts.used.command (line 2): '{tmp_path / 'ww'}'" in result.output
    assert started == []
