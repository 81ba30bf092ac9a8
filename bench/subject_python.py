"""The Python interpreter the benchmarks run vrrpd under (issue #16): Debian's /usr/bin/python3 by default, as hosts
run it, in a venv of its own holding the daemon's runtime dependencies; `--python PATH` for another one.

The bench script itself keeps running under whatever Python launched it; only the subject processes (vrrpd,
vrrpctl, the snapshot's import probe) exec the interpreter chosen here. vrrpd itself never comes from the venv: it
comes from the bench's snapshot on PYTHONPATH (failover.py `snapshot_vrrpd`).

The venv lives in bench/.venv/<interpreter name>-<version>-<hash>/ (git-ignored; a `.venv` folder, so the import
contract test and ruff skip it): the hash covers debian/requirements.txt, the interpreter's path and version, so a
changed pin or another interpreter gets a venv of its own. A stamp file written last marks a venv complete; one
without it is rebuilt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from progress import log

REPO = Path(__file__).resolve().parent.parent
DEBIAN_PYTHON = Path("/usr/bin/python3")
REQUIREMENTS = REPO / "debian" / "requirements.txt"
PYPROJECT = REPO / "pyproject.toml"
VENVS = REPO / "bench" / ".venv"
STAMP = "bench-venv-complete.json"
# What `vrrpd run` and `vrrpctl` import from outside the standard library (vrrpd.cli.daemon, vrrpd.cli.ctl and
# the services they start); scapy and the test tools are not needed by the daemon.
DEP_IMPORTS = ("click", "yaml", "pyroute2", "systemd.daemon", "prometheus_client")

# Run by the chosen interpreter, once: what it is and how it was built.
PROBE = """
import json, platform, sys, sysconfig
v = sysconfig.get_config_vars()
print(json.dumps({
    "executable": sys.executable,
    "base_executable": getattr(sys, "_base_executable", sys.executable),
    "version": platform.python_version(),
    "implementation": platform.python_implementation(),
    "compiler": platform.python_compiler(),
    "config_args": v.get("CONFIG_ARGS") or "",
    "py_cflags": v.get("PY_CFLAGS") or "",
    "opt": v.get("OPT") or "",
}))
"""


@dataclass(frozen=True)
class Interpreter:
    """The interpreter vrrpd's processes exec, with what its probe printed."""

    python: str
    """What to exec (a bench venv's bin/python, or the interpreter given as is)."""
    info: dict[str, Any]
    origin: str
    """How it was chosen, for the report ("default: Debian's /usr/bin/python3, bench venv ...")."""

    def summary(self) -> str:
        return f"{build_summary(self.info)}; {self.origin}"

    def document(self) -> dict[str, Any]:
        """The JSON report's record: the probe's fields, the parsed build flags, the origin."""
        return {**self.info, **build_flags(self.info), "python": self.python, "origin": self.origin}


def clean_env() -> dict[str, str]:
    """The environment without PYTHONPATH/PYTHONHOME: the interpreter's own site-packages alone count (a PYTHONPATH
    naming the development venv's site-packages would otherwise hide what the chosen interpreter lacks)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def build_flags(info: dict[str, Any]) -> dict[str, Any]:
    """PGO, LTO (from CONFIG_ARGS: `--enable-optimizations`, `--with-lto[=...]`) and the optimisation level that
    takes effect (the last -O in PY_CFLAGS, then OPT, as the compiler reads them)."""
    try:
        args = shlex.split(info.get("config_args", ""))
    except ValueError:  # an unbalanced quote: fall back to plain words
        args = info.get("config_args", "").split()
    lto = [a for a in args if a == "--with-lto" or a.startswith("--with-lto=")]
    levels = re.findall(r"(?<!\S)-O(?:[0-3sgz]|fast)?(?!\S)", f"{info.get('py_cflags', '')} {info.get('opt', '')}")
    return {
        "pgo": "--enable-optimizations" in args,
        "lto": bool(lto) and lto[-1] not in ("--with-lto=no",),
        "opt_level": levels[-1] if levels else None,
    }


def build_summary(info: dict[str, Any]) -> str:
    """One line: path, implementation and version, PGO, LTO, -O level, compiler."""
    flags = build_flags(info)
    yes = {True: "yes", False: "no"}
    # A venv's bin/python is a link to its base interpreter: name the build, the origin names the venv.
    where = info.get("base_executable") or info.get("executable", "?")
    return (
        f"{where}: {info.get('implementation', '?')} {info.get('version', '?')}, PGO {yes[flags['pgo']]}, "
        f"LTO {yes[flags['lto']]}, {flags['opt_level'] or 'no -O'} (sysconfig), {info.get('compiler', '?')}"
    )


def venv_dir(python: str, version: str, requirements: str, base: Path = VENVS) -> Path:
    """Where the bench venv for `python` (at `version`) and the pins in `requirements` (the file's text) lives."""
    key = hashlib.sha256("\0".join((requirements, str(python), version)).encode()).hexdigest()[:12]
    return base / f"{Path(python).name}-{version}-{key}"


def runtime_deps(pyproject: Path = PYPROJECT) -> list[str]:
    """The daemon's runtime dependencies, as pyproject.toml's [project] lists them."""
    with pyproject.open("rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def probe(python: str) -> dict[str, Any]:
    cp = subprocess.run([python, "-c", PROBE], capture_output=True, text=True, env=clean_env(), timeout=60)
    if cp.returncode != 0:
        raise RuntimeError(f"{python} does not run: {cp.stderr.strip() or cp.returncode}")
    return json.loads(cp.stdout)


def imports_deps(python: str) -> bool:
    """Whether `python`, without PYTHONPATH, imports every runtime dependency of the daemon."""
    code = "; ".join(f"import {name}" for name in DEP_IMPORTS)
    cp = subprocess.run([python, "-c", code], capture_output=True, env=clean_env(), timeout=60)
    return cp.returncode == 0


def ensure_venv(python: str) -> Path:
    """The bin/python of `python`'s bench venv, built first unless a complete one (its stamp) is there."""
    version = probe(python)["version"]
    requirements = REQUIREMENTS.read_text()
    where = venv_dir(python, version, requirements, VENVS)
    venv_python = where / "bin" / "python"
    if (where / STAMP).exists():
        return venv_python
    VENVS.mkdir(parents=True, exist_ok=True)
    # Two benches starting at once build it once: the second waits here, then finds the stamp.
    with open(f"{where}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (where / STAMP).exists():
            return venv_python
        log(f"building the bench venv {where} for {python} (pip may reach the package registry)")
        shutil.rmtree(where, ignore_errors=True)  # a half-built one (no stamp)
        subprocess.run([python, "-m", "venv", str(where)], check=True, env=clean_env())
        pip = [str(venv_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, "-c", str(REQUIREMENTS), *runtime_deps()], check=True, env=clean_env())
        if not imports_deps(str(venv_python)):
            raise RuntimeError(f"the bench venv {where} does not import {', '.join(DEP_IMPORTS)}")
        stamp = {"python": python, "version": version, "requirements": str(REQUIREMENTS), "deps": runtime_deps()}
        (where / STAMP).write_text(json.dumps(stamp, indent=1) + "\n")
    with contextlib.suppress(OSError):
        os.unlink(f"{where}.lock")
    return venv_python


def choose(given: str | None) -> Interpreter:
    """The interpreter for vrrpd: `given` as is when it imports the daemon's dependencies, else a bench venv of it;
    by default Debian's /usr/bin/python3 in its bench venv (sys.executable when there is no /usr/bin/python3)."""
    if given is None and DEBIAN_PYTHON.exists():
        base, origin = str(DEBIAN_PYTHON), f"default: Debian's {DEBIAN_PYTHON}"
        as_is = False
    elif given is None:
        base, origin = sys.executable, f"default: no {DEBIAN_PYTHON}, so the bench's own interpreter"
        log(f"no {DEBIAN_PYTHON}: vrrpd runs under {sys.executable}")
        as_is = imports_deps(base)
    else:
        base, origin = given, f"--python {given}"
        as_is = imports_deps(base)
    if as_is:
        python, origin = base, f"{origin}, as is"
    else:
        python = str(ensure_venv(base))
        origin = f"{origin}, in bench venv {Path(python).parent.parent.relative_to(REPO)}"
    return Interpreter(python, probe(python), origin)
