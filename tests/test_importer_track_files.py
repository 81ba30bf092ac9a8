"""vrrpctl import-keepalived: track_file / vrrp_track_file (issue #5 points 2 and 8).

tests/keepalived-confs/track-files.conf also goes through test_importer.py's fixture checks (real `keepalived -t`
accepts it; the CLI output validates). keepalived 2.2.7's behaviour that the mapping follows was measured in a lab
(see vrrpd/importer/track_files.py): a missing or non-numeric file reads as 0, reverse negates the weight.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from vrrpd.config import parse_config
from vrrpd.config.track_files import FileConfig
from vrrpd.importer import import_keepalived
from vrrpd.protocol.tracking import Tracker, TrackerKind

CONFS = Path(__file__).resolve().parent / "keepalived-confs"
F = TrackerKind.FILE


def convert(path: Path):
    result = import_keepalived(str(path))
    return result, parse_config(result.yaml, "<test>")


def messages(result, severity: str) -> list[str]:
    return [str(m) for m in result.messages if m.severity == severity]


def test_track_files_fixture_maps_file_weight_init_and_reverse() -> None:
    result, config = convert(CONFS / "track-files.conf")
    assert result.complete, messages(result, "warning")
    assert config.track_files == (
        FileConfig("tf_offset", Path("/run/vrrpd-fixture/offset"), 1.0, 0, init_value=0),
        FileConfig("tf_drain", Path("/run/vrrpd-fixture/drain"), 1.0, 0),  # vrrp_track_file: the older name
        FileConfig("tf_boost", Path("/run/vrrpd-fixture/boost"), 1.0, 0, init_value=3, init_overwrite=True),
    )
    (inst,) = config.instances
    assert inst.track_files == (
        Tracker(F, "tf_offset", -10),  # the block's weight
        Tracker(F, "tf_drain", None),  # weight 0 = FAULT while non-zero
        Tracker(F, "tf_boost", -5),  # the instance's weight 5, reversed
    )
    notes = messages(result, "note")
    assert any("track-files.conf:3: note: track_file tf_offset: keepalived reads a missing" in n for n in notes)
    assert any("track-files.conf:33: note: track_file tf_boost: reverse" in n for n in notes)
    assert any("track-files.conf:19: note: track_file tf_unused: no instance or sync group" in n for n in notes)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "keepalived.conf"
    path.write_text(textwrap.dedent(text))
    return path


INSTANCE = """\
vrrp_instance VI_1 {{
    interface eth0
    virtual_router_id 1
    virtual_ipaddress {{
        198.51.100.1/24
    }}
    track_file {{
{entries}
    }}
}}
"""


def test_default_weight_is_1_and_unknown_names_and_big_weights_warn(tmp_path: Path) -> None:
    text = 'track_file a {\n    file "/run/a"\n}\n' + INSTANCE.format(
        entries="        a\n        missing weight 3\n        a2 weight -254"
    )
    text = 'track_file a2 {\n    file "/run/a2"\n}\n' + text
    result, config = convert(write(tmp_path, text))
    assert config.instances[0].track_files == (Tracker(F, "a", 1), Tracker(F, "a2", -253))
    warnings = messages(result, "warning")
    assert any("track_file missing: no track_file block of that name" in w for w in warnings)
    assert any("weight -254 is outside vrrpd's -253..253; imported as -253" in w for w in warnings)


def test_relative_or_missing_file_line_is_not_imported(tmp_path: Path) -> None:
    text = "track_file r {\n    file relative\n}\ntrack_file n {\n    weight 2\n}\n" + INSTANCE.format(
        entries="        r\n        n"
    )
    result, config = convert(write(tmp_path, text))
    assert config.track_files == () and config.instances[0].track_files == ()
    warnings = messages(result, "warning")
    assert any("track_file r: file 'relative' is relative" in w for w in warnings)
    assert any("track_file n: has no file line" in w for w in warnings)


def test_without_tracking_support_shows_the_mapping(tmp_path: Path) -> None:
    text = 'track_file a {\n    file "/run/a"\n    weight 0\n}\n' + INSTANCE.format(entries="        a")
    result = import_keepalived(str(write(tmp_path, text)), tracking=False)
    assert "track_files" not in result.document
    assert any(
        "this vrrpd cannot track files; would map to track_files: [{name: a, on_failure: fault}]" in w
        for w in messages(result, "warning")
    )
