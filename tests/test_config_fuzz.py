"""Config fuzzing (issue #13, item 5): whatever the file holds, `vrrpd check` ends in OK (exit 0) or errors
(exit 1), each a single line, never a traceback, within 2 s of CPU and 200 MB above Python's own baseline.

The files are the shipped examples (etc/) and hostile seeds (alias bombs, huge numbers, deep nesting, binary
garbage, NULs, invalid UTF-8, BOMs, tabs, very long lines), each mutated by a seeded random mutator: bytes
flipped, inserted and deleted, lines deleted, duplicated and swapped, YAML tokens and hostile values spliced in.
tests/fuzzworker.py runs each file in a child with the limits (RLIMIT_AS, RLIMIT_CPU), so a file that takes
more fails the test whatever the load of the machine.

CI runs `CASES` files in about half a minute. A longer run, with its figures printed:

    VRRPD_FUZZ_CASES=20000 VRRPD_FUZZ_SEED=7 python -m pytest tests/test_config_fuzz.py -s
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = int(os.environ.get("VRRPD_FUZZ_CASES", "400"))
SEED = int(os.environ.get("VRRPD_FUZZ_SEED", "13"))
LINE_MAX = 1000
"""The longest line an error or warning may be (the known keys listed in an "unknown key" error are the longest)."""


def _laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


HOSTILE_SEEDS: dict[str, bytes] = {
    "laughs-key": (_laughs() + "? *a8\n: x\n").encode(),
    "laughs-value": (_laughs() + "instances: *a8\n").encode(),
    "laughs-merge": (
        "a: &a {x: 1, y: 2}\n"
        + "".join(f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}' if i else '*a'] * 8)}]}}\n" for i in range(8))
        + "instances: [*m7]\n"
    ).encode(),
    "recursive-alias": b"instances: &x [*x, {name: *x}]\n",
    "deep-list": b"instances: " + b"[" * 10_000 + b"]" * 10_000 + b"\n",
    "deep-map": b"instances: " + b"{a: " * 5_000 + b"1" + b"}" * 5_000 + b"\n",
    "deep-block": b"".join(b"  " * i + b"- \n" for i in range(3_000)),
    "huge-hex": b"instances:\n  - {name: a, interface: eth0, vrid: 0x" + b"f" * 20_000 + b"}\n",
    "huge-dec": b"instances:\n  - {name: a, interface: eth0, priority: " + b"9" * 20_000 + b"}\n",
    "huge-float": b"defaults: {advert_interval: 1" + b":59" * 5_000 + b".5}\ninstances: []\n",
    "inf-nan": b"defaults: {advert_interval: .inf, preempt_delay: .nan}\ninstances: [{vrid: -.inf}]\n",
    "nul": b"instances:\n  - name: a\x00b\n",
    "invalid-utf8": b"instances:\n  - name: \xc3\x28\xff\xfe\n",
    "bom": b"\xef\xbb\xbf\xef\xbb\xbfinstances: []\n",
    "tabs": b"instances:\n\t- name: a\n\t  vrid:\t1\n",
    "long-line": b"instances: [" + b"198.51.100.1/24, " * 20_000 + b"]\n",
    "long-scalar": b"instances:\n  - name: " + b"x" * 1_000_000 + b"\n",
    "long-key": b"instances:\n  - ? " + b"k" * 500_000 + b"\n    : 1\n",
    "control-chars": b'instances:\n  - name: "\\e[2J\\u202e\\r\\x85"\n',
    "python-tags": b"!!python/object/apply:os.system [echo pwned]\n",
    "binary-tag": b"instances: !!binary AAAA\n",
    "many-documents": b"---\ninstances: []\n" * 1_000,
    "garbage": random.Random(SEED).randbytes(4096),
}
# fmt: off
TOKENS = [
    b"&a ", b"*a", b"<<: *a\n", b"? ", b": ", b"- ", b"[", b"]", b"{", b"}", b",", b"'", b'"', b"#", b"|\n", b">-\n",
    b"!!str ", b"!!int ", b"!!float ", b"!!map ", b"!!seq ", b"!!set ", b"!!omap ", b"!!timestamp ", b"!!null ",
    b"!!bool ", b"\n", b"\n  ", b"\t", b"\x00", b"\xff", b"\xef\xbb\xbf", b"\xe2\x80\xae", b"\\",
    b"%YAML 1.1\n", b"%TAG ! tag:yaml.org,2002:\n", b"---\n", b"...\n",
    b"yes", b"no", b"on", b"~", b"null", b".inf", b".nan", b"-.inf", b"0x7fffffffffffffff", b"0o17", b"017", b"1:30",
    b"1_000", b"2024-02-30", b"1e999", b"-1", b"0", b"256", b"4096", b"65536", b"0.001", b"1.0e+999",
    b"0x" + b"f" * 5_000, b"9" * 5_000, b"1" + b":59" * 2_000, b"x" * 100_000, b"[" * 2_000, b"{a: " * 1_000,
    b"eth0", b"198.51.100.1/24", b"2001:db8::1/64", b"203.0.113.7", b"fe80::1%eth0", b"224.0.0.18",
    b"/bin/true", b"/nonexistent/script", b"nobody", b"on_failure: fault", b"weight: -10", b"user: root",
]
KEYS = [
    b"instances", b"defaults", b"track_scripts", b"track_files", b"sync_groups", b"control_socket", b"log_level",
    b"name", b"interface", b"vrid", b"priority", b"virtual_addresses", b"advert_interval", b"preempt", b"notify",
    b"unicast_peers", b"unicast_source", b"routes", b"rules", b"command", b"interval", b"timeout", b"members",
]
# fmt: on


def seeds() -> dict[str, bytes]:
    shipped = {f"etc-{p.stem}": p.read_bytes() for p in sorted((ROOT / "etc").rglob("*.yaml"))}
    assert len(shipped) >= 4, "the examples under etc/ are the main seeds"
    return {**shipped, **HOSTILE_SEEDS}


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random change; the cases apply one to eight of them."""
    lines = data.split(b"\n")
    op = rng.randrange(11)
    at = rng.randrange(len(data) + 1)
    if op == 0 and data:  # flip a byte
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if op == 1:  # delete a run of bytes
        return data[:at] + data[at + rng.randrange(1, 64) :]
    if op == 2:  # splice in a token
        return data[:at] + rng.choice(TOKENS) + data[at:]
    if op == 3:  # a key of ours with a hostile value, at some indentation
        line = b" " * rng.randrange(0, 9) + rng.choice(KEYS) + b": " + rng.choice(TOKENS)
        lines.insert(rng.randrange(len(lines) + 1), line)
    elif op == 4 and len(lines) > 1:  # delete a line
        del lines[rng.randrange(len(lines))]
    elif op == 5:  # duplicate a line, maybe many times
        i = rng.randrange(len(lines))
        lines[i:i] = [lines[i]] * rng.choice([1, 2, 10, 1000])
    elif op == 6 and len(lines) > 1:  # swap two lines
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 7:  # re-indent a line
        i = rng.randrange(len(lines))
        lines[i] = b" " * rng.randrange(0, 12) + lines[i].lstrip()
    elif op == 8:  # repeat a chunk: long lines, long values
        chunk = data[at : at + rng.randrange(1, 32)]
        return data[:at] + chunk * rng.choice([2, 100, 10_000]) + data[at:]
    elif op == 9:  # anchor a value and alias it elsewhere
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        if b": " in lines[i] and b": " in lines[j]:
            lines[i] = lines[i].replace(b": ", b": &z ", 1)
            lines[j] = lines[j].split(b": ", 1)[0] + b": *z"
    else:  # truncate
        return data[:at]
    return b"\n".join(lines)


def make_cases(directory: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    pool = sorted(seeds().items())
    for name, data in pool:  # every seed once as it is
        (directory / f"seed-{name}.yaml").write_bytes(data)
    for index in range(max(0, count - len(pool))):
        name, data = rng.choice(pool)
        for _ in range(rng.randint(1, 8)):
            data = mutate(data, rng)
        (directory / f"case-{index:06d}-{name}.yaml").write_bytes(data[: 3 * 1024 * 1024])


def run_worker(directory: Path) -> tuple[dict[str, int], list[dict[str, object]]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzzworker.py"), str(directory)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=max(600, CASES),
    )
    header, *results = (json.loads(line) for line in worker.stdout.splitlines())
    return header, results


def problems_of(result: dict[str, object]) -> list[str]:
    code, stderr = result["code"], str(result["stderr"])
    found = []
    if code not in (0, 1):
        found.append(f"exit status {code} (negative: killed by that signal; 2: an exception)")
    if "Traceback" in stderr:
        found.append("a traceback")
    lines = stderr.splitlines()
    if code == 1 and not any(line.startswith("vrrpd: ") for line in lines):
        found.append("exit 1 without an error line")
    stray = [line for line in lines if not line.startswith(("vrrpd: ", "warning: "))]
    if stray:
        found.append(f"{len(stray)} stray lines, the last {stray[-1][:200]!r}")
    found += [f"a line of {len(line)} characters" for line in lines if len(line) > LINE_MAX]
    return found


def test_every_mutation_ends_in_ok_or_one_line_errors_within_the_limits(tmp_path):
    make_cases(tmp_path, CASES, SEED)
    header, results = run_worker(tmp_path)
    assert len(results) == CASES
    failures = {r["file"]: problems_of(r) for r in results if problems_of(r)}
    outcomes = Counter("ok" if r["code"] == 0 else "error" if r["code"] == 1 else "failed" for r in results)
    slowest = max(results, key=lambda r: float(r["cpu"]))
    biggest = max(results, key=lambda r: int(r["maxrss_kb"]))
    print(
        f"\nconfig fuzz: {len(results)} files (seed {SEED}, {sys.executable}): {dict(outcomes)}; "
        f"max CPU {slowest['cpu']:.2f} s, max wall {max(float(r['wall']) for r in results):.2f} s "
        f"({slowest['file']}); max RSS {int(biggest['maxrss_kb']) // 1024} MB ({biggest['file']}); "
        f"worker baseline VmSize {header['baseline_vmsize_kb'] // 1024} MB, RLIMIT_AS {header['limit_kb'] // 1024} MB"
    )
    assert not failures, f"{len(failures)} files broke the rules, e.g. " + "; ".join(
        f"{name}: {', '.join(found)}" for name, found in list(failures.items())[:5]
    )
    # Both outcomes happen: the mutator is not so destructive that every file is an error.
    assert outcomes["ok"] > 0 and outcomes["error"] > 0


def test_the_mutator_is_deterministic_for_a_seed(tmp_path):
    first, second = tmp_path / "1", tmp_path / "2"
    first.mkdir()
    second.mkdir()
    make_cases(first, 60, 5)
    make_cases(second, 60, 5)
    assert [p.read_bytes() for p in sorted(first.iterdir())] == [p.read_bytes() for p in sorted(second.iterdir())]


def test_the_limits_catch_a_check_that_breaks_them(tmp_path):
    """The worker is what enforces the bounds: a file that still exploded (here: the alias limit raised out of
    the way) fails the run instead of passing unnoticed."""
    (tmp_path / "bomb.yaml").write_bytes(HOSTILE_SEEDS["laughs-key"])
    sitecustomize = tmp_path / "patch"
    sitecustomize.mkdir()
    (sitecustomize / "sitecustomize.py").write_text(
        "import vrrpd.config.yamlsrc as y\ny.MAX_ALIASED = 10**12\n"
        "import vrrpd.config.yamlsrc\nvrrpd.config.yamlsrc._SMALL_KEY = 10**12\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{sitecustomize}:{ROOT}"}
    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzzworker.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    )
    _, result = (json.loads(line) for line in worker.stdout.splitlines())
    assert problems_of(result), result
