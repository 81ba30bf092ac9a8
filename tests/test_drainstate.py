"""The drained state file (vrrpd.services.drainstate): where it lives, how it is written and what it refuses."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from vrrpd.defaults import DEFAULT_STATE_DIRECTORY
from vrrpd.protocol import Drain
from vrrpd.services.drainstate import DrainFile, DrainFileError, state_directory


def test_the_directory_is_systemds_state_directory_or_the_default():
    assert state_directory({}) == DEFAULT_STATE_DIRECTORY == Path("/var/lib/vrrpd")
    assert state_directory({"STATE_DIRECTORY": ""}) == DEFAULT_STATE_DIRECTORY
    assert state_directory({"STATE_DIRECTORY": "/var/lib/vrrpd"}) == Path("/var/lib/vrrpd")
    # Several StateDirectory= entries: systemd lists them all, colon-separated; ours is the first.
    assert state_directory({"STATE_DIRECTORY": "/var/lib/vrrpd:/var/lib/other"}) == Path("/var/lib/vrrpd")


def test_a_missing_file_drains_nothing_and_a_saved_one_reads_back(tmp_path):
    file = DrainFile(tmp_path / "state" / "sub")
    assert file.load() == {}
    file.save({"b": Drain.SOFT, "a": Drain.HARD})  # the directory is made (0750), the file 0640
    assert file.load() == {"a": Drain.HARD, "b": Drain.SOFT}
    assert json.loads(file.path.read_text()) == {"version": 1, "drained": {"a": "hard", "b": "soft"}}
    assert stat.S_IMODE(os.stat(file.path).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(file.path.parent).st_mode) == 0o750
    file.save({})
    assert file.load() == {} and sorted(p.name for p in file.path.parent.iterdir()) == ["drained.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    file = DrainFile(tmp_path)
    file.save({"a": Drain.HARD})

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError, match="No space"):
        file.save({"a": Drain.SOFT})
    monkeypatch.undo()
    assert file.load() == {"a": Drain.HARD} and [p.name for p in tmp_path.iterdir()] == ["drained.json"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a drained state vrrpd wrote"),
        (b'{"version": 2, "drained": {}}', "not a drained state vrrpd wrote"),
        (b'{"version": 1, "drained": {}, "more": 1}', "not a drained state vrrpd wrote"),
        (b'{"version": 1, "drained": ["a"]}', '"drained" is not an object of instance names'),
        (b'{"version": 1, "drained": {"a": true}}', "instance 'a' is drained True, which is neither"),
        (b" " * (1024 * 1024 + 1), "larger than 1048576 bytes"),
    ],
)
def test_a_file_vrrpd_did_not_write_is_refused_with_the_reason(tmp_path, content, why):
    file = DrainFile(tmp_path)
    file.path.write_bytes(content)
    with pytest.raises(DrainFileError) as refused:
        file.load()
    assert str(refused.value).startswith(f"{file.path}: ") and why in str(refused.value)


def test_a_file_that_cannot_be_read_is_refused_with_the_reason(tmp_path):
    file = DrainFile(tmp_path)
    file.path.mkdir()  # a directory where the file should be
    with pytest.raises(DrainFileError, match=r"drained.json: cannot be read: Is a directory"):
        file.load()
