"""The Debian package's sources (debian/, scripts/build-deb.sh) agree with the unit and the code, and what the package
installs as /etc/vrrpd/vrrpd.yaml configures nothing yet: the unit's ExecCondition= (`vrrpd check
--systemd-condition`) then skips the start instead of failing it (systemd.service(5): an ExecCondition= command
exiting 1..254 skips the unit, 255 fails it).

scripts/check-systemd-unit.sh builds the package and installs, upgrades, removes and purges it under a real systemd.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from vrrpd.config import NoInstancesError, parse_config
from vrrpd.config.example import HEADER, unconfigured
from vrrpd.defaults import DEFAULT_CONFIG_PATH

ROOT = Path(__file__).resolve().parent.parent
DEBIAN = ROOT / "debian"
EXAMPLE = ROOT / "etc" / "vrrpd.yaml"
UNIT = ROOT / "systemd" / "vrrpd.service"


def unit_values(key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in UNIT.read_text().splitlines() if line.startswith(f"{key}=")]


def check(path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vrrpd.cli.daemon", "check", *extra, "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


# --- the shipped configuration file ---------------------------------------------------------------------


def test_shipped_file_configures_no_instance_but_is_otherwise_the_example():
    shipped = unconfigured(EXAMPLE.read_text())
    with pytest.raises(NoInstancesError):
        parse_config(shipped, "/etc/vrrpd/vrrpd.yaml")
    # Every line of the example is there, the instances behind one "#" each: deleting it gives the example back.
    lines = shipped.removeprefix(HEADER).splitlines(keepends=True)
    start = lines.index("#instances:\n")
    end = start + 1
    while end < len(lines) and (lines[end].startswith("#  ") or not lines[end].strip()):
        end += 1
    restored = "".join(lines[:start] + [line.removeprefix("#") for line in lines[start:end]] + lines[end:])
    assert parse_config(restored, "x") == parse_config(EXAMPLE.read_text(), "x")
    assert restored.count("\n") == EXAMPLE.read_text().count("\n")


def test_shipped_file_says_how_to_configure_it():
    shipped = unconfigured(EXAMPLE.read_text())
    assert shipped.startswith(HEADER)
    assert f"vrrpd check -c {DEFAULT_CONFIG_PATH}" in HEADER
    assert "systemctl restart vrrpd" in HEADER


def test_only_the_instances_list_is_commented_out():
    text = "defaults:\n  priority: 120\ninstances:\n  - name: a\n\n    vrid: 1\n# Sync groups\nlog_level: debug\n"
    assert unconfigured(text).removeprefix(HEADER) == (
        "defaults:\n  priority: 120\n#instances:\n#  - name: a\n\n#    vrid: 1\n# Sync groups\nlog_level: debug\n"
    )


def test_an_example_without_instances_is_refused():
    with pytest.raises(ValueError, match="no top-level `instances:`"):
        unconfigured("defaults: {}\n")


# --- vrrpd check --systemd-condition --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["", "# only comments\n", "instances:\n", "instances: []\n", "log_level: info\n", "instances:\n#  - name: a\n"],
)
def test_condition_skips_a_file_that_configures_no_instance(tmp_path, text):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(text)
    result = check(path, "--systemd-condition")
    assert result.returncode == 1, result.stderr
    assert "vrrpd starts once the file configures an instance" in result.stderr


def test_condition_skips_the_shipped_file(tmp_path):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(unconfigured(EXAMPLE.read_text()))
    assert check(path, "--systemd-condition").returncode == 1


@pytest.mark.parametrize(
    "text",
    [
        "instances: 3\n",
        "bogus: 1\ninstances: []\n",  # an error before the instances are looked at still fails the start
        "instances:\n  - {name: a, interface: eth0, vrid: 300, virtual_addresses: [198.51.100.1/24]}\n",
    ],
)
def test_condition_fails_an_invalid_file_with_the_one_status_that_fails_the_unit(tmp_path, text):
    path = tmp_path / "vrrpd.yaml"
    path.write_text(text)
    result = check(path, "--systemd-condition")
    assert result.returncode == 255
    assert str(path) in result.stderr


def test_condition_fails_a_missing_file(tmp_path):
    result = check(tmp_path / "absent.yaml", "--systemd-condition")
    assert result.returncode == 255
    assert "cannot read the file" in result.stderr


def test_condition_passes_a_valid_file_and_plain_check_keeps_its_status():
    assert check(EXAMPLE, "--systemd-condition").returncode == 0
    assert check(EXAMPLE).returncode == 0


def test_plain_check_still_exits_1_for_either_problem(tmp_path):
    empty, bad = tmp_path / "empty.yaml", tmp_path / "bad.yaml"
    empty.write_text("instances: []\n")
    bad.write_text("instances: 3\n")
    assert check(empty).returncode == 1
    assert check(bad).returncode == 1


# --- debian/ against the unit and the code --------------------------------------------------------------


def test_unit_paths_are_the_ones_the_package_links():
    links = dict(line.split() for line in (DEBIAN / "vrrpd.links").read_text().splitlines() if line.strip())
    installed = {"/" + target: "/" + source for source, target in links.items()}
    for key in ("ExecCondition", "ExecStart", "ExecReload"):
        (command,) = unit_values(key)
        program = command.split()[0]
        assert program in installed, f"{key}: {program} is not installed by debian/vrrpd.links"
        assert installed[program].startswith("/opt/venvs/vrrpd/bin/")
    scripts = re.findall(r'^(\w+) = "vrrpd\.cli', (ROOT / "pyproject.toml").read_text(), flags=re.M)
    assert sorted(Path(p).name for p in installed) == sorted(scripts)


def test_unit_group_is_the_one_the_package_creates():
    (group,) = unit_values("Group")
    sysusers = [line.split() for line in (ROOT / "systemd" / "vrrpd.sysusers").read_text().splitlines()]
    assert ["g", group, "-", "-"] in sysusers
    assert (DEBIAN / "vrrpd.sysusers").resolve() == (ROOT / "systemd" / "vrrpd.sysusers").resolve()
    assert (DEBIAN / "vrrpd.service").resolve() == UNIT.resolve()


def test_package_pins_exactly_the_runtime_dependencies():
    pins = {}
    for line in (DEBIAN / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{line}: not pinned with =="
            pins[name.lower()] = version
    declared = re.search(r"^dependencies = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), flags=re.M | re.S)
    assert declared is not None
    names = {re.split(r"[<>=!~ ]", d.strip().strip('",'))[0].lower() for d in declared.group(1).split(",") if d.strip()}
    assert set(pins) == names


def test_build_generates_what_the_package_installs():
    rules = (DEBIAN / "rules").read_text()
    for installed in (
        "usr/share/man/man8/vrrpd.8",
        "usr/share/man/man8/vrrpctl.8",
        "usr/share/man/man5/vrrpd.yaml.5",
        "usr/share/bash-completion/completions/vrrpctl",
        "etc/vrrpd/vrrpd.yaml",
    ):
        assert f"$(STAGE)/{installed}" in rules
    assert "-m vrrpd.cli.manpages --example etc/vrrpd.yaml --out $(GEN)" in rules
    assert "-m vrrpd.config.example etc/vrrpd.yaml" in rules


def test_example_module_prints_the_shipped_file():
    result = subprocess.run(
        [sys.executable, "-m", "vrrpd.config.example", str(EXAMPLE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == unconfigured(EXAMPLE.read_text())


# --- upgrade in place -----------------------------------------------------------------------------------

LATE_IMPORTS_ALLOWED = {
    # Optional (absent outside systemd-python); first imported at start-up, by READY=1 and the journald handler.
    "systemd",
    "systemd.journal",
}


def late_imports(path: Path) -> list[str]:
    """Modules `path` imports inside a function body, as ``module (line N)``."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    found += [f"{alias.name} (line {inner.lineno})" for alias in inner.names]
                elif isinstance(inner, ast.ImportFrom):
                    found.append(f"{'.' * inner.level}{inner.module or ''} (line {inner.lineno})")
    return found


def test_the_daemon_imports_nothing_after_start_up():
    """The package restarts vrrpd after dpkg has replaced its files (debian/rules: --restart-after-upgrade), so
    the old process stops, hands its addresses over and reloads with the new files on disk: it must not import
    any of them then. Only the command-line layer imports late, before the daemon runs (vrrpd.cli.daemon)."""
    offenders = []
    for path in sorted((ROOT / "vrrpd").rglob("*.py")):
        if "cli" in path.relative_to(ROOT / "vrrpd").parts:
            continue
        for entry in late_imports(path):
            if entry.split(" ")[0] not in LATE_IMPORTS_ALLOWED:
                offenders.append(f"{path.relative_to(ROOT)}: {entry}")
    assert offenders == []


def test_the_late_import_guard_sees_imports_in_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    import json\n    from vrrpd import defaults\n")
    assert late_imports(module) == ["json (line 4)", "vrrpd (line 5)"]
