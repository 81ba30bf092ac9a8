"""Hostile configuration files (issue #13, item 5): a file too large, alias bombs, numbers Python cannot convert,
values of megabytes and control characters all end in the usual one-sentence `ConfigError`, short, on one line,
naming the line where there is one; never a traceback, never a run without bound."""

from __future__ import annotations

import re

import pytest
from configcase import BASE, FILE, error

from vrrpd.config import ConfigError, load_config, parse_config, yamlsrc
from vrrpd.config.document import MAX_FILE_SIZE
from vrrpd.config.errors import CLIP, clip, sentence
from vrrpd.config.yamlsrc import MAX_ALIASED, MAX_NODES

SHORT = 300
"""No message in these tests may be longer: one line a terminal shows whole."""

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
"""Nine levels of nine aliases: 9**9 values from 400 bytes."""


def short_error(text: str) -> str:
    message = error(text)
    assert len(message) <= SHORT, message
    assert "\n" not in message
    return message


def test_billion_laughs_as_a_mapping_key_is_refused_at_the_alias():
    message = short_error(LAUGHS + "? *i\n: x\n")
    assert f"stand for more than {MAX_ALIASED:,} values in all" in message
    assert message.startswith(f"{FILE} (line 6): ")  # the first alias past the limit, in level f


def test_billion_laughs_as_a_value_is_refused():
    assert "stand for more than" in short_error(LAUGHS + "instances: *i\n")


def test_an_alias_to_the_value_it_is_part_of_is_refused():
    message = short_error("instances: &a [*a]\n")
    assert message == f"{FILE} (line 1): invalid YAML: this alias refers to the value it is part of"


def test_merge_keys_within_the_limit_still_work():
    text = "defaults: &c {priority: 120, advert_interval: 2}\ninstances:\n" + "".join(
        f"  - {{<<: *c, name: v{i}, interface: eth0, vrid: {i + 1}, virtual_addresses: [198.51.100.{i + 1}/24]}}\n"
        for i in range(200)
    )
    config = parse_config(text, FILE)
    assert len(config.instances) == 200
    assert {(inst.priority, inst.advert_interval) for inst in config.instances} == {(120, 2.0)}


def test_too_many_values_are_refused_at_the_first_one_past_the_limit(monkeypatch):
    monkeypatch.setattr(yamlsrc, "MAX_NODES", 1000)  # the real limit takes seconds to reach
    text = "instances:\n" + "  - 0\n" * 997 + "  - 1\n  - 2\n"  # the mapping, its key, the list, 997 items: 1000
    assert short_error(text) == f"{FILE} (line 999): the file holds more than 1,000 values"  # at the "1"
    assert MAX_NODES >= 131_000  # a file of 4095 instances in block style (yamlsrc.MAX_NODES)


@pytest.mark.parametrize("opening", ["[", "{a: ", "- "])
def test_deep_nesting_is_an_error(opening):
    closing = {"[": "]", "{a: ": "}", "- ": ""}[opening]
    text = "instances:\n  " + opening * 10_000 + "1" + closing * 10_000 + "\n"
    # libyaml's own nesting limit, else Python's stack (PyYAML without libyaml composes recursively).
    assert re.search("nested too deeply|exceeded maximum nesting depth", short_error(text))


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("0x" + "f" * 10_000, "0xfff"),
        ("0" + "7" * 10_000, "0777"),
        ("0b" + "1" * 40_000, "0b111"),
        ("1" + ":59" * 3000, "1:59:59"),
    ],
    ids=["hex", "octal-yaml11", "binary", "sexagesimal"],
)
def test_huge_integers_in_any_base_are_out_of_range_not_a_traceback(value, shown):
    # int() reads these (no digit limit for power-of-two bases), but str() of the result would raise ValueError.
    message = short_error(BASE.replace("vrid: 1", f"vrid: {value}"))
    assert message.startswith(f"{FILE}: instances[0].vrid (line 4): {shown}")
    assert message.endswith(f"… ({len(value)} characters) is outside 1..255")


def test_a_decimal_integer_past_pythons_digit_limit_names_the_line():
    message = short_error(BASE.replace("vrid: 1", "vrid: " + "9" * 5000))
    assert message.startswith(f"{FILE} (line 4): invalid YAML: '9999")
    assert "(5000 characters) is not a valid value (Python reads at most 4300 digits)" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (".inf", ".inf is outside 0.01..255 seconds"),
        ("-.inf", "-.inf is outside 0.01..255 seconds"),
        (".nan", ".nan is outside 0.01..255 seconds"),
        ("1e999", "expected a number of seconds, got the string '1e999'"),  # YAML 1.1 floats need a dot
        ("1.0e+999", "1.0e+999 is outside 0.01..255 seconds"),
        ("1" + "0" * 5000 + ".5", "1000"),
    ],
)
def test_floats_that_are_no_number_of_seconds(value, problem):
    message = short_error(BASE + f"    advert_interval: {value}\n")
    assert message.startswith(f"{FILE}: instances[0].advert_interval (line 6): {problem}")


def test_a_sexagesimal_float_too_large_for_a_float_names_the_line():
    message = short_error(BASE + "    advert_interval: 1" + ":59" * 3000 + ".5\n")
    assert message.startswith(f"{FILE} (line 6): invalid YAML: '1:59:59")
    assert message.endswith("is not a valid value (int too large to convert to float)")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (BASE.replace("eth0", "e" * 1_000_000), "instances[0].interface (line 3): 'eeee"),
        (BASE.replace("198.51.100.1/24", "x" * 1_000_000), "instances[0].virtual_addresses[0] (line 5): 'xxxx"),
        (BASE + "    unicast_peers: ['" + "y" * 1_000_000 + "']\n", "instances[0].unicast_peers[0] (line 6): 'yyyy"),
        ("control_socket: " + "s" * 1_000_000 + "\n" + BASE, "control_socket (line 1): 'ssss"),
    ],
    ids=["interface", "address", "peer", "socket"],
)
def test_a_value_of_a_megabyte_is_quoted_cut_with_its_length(text, where):
    message = short_error(text)
    assert message.startswith(f"{FILE}: {where}")
    assert "… (1000000 characters)" in message


def test_names_are_at_most_64_characters():
    message = short_error(BASE.replace("name: a", "name: " + "n" * 65))
    assert message.endswith("… (65 characters) is longer than 64 characters")
    assert parse_config(BASE.replace("name: a", "name: " + "n" * 64), FILE).instances[0].name == "n" * 64


def test_a_key_of_a_megabyte_is_cut_in_the_path():
    message = error(BASE + "    ? " + "k" * 1_000_000 + "\n    : 1\n")
    assert message.startswith(f"{FILE}: instances[0].{'k' * CLIP!r}… (1000000 characters) (line 7): unknown key")
    assert len(message) < 1000  # the list of known keys is long, but no longer for a longer key


def test_control_characters_are_escaped():
    message = short_error(BASE.replace("eth0", '"eth\\x1b[2J\\r\\n0"'))
    assert "\\x1b[2J\\r\\n0" in message
    assert "\x1b" not in message and "\r" not in message


def test_clip_quotes_short_values_whole_and_cuts_long_ones():
    assert clip("eth0") == "'eth0'"
    assert clip("x" * CLIP) == repr("x" * CLIP)
    assert clip("x" * (CLIP + 1)) == f"{'x' * CLIP!r}… ({CLIP + 1} characters)"
    assert clip("1\n2", quoted=False) == "1\\n2"


def test_sentence_is_one_line_even_for_an_unclipped_problem():
    text = sentence(FILE, "a\nb", 3, "bad " + "z" * 10_000 + "\n")
    assert "\n" not in text
    assert len(text) < 1000
    assert text.startswith(f"{FILE}: a\\nb (line 3): bad zzz")


def test_a_file_larger_than_the_limit_is_refused_unread(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(BASE + "#" * MAX_FILE_SIZE + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: the file is larger than 2 MiB, too large for a configuration"


def test_a_file_just_under_the_limit_is_read(tmp_path):
    path = tmp_path / "padded.yaml"
    path.write_text(BASE + "#" * (MAX_FILE_SIZE - len(BASE) - 1) + "\n")
    assert path.stat().st_size == MAX_FILE_SIZE
    assert load_config(path).instances[0].name == "a"


def test_an_endless_file_is_read_only_up_to_the_limit():
    with pytest.raises(ConfigError, match="larger than 2 MiB"):
        load_config("/dev/zero")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"instances:\x00\n", " (line 1): invalid YAML: character '\\x00' is not allowed"),
        (b"instances: []\n\x07\n", " (line 2): invalid YAML: character '\\x07' is not allowed"),
        (b"instances: \xff\xfe\n", ": not UTF-8 text (invalid start byte at byte 11)"),
        (b"\tinstances: []\n", " (line 1): invalid YAML: found character "),
    ],
    ids=["nul", "bell", "not-utf8", "tab"],
)
def test_binary_garbage_names_the_line(tmp_path, data, problem):
    path = tmp_path / "garbage.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}{problem}")


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_config(path).instances[0].name == "a"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("!!timestamp x", "'x' is not a valid value (not a timestamp)"),
        ("!!bool maybe", "'maybe' is not a valid value (not a bool)"),
        ("!!int x", "'x' is not a valid value (invalid literal for int() with base 10: 'x')"),
        ("!!float x", "'x' is not a valid value (could not convert string to float: 'x')"),
        ("!!int ''", "'' is not a valid value (not a int)"),
        ("!!float ''", "'' is not a valid value (not a float)"),
        ("!!seq .nan", "the tag seq needs a list"),
        ("!!map [1]", "the tag map needs a mapping"),
        ("!!seq {a: 1}", "the tag seq needs a list"),
    ],
)
def test_an_explicit_tag_on_a_value_that_does_not_match_it_names_the_line(value, problem):
    assert short_error(BASE + f"    preempt: {value}\n") == f"{FILE} (line 6): invalid YAML: {problem}"
