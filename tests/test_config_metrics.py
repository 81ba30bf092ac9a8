"""The top-level `metrics` section (issue #15, vrrpd.config.metrics): IPv4 ADDR:PORT and [IPv6]:PORT accepted,
everything else refused with one sentence naming file, key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from vrrpd.config import ConfigError, parse_config
from vrrpd.config.metrics import MetricsConfig

INSTANCES = """\
instances:
  - {name: a, interface: eth0, vrid: 1, virtual_addresses: [198.51.100.100/24]}
"""


def config_with(metrics: str) -> str:
    return f"{INSTANCES}metrics:\n{metrics}"


def test_no_metrics_section_means_no_exporter():
    assert parse_config(INSTANCES).metrics is None


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [
        ("198.51.100.7:9650", "198.51.100.7", 9650),
        ("0.0.0.0:1", "0.0.0.0", 1),
        ('"[2001:db8::7]:65535"', "2001:db8::7", 65535),
        ('"[::]:9650"', "::", 9650),
    ],
)
def test_listen_takes_an_ipv4_or_a_bracketed_ipv6_address_and_a_port(listen, host, port):
    metrics = parse_config(config_with(f"  listen: {listen}\n"), "f.yaml").metrics
    assert metrics == MetricsConfig(host, port)
    assert metrics.listen == listen.strip('"')


@pytest.mark.parametrize(
    "listen",
    [
        "198.51.100.7",  # no port
        "198.51.100.7:0",
        "198.51.100.7:65536",
        "198.51.100.7:http",
        "198.51.100.7:+80",
        "localhost:9650",  # names are not resolved
        '"2001:db8::7:9650"',  # IPv6 needs brackets
        '"[198.51.100.7]:9650"',  # brackets are for IPv6
        '"[2001:db8::7]9650"',
        ":9650",
    ],
)
def test_a_bad_listen_is_one_sentence_naming_file_key_and_line(listen):
    with pytest.raises(ConfigError) as err:
        parse_config(config_with(f"  listen: {listen}\n"), "f.yaml")
    message = str(err.value)
    assert message.startswith("f.yaml: metrics.listen (line 4): ") and "is not ADDR:PORT" in message
    assert "\n" not in message


def test_listen_must_be_a_string_and_is_required_and_other_keys_are_refused():
    with pytest.raises(ConfigError, match=r"metrics.listen \(line 4\): expected a string"):
        parse_config(config_with("  listen: 9650\n"), "f.yaml")
    with pytest.raises(ConfigError, match=r"metrics \(line 4\): missing required key listen"):
        parse_config(config_with("  {}\n"), "f.yaml")
    with pytest.raises(ConfigError, match=r"metrics.port \(line 5\): unknown key"):
        parse_config(config_with("  listen: 198.51.100.7:9650\n  port: 1\n"), "f.yaml")
    with pytest.raises(ConfigError, match=r"metrics \(line 3\): expected a mapping"):
        parse_config(f"{INSTANCES}metrics: 198.51.100.7:9650\n", "f.yaml")


def test_the_commented_example_in_etc_vrrpd_yaml_validates_once_uncommented():
    text = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text()
    start = text.index("# metrics:\n")
    block = text[start : text.index("\n\n", start)].splitlines()
    example = "\n".join(line[2:] for line in block if not line.lstrip("# ").startswith("#"))
    assert parse_config(f"{INSTANCES}{example}\n", "etc/vrrpd.yaml").metrics == MetricsConfig("198.51.100.7", 9650)
