"""Golden outputs: what an operator sees must not change by accident (issue #10, before the package move).

- `vrrpctl import-keepalived` over every fixture in tests/keepalived-confs/: exit status, the YAML and every
  message on stderr, byte for byte.
- Every config error sentence and warning in tests/golden/config/cases.json.
- `vrrpctl status` rendered from tests/golden/status/status.json, a status object taken from a real daemon in
  network namespaces (netns-tests/test_status_golden.py checks that a real daemon still sends exactly those keys).

After a deliberate change, regenerate with `VRRPD_UPDATE_GOLDEN=1 pytest tests/test_golden.py` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from vrrpd.cli.ctl import main
from vrrpd.cli.status import render_status
from vrrpd.config import ConfigError, parse_config

HERE = Path(__file__).resolve().parent
CONFS = HERE / "keepalived-confs"
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("VRRPD_UPDATE_GOLDEN") == "1"


def check(path: Path, text: str) -> None:
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"{path} is missing; create it with VRRPD_UPDATE_GOLDEN=1"
    expected = path.read_text()
    assert text == expected, f"{path.name} differs from its golden output (VRRPD_UPDATE_GOLDEN=1 rewrites it)"


@pytest.mark.parametrize("fixture", sorted(p.name for p in CONFS.glob("*.conf")))
def test_import_keepalived_output_is_unchanged(fixture):
    # A fixed --config-id: @ID lines must not depend on this machine's hostname.
    result = CliRunner().invoke(main, ["import-keepalived", "--config-id", "golden", str(CONFS / fixture)])
    text = f"exit {result.exit_code}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    check(GOLDEN / "import-keepalived" / f"{Path(fixture).stem}.txt", text.replace(str(CONFS), "<confs>"))


def test_golden_importer_outputs_have_no_strays():
    # A fixture renamed or removed must take its golden file with it.
    stems = {p.stem for p in CONFS.glob("*.conf")}
    assert stems, "no fixtures"
    assert {p.stem for p in (GOLDEN / "import-keepalived").glob("*.txt")} == stems


def test_vrrpctl_status_table_is_unchanged():
    status = json.loads((GOLDEN / "status" / "status.json").read_text())
    text = render_status(status)
    # The input covers every section the table view has, so the golden file exercises all of them.
    for heading in ("NAME", "INSTANCE  KIND", "SOURCE", "SYNC_GROUP  STATE", "SYNC_GROUP  KIND", ": hooks"):
        assert heading in text
    check(GOLDEN / "status" / "status.txt", text)


def test_config_error_and_warning_sentences_are_unchanged():
    """Every config error sentence and warning the config tests provoked (tests/golden/config/cases.json, taken
    from their documents when this test was written), one outcome per document."""
    cases = json.loads((GOLDEN / "config" / "cases.json").read_text())
    assert len(cases) > 200
    lines = []
    for index, case in enumerate(cases):
        try:
            config = parse_config(case["text"], case["file"])
        except ConfigError as e:
            lines.append(f"{index}: error: {e}")
        else:
            assert config.warnings, "a case without warnings pins no sentence"
            lines += [f"{index}: warning: {w}" for w in config.warnings]
    check(GOLDEN / "config" / "sentences.txt", "\n".join(lines) + "\n")
