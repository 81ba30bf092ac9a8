"""bench/subject_python.py (issue #16): which interpreter the benchmarks run vrrpd under, its build flags in the
report, and where its bench venv lives. Pure parts only, plus probes of the running interpreter (no root, no venv
is built)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import failover  # noqa: E402  (puts netns-tests/ on sys.path for its lab imports)
import subject_python as sp  # noqa: E402

DEBIAN_LIKE = {
    "executable": "/work/bench/.venv/python3-3.11.2-abc/bin/python",
    "base_executable": "/usr/bin/python3.11",
    "version": "3.11.2",
    "implementation": "CPython",
    "compiler": "GCC 12.2.0",
    "config_args": "'--enable-shared' '--prefix=/usr' '--enable-optimizations' '--with-lto' "
    "'CFLAGS=-g -fstack-protector-strong' 'LDFLAGS=  -g -fwrapv -O2   '",
    "py_cflags": "-Wsign-compare -DNDEBUG -g -fwrapv -O2 -Wall",
    "opt": "-DNDEBUG -g -fwrapv -O2 -Wall",
}
PYENV_LIKE = {
    "executable": "/work/main/.venv/bin/python",
    "base_executable": "/root/.pyenv/versions/3.11.7/bin/python3.11",
    "version": "3.11.7",
    "implementation": "CPython",
    "compiler": "GCC 12.2.0",
    "config_args": "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared' 'LDFLAGS=-L/root/.pyenv/lib'",
    "py_cflags": "-Wsign-compare -DNDEBUG -g -fwrapv -O3 -Wall",
    "opt": "-DNDEBUG -g -fwrapv -O3 -Wall",
}


def test_summary_of_an_optimised_build_names_pgo_lto_level_and_compiler() -> None:
    line = sp.build_summary(DEBIAN_LIKE)
    assert line == "/usr/bin/python3.11: CPython 3.11.2, PGO yes, LTO yes, -O2 (sysconfig), GCC 12.2.0"


def test_summary_of_a_plain_build_says_no_pgo_no_lto() -> None:
    line = sp.build_summary(PYENV_LIKE)
    assert (
        line
        == "/root/.pyenv/versions/3.11.7/bin/python3.11: CPython 3.11.7, PGO no, LTO no, -O3 (sysconfig), GCC 12.2.0"
    )


@pytest.mark.parametrize(
    ("config_args", "lto"),
    [
        ("'--with-lto=full'", True),
        ("'--with-lto=thin' '--enable-shared'", True),
        ("'--with-lto=no'", False),
        ("", False),
    ],
)
def test_lto_comes_from_config_args_with_its_variants(config_args: str, lto: bool) -> None:
    assert sp.build_flags({**PYENV_LIKE, "config_args": config_args})["lto"] is lto


def test_flags_inside_quoted_cflags_are_not_taken_for_configure_options() -> None:
    # A CFLAGS value that mentions -flto is not --with-lto, and --enable-optimizations must be an argument of its own.
    info = {**PYENV_LIKE, "config_args": "'CFLAGS=-flto --enable-optimizations-not'"}
    assert sp.build_flags(info)["pgo"] is False
    assert sp.build_flags(info)["lto"] is False


def test_the_last_optimisation_level_wins_and_none_is_said() -> None:
    assert sp.build_flags({**PYENV_LIKE, "py_cflags": "-O3 -g", "opt": "-Os"})["opt_level"] == "-Os"
    assert sp.build_flags({**PYENV_LIKE, "py_cflags": "-g", "opt": "-Wall"})["opt_level"] is None
    assert "no -O" in sp.build_summary({**PYENV_LIKE, "py_cflags": "-g", "opt": ""})


def test_venv_path_is_keyed_by_interpreter_version_and_requirements(tmp_path: Path) -> None:
    pins = "click==8.5.1\nPyYAML==6.0.4\n"
    one = sp.venv_dir("/usr/bin/python3", "3.11.2", pins, tmp_path)
    assert one == sp.venv_dir("/usr/bin/python3", "3.11.2", pins, tmp_path)
    assert one.parent == tmp_path and one.name.startswith("python3-3.11.2-")
    others = {
        sp.venv_dir("/usr/bin/python3", "3.11.2", pins.replace("8.5.1", "8.6.0"), tmp_path),
        sp.venv_dir("/usr/local/bin/python3", "3.11.2", pins, tmp_path),
        sp.venv_dir("/usr/bin/python3", "3.11.4", pins, tmp_path),
    }
    assert one not in others and len(others) == 3


def test_the_default_venv_lives_where_git_and_the_import_contract_ignore_it() -> None:
    where = sp.venv_dir("/usr/bin/python3", "3.11.2", sp.REQUIREMENTS.read_text())
    assert ".venv" in where.relative_to(ROOT).parts  # tests/test_protocol_purity.py and ruff skip .venv folders


def test_runtime_deps_are_pyprojects_and_each_has_an_import_checked() -> None:
    deps = sp.runtime_deps()
    names = {d.split(">")[0].split("=")[0].strip().lower() for d in deps}
    assert names == {"pyroute2", "pyyaml", "click", "systemd-python", "prometheus-client"}
    modules = {m.split(".")[0] for m in sp.DEP_IMPORTS}
    assert modules == {"pyroute2", "yaml", "click", "systemd", "prometheus_client"}


def test_probe_describes_the_interpreter_it_runs() -> None:
    info = sp.probe(sys.executable)
    assert info["version"] == platform.python_version()
    assert info["implementation"] == platform.python_implementation()
    assert info["compiler"] == platform.python_compiler()
    assert Path(info["executable"]) == Path(sys.executable)


def test_a_given_interpreter_with_the_deps_is_used_as_is() -> None:
    # The tests' interpreter imports the daemon's dependencies (the development venv): no bench venv for it.
    chosen = sp.choose(sys.executable)
    assert chosen.python == sys.executable
    assert chosen.origin == f"--python {sys.executable}, as is"
    assert chosen.document()["version"] == platform.python_version()


def test_a_complete_venv_is_reused_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sp, "VENVS", tmp_path)
    version = platform.python_version()
    where = sp.venv_dir(sys.executable, version, sp.REQUIREMENTS.read_text(), tmp_path)
    where.mkdir()
    (where / sp.STAMP).write_text("{}\n")

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"built a venv: {args}")

    monkeypatch.setattr(sp.shutil, "rmtree", no_build)
    assert sp.ensure_venv(sys.executable) == where / "bin" / "python"
    assert sorted(p.name for p in tmp_path.iterdir()) == [where.name]


def test_vrrpds_processes_get_the_snapshot_alone_on_pythonpath(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The bench's own PYTHONPATH (e.g. the dev venv's site-packages) must not feed vrrpd dependencies the chosen
    # interpreter lacks; the flooder (pinned_env) keeps it after the snapshot.
    monkeypatch.setenv("PYTHONPATH", "/work/main/.venv/lib/python3.11/site-packages")
    assert failover.subject_env(tmp_path)["PYTHONPATH"] == str(tmp_path)
    assert failover.pinned_env(tmp_path)["PYTHONPATH"] == f"{tmp_path}:/work/main/.venv/lib/python3.11/site-packages"
