"""Property tests: whatever the text, parse_config returns a Config or raises ConfigError, nothing else."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from vrrpd.config import ConfigError, parse_config
from vrrpd.config.instance import INSTANCE_KEYS

EXAMPLE_LINES = (Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml").read_text().splitlines()
KEYS = [*INSTANCE_KEYS, "control_socket", "defaults", "instances", "type", "password", "count", "refresh"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["eth0", "198.51.100.1/24", "2001:db8::1/64", "simple", "accept-both", "yes", "", "a b"]),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6),
    ),
    max_leaves=30,
)


def check(text: str) -> None:
    try:
        config = parse_config(text, "fuzz.yaml")
    except ConfigError as e:
        message = str(e)
        assert message.startswith("fuzz.yaml")
        assert "\n" not in message.rstrip("\n") or "invalid YAML" in message
        return
    assert config.instances
    for inst in config.instances:
        inst.router_config()  # a Config that loads always yields valid routers


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
@example("a: &x [*x]")
@example("[" * 5000)
@example("x: 2024-02-30")
@example("? [1]\n: 2")
@example("instances: [{name: a, interface: eth0, vrid: 1, virtual_addresses: [1.2.3.4/33]}]")
def test_arbitrary_text(text):
    check(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_arbitrary_documents(doc):
    check(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_example(data):
    """Near-misses of a valid file reach the deep checks that random text rarely gets past."""
    lines = list(EXAMPLE_LINES)
    for _ in range(data.draw(st.integers(1, 3))):
        index = data.draw(st.integers(0, len(lines) - 1))
        line = lines[index]
        value = data.draw(st.one_of(scalars.map(lambda v: yaml.safe_dump(v).splitlines()[0]), st.text(max_size=10)))
        if ":" in line and data.draw(st.booleans()):
            lines[index] = line.split(":", 1)[0] + f": {value}"
        elif data.draw(st.booleans()):
            del lines[index]
        else:
            lines.insert(index, line)
    check("\n".join(lines))
