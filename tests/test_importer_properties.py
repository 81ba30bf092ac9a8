"""Properties of `vrrpctl import-keepalived` over generated keepalived.conf files (issue #12; the generator is
tests/keepalived_gen.py, and netns-tests/test_importer_oracle.py runs a fixed sample of the same strategy against
keepalived itself).

- A configuration keepalived runs always converts: no exception, YAML with every instance, and the YAML passes
  vrrpd's own validation (`parse_config`, what `vrrpd check` runs); `GeneratedInvalid` would be an importer bug.
- Any configuration, even with values keepalived rejects, ends in an exit status 0, 1 or 2 with its reasons on
  stderr, never a traceback; whatever YAML it prints validates.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from keepalived_gen import keepalived_conf

from vrrpd.cli.ctl import main
from vrrpd.config import parse_config
from vrrpd.importer import import_keepalived

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _write(text: str) -> Path:
    # Hypothesis runs many examples per test: a fresh directory each, not the function-scoped tmp_path.
    path = Path(tempfile.mkdtemp(prefix="vrrpd-gen-")) / "keepalived.conf"
    path.write_text(text)
    return path


@PROPERTY_SETTINGS
@given(keepalived_conf())
def test_a_configuration_keepalived_runs_converts_to_yaml_vrrpd_accepts(text: str) -> None:
    result = import_keepalived(str(_write(text)), config_id="lab1")
    config = parse_config(result.yaml, "<generated>")
    assert [i.name for i in config.instances] == re.findall(r"^vrrp_instance (\S+) \{", text, re.M)


@PROPERTY_SETTINGS
@given(keepalived_conf(wild=True))
def test_any_configuration_ends_in_an_explicit_exit_never_a_traceback(text: str) -> None:
    path = _write(text)
    result = CliRunner().invoke(main, ["import-keepalived", "--config-id", "lab1", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.stderr
    if result.exit_code:
        assert str(path) in result.stderr or "vrrpctl:" in result.stderr
    if result.stdout.strip():
        parse_config(result.stdout, "<generated>")


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_the_generator_covers_the_mapped_keywords() -> None:
    """Guards the strategy itself: over a fixed sample every keyword the importer maps shows up."""
    seen = "\n".join(keepalived_conf().example() for _ in range(60))
    keywords = [
        "vrrp_strict", "vrrp_version", "vrrp_script", "vrrp_sync_group", "state MASTER", "nopreempt", "preempt_delay",
        "auth_pass", "dev eth1", "track_script", "track_interface", " weight 0", "unicast_peer", "unicast_src_ip",
        "version 3", "advert_int", "no_accept",
    ]  # fmt: skip
    assert [k for k in keywords if k not in seen] == []
