"""vrrpd.config: the schema, its defaults, and one-sentence errors naming file, key path and line."""

from __future__ import annotations

from ipaddress import ip_interface, ip_network
from pathlib import Path

import pytest
from configcase import BASE, FILE, error, parse

from vrrpd.config import (
    AcceptChecksum,
    Authentication,
    ConfigError,
    GarpConfig,
    InstanceConfig,
    load_config,
)
from vrrpd.config.instance import INSTANCE_CHECKS, INSTANCE_KEYS
from vrrpd.defaults import DEFAULT_CONTROL_SOCKET
from vrrpd.protocol.packet import AuthType, ChecksumForm, ChecksumMode, Family
from vrrpd.protocol.parameters import AddressCheck, RouterConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "etc" / "vrrpd.yaml"


def with_key(line: str) -> str:
    """BASE plus one more key of instances[0] on line 6."""
    return BASE + f"    {line}\n"


# --- valid input ----------------------------------------------------------------------------------------


def test_example_file_loads_without_warnings():
    config = load_config(EXAMPLE)
    assert config.warnings == ()
    assert config.source == str(EXAMPLE)
    v4, v6 = config.instances
    assert (v4.name, v4.family, v4.vrid, v4.priority) == ("gw-v4", Family.IPV4, 51, 150)
    assert (v6.name, v6.family, v6.vrid, v6.advert_interval) == ("gw-v6", Family.IPV6, 51, 0.5)
    assert v6.router_config().advert_interval_cs == 50
    for inst in config.instances:
        for address in inst.virtual_addresses:  # documentation ranges only
            assert any(address.ip in ip_network(net) for net in ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"))


def test_defaults_of_every_key():
    config = parse(BASE)
    assert config.control_socket == DEFAULT_CONTROL_SOCKET
    assert config.source == FILE
    (inst,) = config.instances
    assert inst == InstanceConfig(
        name="a",
        interface="eth0",
        vrid=1,
        virtual_addresses=(ip_interface("198.51.100.1/24"),),
        priority=100,
        advert_interval=1.0,
        preempt=True,
        preempt_delay=0.0,
        version=3,
        checksum=ChecksumForm.PSEUDO_HEADER,
        accept_checksum=AcceptChecksum.BOTH,
        address_check=AddressCheck.LOG,
        advert_on_lower_priority=True,
        authentication=None,
        garp=GarpConfig(count=5, interval=0, repeat_delay=5, repeat_count=5, refresh=0),
        virtual_mac=False,
        accept_mode=True,  # keepalived's default; RFC 9568 §6.1 says false
    )
    assert inst.checksum_mode is ChecksumMode.ACCEPT_BOTH
    assert inst.accepts_traffic
    assert inst.line == 2


def test_every_instance_key_has_a_check_and_every_check_a_key():
    assert set(INSTANCE_CHECKS) == set(INSTANCE_KEYS)
    # every field but line and address_interfaces (written as the interface of an address, not as a key)
    assert len(INSTANCE_KEYS) == len(set(INSTANCE_KEYS)) == len(InstanceConfig.__dataclass_fields__) - 2


def test_router_config_converts_seconds_to_centiseconds():
    config = parse(
        BASE
        + """\
    priority: 200
    advert_interval: 0.07
    preempt: false
    preempt_delay: 2.5
    address_check: drop
    advert_on_lower_priority: false
"""
    )
    assert config.instances[0].router_config() == RouterConfig(
        vrid=1,
        addresses=(ip_interface("198.51.100.1/24").ip,),
        priority=200,
        advert_interval_cs=7,  # 0.07 * 100 = 7.000000000000001: rounded, not truncated
        preempt=False,
        preempt_delay=2.5,
        address_check=AddressCheck.DROP,
        advert_on_lower_priority=False,
    )


def test_vrrpv2_with_authentication():
    config = parse(
        BASE
        + """\
    version: 2
    advert_interval: 3
    authentication: {type: simple, password: "s3cret"}
"""
    )
    inst = config.instances[0]
    assert inst.authentication == Authentication(AuthType.SIMPLE, b"s3cret")
    assert "s3cret" not in repr(inst)
    rc = inst.router_config()
    assert (rc.version, rc.advert_interval_cs, rc.auth_type, rc.auth_data) == (2, 300, AuthType.SIMPLE, b"s3cret")


def test_defaults_apply_and_instances_override():
    config = parse("""\
        control_socket: /run/other/ctl.sock
        defaults:
          priority: 120
          checksum: message-only
          garp: {count: 2, refresh: 60}
        instances:
          - name: a
            interface: eth0
            vrid: 1
            virtual_addresses: [198.51.100.1/24]
          - name: b
            interface: eth0
            vrid: 2
            priority: 90
            garp: {count: 3}
            virtual_addresses: [198.51.100.2/24]
        """)
    a, b = config.instances
    assert str(config.control_socket) == "/run/other/ctl.sock"
    assert (a.priority, b.priority) == (120, 90)
    assert a.checksum is b.checksum is ChecksumForm.MESSAGE_ONLY
    assert a.garp == GarpConfig(count=2, refresh=60)
    assert b.garp == GarpConfig(count=3, refresh=60)  # garp merges key by key


@pytest.mark.parametrize(
    ("keys", "family", "version", "receive"),
    [
        ("", 4, 3, ("pseudo-header", "message-only")),
        ("accept_checksum: strict", 4, 3, ("pseudo-header",)),
        ("accept_checksum: strict\n    checksum: message-only", 4, 3, ("message-only",)),
        ("accept_checksum: both\n    checksum: message-only", 4, 3, ("pseudo-header", "message-only")),
        ("accept_checksum: strict", 6, 3, ("pseudo-header",)),  # RFC 8200 pseudo-header, no choice
        ("", 6, 3, ("pseudo-header",)),
        ("", 4, 2, ("message-only",)),  # RFC 3768: VRRPv2 never has a pseudo-header
    ],
)
def test_accept_checksum_gives_the_effective_receive_forms(keys, family, version, receive):
    text = BASE if family == 4 else BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]')
    text += f"    version: {version}\n" + (f"    {keys}\n" if keys else "")
    (inst,) = parse(text).instances
    assert tuple(form.value for form in inst.accepted_checksums) == receive


def test_accept_checksum_strict_follows_checksum_as_a_default():
    config = parse("defaults:\n  accept_checksum: strict\n  checksum: message-only\n" + BASE)
    (inst,) = config.instances
    assert inst.accept_checksum is AcceptChecksum.STRICT
    assert inst.checksum_mode is ChecksumMode.MESSAGE_ONLY
    assert config.warnings == ()


def test_virtual_mac_and_accept_mode_from_defaults_and_overrides():
    config = parse(
        "defaults:\n  virtual_mac: true\n  accept_mode: true\n"
        + BASE
        + "  - name: b\n    interface: eth0\n    vrid: 2\n    virtual_addresses: [198.51.100.2/24]\n"
        "    virtual_mac: false\n    accept_mode: false\n"
    )
    a, b = config.instances
    assert (a.virtual_mac, a.accept_mode, a.accepts_traffic) == (True, True, True)
    assert (b.virtual_mac, b.accept_mode, b.accepts_traffic) == (False, False, False)


def test_owner_always_accepts_and_accept_mode_false_on_it_is_a_warning():
    config = parse(with_key("priority: 255\n    accept_mode: false"))
    (inst,) = config.instances
    assert inst.accepts_traffic  # RFC 9568 §6.1: the owner always accepts
    assert config.warnings == (
        f"{FILE}: instances[0].accept_mode (line 7): has no effect: the address owner (priority 255) always "
        "accepts packets to its addresses (RFC 9568 §6.1)",
    )
    # Inherited from defaults it is the general rule, not a mistake on this instance: no warning.
    assert parse("defaults:\n  accept_mode: false\n" + with_key("priority: 255")).warnings == ()


def test_same_vrid_on_both_families_and_other_interfaces_is_fine():
    config = parse("""\
        instances:
          - {name: a, interface: eth0, vrid: 7, virtual_addresses: [198.51.100.1/24]}
          - {name: b, interface: eth0, vrid: 7, virtual_addresses: ["2001:db8::1/64"]}
          - {name: c, interface: eth1, vrid: 7, virtual_addresses: [203.0.113.1/24]}
        """)
    assert [i.family for i in config.instances] == [Family.IPV4, Family.IPV6, Family.IPV4]


def test_yaml_anchors_and_merge_keys_work():
    config = parse("""\
        instances:
          - &common
            name: a
            interface: eth0
            vrid: 1
            priority: 150
            virtual_addresses: [198.51.100.1/24]
          - <<: *common
            name: b
            vrid: 2
            virtual_addresses: [198.51.100.2/24]
        """)
    assert [(i.name, i.vrid, i.priority) for i in config.instances] == [("a", 1, 150), ("b", 2, 150)]


def test_yaml_11_booleans_are_booleans():
    config = parse(with_key("preempt: no"))
    assert config.instances[0].preempt is False


def test_instance_equality_ignores_its_line():
    a = parse(BASE).instances[0]
    b = parse("# moved down\n" + BASE).instances[0]
    assert a.line != b.line and a == b


def test_config_instance_lookup():
    config = parse(BASE)
    assert config.instance("a").vrid == 1
    with pytest.raises(KeyError):
        config.instance("nope")


# --- errors: one sentence, file, key path, line ---------------------------------------------------------

ERRORS = [
    # (case id, text, expected message after "FILE: ")
    ("range", with_key("priority: 300"), "instances[0].priority (line 6): 300 is outside 1..255"),
    ("priority-zero", with_key("priority: 0"), "instances[0].priority (line 6): 0 is outside 1..255"),
    ("vrid-range", BASE.replace("vrid: 1", "vrid: 256"), "instances[0].vrid (line 4): 256 is outside 1..255"),
    (
        "int-type",
        with_key("priority: high"),
        "instances[0].priority (line 6): expected a whole number 1..255, got the string 'high'",
    ),
    (
        "float-int",
        with_key("priority: 100.5"),
        "instances[0].priority (line 6): expected a whole number 1..255, got the number 100.5",
    ),
    (
        "bool-not-int",
        with_key("priority: yes"),
        "instances[0].priority (line 6): expected a whole number 1..255, got 'yes', which YAML reads as a boolean",
    ),
    (
        "quoted-bool",
        with_key('preempt: "yes"'),
        "instances[0].preempt (line 6): expected true or false, got the string 'yes'",
    ),
    ("int-bool", with_key("preempt: 1"), "instances[0].preempt (line 6): expected true or false, got the number 1"),
    (
        "unknown-key",
        with_key("preemt: false"),
        "instances[0].preemt (line 6): unknown key (did you mean preempt?)",
    ),
    (
        "keepalived-key",
        with_key("advert_int: 2"),
        "instances[0].advert_int (line 6): unknown key (this is keepalived's name; vrrpd uses advert_interval)",
    ),
    (
        "unknown-top",
        "instance: []\n",
        "instance (line 1): unknown key (did you mean instances?)",
    ),
    ("duplicate-key", with_key("vrid: 2"), "instances[0].vrid (line 6): is given twice in the same mapping"),
    ("missing", "instances:\n  - name: a\n    interface: eth0\n", "instances[0] (line 2): missing required key vrid"),
    ("no-instances", "defaults: {}\n", "(line 1): missing required key instances"),
    ("empty-instances", "instances: []\n", "instances (line 1): must not be empty"),
    ("instances-not-list", "instances: {a: 1}\n", "instances (line 1): expected a list, got a mapping"),
    ("instance-not-map", "instances:\n  - eth0\n", "instances[0] (line 2): expected a mapping, got the string 'eth0'"),
    ("top-not-map", "- 1\n", "(line 1): expected a mapping, got a list"),
    ("empty-file", "", "(line 1): the file is empty; it needs at least an instances list"),
    (
        "bad-yaml",
        "instances: [\n",
        "(line 2): invalid YAML: did not find expected node content (while parsing a flow node)",
    ),
    (
        "bad-date",
        "instances: 2024-02-30\n",
        "(line 1): invalid YAML: '2024-02-30' is not a valid value (day is out of range for month)",
    ),
    (
        "python-tag",
        "instances: !!python/name:os.system\n",
        "(line 1): invalid YAML: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/name:os.system'",
    ),
    ("non-string-key", "instances:\n  - 1: x\n", "instances[0] (line 2): key 1 is not a string"),
    ("list-key", "instances:\n  - ? [1]\n    : x\n", "instances[0] (line 3): key [1] is not a string"),
    (
        "name-chars",
        BASE.replace("name: a", "name: a b"),
        "instances[0].name (line 2): 'a b' may only contain letters, digits, '_', '.' and '-'",
    ),
    (
        "name-number",
        BASE.replace("name: a", "name: 10"),
        "instances[0].name (line 2): expected a string, got the number 10 (quote it)",
    ),
    (
        "iface-bool",
        BASE.replace("eth0", "on"),
        "instances[0].interface (line 3): expected a string, got 'on', which YAML reads as a boolean (quote it)",
    ),
    (
        "iface-long",
        BASE.replace("eth0", "a-very-long-interface"),
        "instances[0].interface (line 3): 'a-very-long-interface' is not a valid Linux interface name",
    ),
    (
        "vip-no-prefix",
        BASE.replace("198.51.100.1/24", "198.51.100.1"),
        "instances[0].virtual_addresses[0] (line 5): '198.51.100.1' needs a prefix length, e.g. "
        "198.51.100.1/24 or 198.51.100.1/64",
    ),
    (
        "vip-bad",
        BASE.replace("198.51.100.1/24", "198.51.100.300/24"),
        "instances[0].virtual_addresses[0] (line 5): '198.51.100.300/24' is not an IPv4 or IPv6 address with prefix",
    ),
    (
        "vip-multicast",
        BASE.replace("198.51.100.1/24", "224.0.0.18/32"),
        "instances[0].virtual_addresses[0] (line 5): 224.0.0.18 is not a unicast address",
    ),
    (
        "vip-zone",
        BASE.replace("198.51.100.1/24", '"fe80::1%eth0/64"'),
        "instances[0].virtual_addresses[0] (line 5): 'fe80::1%eth0/64' must not carry a zone; the instance's "
        "interface is the zone",
    ),
    (
        "vip-mixed",
        BASE.replace("[198.51.100.1/24]", '[198.51.100.1/24, "2001:db8::1/64"]'),
        "instances[0].virtual_addresses[1] (line 5): 2001:db8::1/64 is not IPv4 like "
        "instances[0].virtual_addresses[0] (one family per instance)",
    ),
    (
        "vip-dup",
        BASE.replace(
            "    virtual_addresses: [198.51.100.1/24]",
            "    virtual_addresses:\n      - 198.51.100.1/24\n      - 198.51.100.1/25",
        ),
        "instances[0].virtual_addresses[1] (line 7): 198.51.100.1 is already listed at "
        "instances[0].virtual_addresses[0]",
    ),
    (
        "vip-empty",
        BASE.replace("[198.51.100.1/24]", "[]"),
        "instances[0].virtual_addresses (line 5): must not be empty",
    ),
    (
        "interval-step",
        with_key("advert_interval: 0.015"),
        "instances[0].advert_interval (line 6): 0.015 is not a multiple of 0.01 seconds (VRRPv3 counts centiseconds)",
    ),
    (
        "interval-v3-max",
        with_key("advert_interval: 41"),
        "instances[0].advert_interval (line 6): 41 is over 40.95 seconds, the VRRPv3 maximum",
    ),
    (
        "interval-zero",
        with_key("advert_interval: 0"),
        "instances[0].advert_interval (line 6): 0 is outside 0.01..255 seconds",
    ),
    (
        "interval-nan",
        with_key("advert_interval: .nan"),
        "instances[0].advert_interval (line 6): .nan is outside 0.01..255 seconds",
    ),
    (
        "preempt-delay",
        with_key("preempt_delay: 1001"),
        "instances[0].preempt_delay (line 6): 1001 is outside 0..1000 seconds",
    ),
    ("version", with_key("version: 4"), "instances[0].version (line 6): expected 2 or 3, got the number 4"),
    (
        "v2-interval",
        with_key("version: 2\n    advert_interval: 1.5"),
        "instances[0].advert_interval (line 7): 1.5 is not whole seconds, as VRRPv2 needs (version 2 at "
        "instances[0].version, line 6)",
    ),
    (
        "v2-ipv6",
        BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]') + "    version: 2\n",
        "instances[0].version (line 6): VRRPv2 is IPv4 only (RFC 3768) but the addresses are IPv6",
    ),
    (
        "v2-ipv6-from-defaults",
        "defaults:\n  version: 2\n" + BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]'),
        "instances[0].virtual_addresses (line 7): VRRPv2 (from defaults.version, line 2) is IPv4 only (RFC "
        "3768) but the addresses are IPv6",
    ),
    (
        "v2-interval-from-defaults",
        "defaults:\n  advert_interval: 0.5\n" + BASE + "    version: 2\n",
        "instances[0].version (line 8): advert_interval 0.5 (from defaults.advert_interval, line 2) is not "
        "whole seconds, as VRRPv2 needs",
    ),
    (
        "checksum",
        with_key("checksum: message_only"),
        "instances[0].checksum (line 6): 'message_only' is not one of pseudo-header, message-only (did you "
        "mean message-only?)",
    ),
    (
        "accept-checksum",
        with_key("accept_checksum: accept-both"),
        "instances[0].accept_checksum (line 6): 'accept-both' is not one of both, strict",
    ),
    (
        "checksum-receive-renamed",
        with_key("checksum_receive: accept-both"),
        "instances[0].checksum_receive (line 6): unknown key (renamed; use accept_checksum: both | strict "
        "(strict accepts only the form set by checksum))",
    ),
    (
        "virtual-mac",
        with_key('virtual_mac: "yes"'),
        "instances[0].virtual_mac (line 6): expected true or false, got the string 'yes'",
    ),
    (
        "accept-mode",
        with_key("accept_mode: 1"),
        "instances[0].accept_mode (line 6): expected true or false, got the number 1",
    ),
    (
        "use-vmac",
        with_key("use_vmac: true"),
        "instances[0].use_vmac (line 6): unknown key (this is keepalived's name; vrrpd uses virtual_mac: true)",
    ),
    (
        "address-check",
        with_key("address_check: 1"),
        "instances[0].address_check (line 6): the number 1 is not one of log, drop",
    ),
    (
        "auth-v3",
        with_key("authentication: {type: simple, password: x}"),
        "instances[0].authentication (line 6): is VRRPv2 only (RFC 5798 removed authentication); set "
        "version: 2 or remove it",
    ),
    (
        "auth-long",
        with_key("version: 2\n    authentication: {type: simple, password: 123456789}"),
        "instances[0].authentication.password (line 7): expected a string, got the number 123456789 (quote it)",
    ),
    (
        "auth-bytes",
        with_key('version: 2\n    authentication: {type: simple, password: "éééééé"}'),
        "instances[0].authentication.password (line 7): is 12 bytes; VRRPv2 passwords are at most 8",
    ),
    (
        "auth-type",
        with_key("version: 2\n    authentication: {type: ah, password: x}"),
        "instances[0].authentication.type (line 7): 'ah' is not supported (only simple; IP AH was removed in RFC 3768)",
    ),
    (
        "auth-missing",
        with_key("version: 2\n    authentication: {type: simple}"),
        "instances[0].authentication (line 7): missing required key password",
    ),
    ("garp-key", with_key("garp: {cont: 3}"), "instances[0].garp.cont (line 6): unknown key (did you mean count?)"),
    ("garp-range", with_key("garp:\n      count: 0"), "instances[0].garp.count (line 7): 0 is outside 1..100"),
    ("garp-not-map", with_key("garp: 5"), "instances[0].garp (line 6): expected a mapping, got the number 5"),
    (
        "owner-no-preempt",
        with_key("priority: 255\n    preempt: false"),
        "instances[0].preempt (line 7): is false, but the address owner (priority 255) always takes over at "
        "once (RFC 9568 §6.4.1); remove it or lower the priority",
    ),
    (
        "defaults-identity",
        "defaults: {vrid: 3}\n" + BASE,
        "defaults.vrid (line 1): cannot be a default; it identifies each instance",
    ),
    ("defaults-bad", "defaults:\n  priority: 0\n" + BASE, "defaults.priority (line 2): 0 is outside 1..255"),
    ("defaults-not-map", "defaults: [1]\n" + BASE, "defaults (line 1): expected a mapping, got a list"),
    (
        "socket-relative",
        "control_socket: vrrpd.sock\n" + BASE,
        "control_socket (line 1): 'vrrpd.sock' must be an absolute path",
    ),
    (
        "socket-long",
        f"control_socket: /{'x' * 120}\n" + BASE,
        "control_socket (line 1): is 121 bytes; unix socket paths are at most 107",
    ),
    (
        "duplicate-name",
        BASE + BASE.removeprefix("instances:\n").replace("vrid: 1", "vrid: 2"),
        "instances[1].name (line 6): 'a' is already the name of the instance at line 2",
    ),
    (
        "vrid-clash",
        BASE + BASE.removeprefix("instances:\n").replace("name: a", "name: b").replace(".1/24", ".2/24"),
        "instances[1].vrid (line 8): VRID 1 is already used on eth0 for IPv4 by instance 'a' (line 2)",
    ),
    (
        "vip-clash",
        BASE + BASE.removeprefix("instances:\n").replace("name: a", "name: b").replace("vrid: 1", "vrid: 2"),
        "instances[1].virtual_addresses (line 9): 198.51.100.1 is already a virtual address of instance 'a'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_error_is_one_sentence_with_file_path_and_line(text, expected):
    message = error(text)
    assert message == (f"{FILE} {expected}" if expected.startswith("(") else f"{FILE}: {expected}")
    assert "\n" not in message


def test_error_attributes():
    with pytest.raises(ConfigError) as info:
        parse(with_key("priority: 300"))
    e = info.value
    assert (e.filename, e.path, e.line, e.problem) == (FILE, "instances[0].priority", 6, "300 is outside 1..255")


# --- warnings -------------------------------------------------------------------------------------------


def test_owner_inheriting_preempt_false_is_a_warning():
    config = parse("defaults:\n  preempt: false\n" + with_key("priority: 255"))
    (warning,) = config.warnings
    assert warning == (
        f"{FILE}: instances[0].priority (line 8): priority 255 makes this the address owner, which always takes "
        "over at once (RFC 9568 §6.4.1), so preempt: false (from defaults.preempt, line 2) is ignored"
    )
    assert config.instances[0].router_config().is_owner


def test_preempt_delay_without_preempt_is_a_warning():
    config = parse(with_key("preempt: false\n    preempt_delay: 5"))
    assert config.warnings == (
        f"{FILE}: instances[0].preempt_delay (line 7): preempt_delay has no effect with preempt: false",
    )


def test_checksum_on_ipv6_is_a_warning():
    config = parse(BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]') + "    checksum: message-only\n")
    assert config.warnings == (
        f"{FILE}: instances[0].checksum (line 6): has no effect: IPv6 always uses the pseudo-header",
    )
    config = parse(BASE.replace("[198.51.100.1/24]", '["2001:db8::1/64"]') + "    accept_checksum: strict\n")
    assert config.warnings == (
        f"{FILE}: instances[0].accept_checksum (line 6): has no effect: IPv6 always uses the pseudo-header",
    )


def test_inherited_v2_only_keys_do_not_touch_v3_instances():
    config = parse(
        "defaults:\n  authentication: {type: simple, password: pw}\n  checksum: message-only\n"
        + BASE
        + BASE.removeprefix("instances:\n")
        .replace("name: a", "name: b")
        .replace("vrid: 1", "vrid: 2")
        .replace(".1/24", ".2/24")
        + "    version: 2\n"
    )
    a, b = config.instances
    assert a.authentication is None
    assert b.authentication == Authentication(AuthType.SIMPLE, b"pw")
    assert config.warnings == ()


def test_same_global_vip_on_two_interfaces_is_a_warning_but_link_local_is_not():
    config = parse("""\
        instances:
          - {name: a, interface: eth0, vrid: 1, virtual_addresses: ["fe80::1/64", "2001:db8::1/64"]}
          - {name: b, interface: eth1, vrid: 1, virtual_addresses: ["fe80::1/64", "2001:db8::1/64"]}
        """)
    assert config.warnings == (
        f"{FILE}: instances[1].virtual_addresses (line 3): 2001:db8::1 is also a virtual address of 'a' on eth0",
    )


# --- files ----------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read the file: No such file or directory"


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"instances: [\xe9]\n")
    with pytest.raises(ConfigError, match=r"latin1\.yaml: not UTF-8 text \(invalid continuation byte at byte 12\)"):
        load_config(path)


def test_startup_delay_reaches_the_router_and_is_range_checked():
    config = parse(with_key("startup_delay: 30"))
    assert config.instances[0].router_config().startup_delay == 30
    with pytest.raises(ConfigError, match=r"instances\[0\]\.startup_delay \(line 6\)"):
        parse(with_key("startup_delay: -1"))


def test_ipv6_addresses_beyond_a_1500_byte_advert_are_a_warning():
    """91 IPv6 addresses make a 1504-byte advert: fragmented on a 1500 MTU (the daemon refuses that at start)."""
    addresses = ", ".join(f'"2001:db8::{i:x}/64"' for i in range(1, 92))
    text = f"instances:\n  - {{name: a, interface: eth0, vrid: 1, virtual_addresses: [{addresses}]}}\n"
    (warning,) = parse(text).warnings
    assert warning.startswith(f"{FILE}: instances[0].virtual_addresses (line 2): has 91 IPv6 addresses")
    assert "1504 bytes" in warning and "(90 addresses)" in warning
    ninety = ", ".join(f'"2001:db8::{i:x}/64"' for i in range(1, 91))
    assert parse(text.replace(addresses, ninety)).warnings == ()
