"""etc/examples: every file loads without warnings, and does what its comments claim.

Each example's header lists the nodes and their priorities (``#   cp2  priority: 110``); the rest of the file is
the same on every node. The tests build each node's variant from that list, so the configs the header tells an
operator to run on the other nodes are checked too, and the failover arithmetic is computed from the parsed
configs of all nodes rather than written down twice.
"""

from __future__ import annotations

import re
from ipaddress import ip_network
from pathlib import Path

import pytest

from vrrpd.config import Config, load_config, parse_config
from vrrpd.protocol.packet import Family
from vrrpd.protocol.tracking import effective_priority

EXAMPLES = Path(__file__).resolve().parent.parent / "etc" / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))
NODE = re.compile(r"^#\s+(\w+)\s+priority: (\d+)\b", re.MULTILINE)
"""A header line naming one node and its priority."""
PRIORITY = re.compile(r"^(\s+)priority: \d+$", re.MULTILINE)
"""The one priority line of an example (in an instance or under defaults), never a comment."""
DOCUMENTATION = [ip_network(n) for n in ("198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "fe80::/10")]
SHELLS = {"sh", "bash", "dash", "zsh", "ksh"}


def nodes(path: Path) -> dict[str, int]:
    """The header's node -> priority list, in order (the first node is the file as it is)."""
    return {name: int(priority) for name, priority in NODE.findall(path.read_text())}


def node_configs(path: Path) -> dict[str, Config]:
    """Each node's config: the file with its priority line set to that node's priority."""
    text = path.read_text()
    assert len(PRIORITY.findall(text)) == 1, f"{path.name}: expected exactly one priority line"
    configs = {}
    for name, priority in nodes(path).items():
        variant = PRIORITY.sub(lambda m, p=priority: f"{m.group(1)}priority: {p}", text)
        configs[name] = parse_config(variant, f"{path.name} ({name})")
    return configs


def startup_check_deadline(config: Config, script: str) -> float:
    """Worst-case seconds from start-up until `script` can count as down: its first run, timing out (the first
    result of a script counts at once, whatever `fall` says, as in keepalived: issue #12)."""
    return config.script(script).timeout


def test_the_expected_examples_exist_and_the_readme_lists_them():
    names = {p.name for p in FILES}
    assert names == {"kube-apiserver.yaml", "haproxy-pair.yaml", "dual-stack.yaml", "unicast-pair.yaml"}
    readme = (EXAMPLES / "README.md").read_text()
    for name in names:
        assert f"[`{name}`]({name})" in readme


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_example_loads_without_warnings(path):
    config = load_config(path)
    assert config.warnings == ()
    assert config.instances


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_header_says_what_it_is_for_what_to_change_and_the_other_nodes(path):
    header = path.read_text().split("\n\n", 1)[0]
    assert header.startswith("# ")
    assert "What to change:" in path.read_text()
    assert re.search(r"^# Other nodes?: ", path.read_text(), re.MULTILINE)
    assert len(nodes(path)) >= 2


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_node_listed_in_the_header_loads_without_warnings(path):
    listed = nodes(path)
    as_is = load_config(path)
    first = next(iter(listed.values()))
    assert {inst.priority for inst in as_is.instances} == {first}, "the file as it is must be the first node"
    assert len(set(listed.values())) == len(listed), "priorities must differ, or the tie-break decides"
    for name, config in node_configs(path).items():
        assert config.warnings == ()
        assert {inst.priority for inst in config.instances} == {listed[name]}
        assert [inst.name for inst in config.instances] == [inst.name for inst in as_is.instances]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_addresses_are_documentation_ranges(path):
    for inst in load_config(path).instances:
        for address in [a.ip for a in inst.virtual_addresses] + [*inst.unicast_peers, inst.unicast_source]:
            if address is None:
                continue
            assert any(address in net for net in DOCUMENTATION), address
            assert address not in ip_network("192.0.2.0/24")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_track_scripts_are_argv_lists_never_a_shell(path):
    text = path.read_text()
    for script in load_config(path).track_scripts:
        assert script.command[0].startswith("/"), script.command
        assert Path(script.command[0]).name not in SHELLS
        assert re.search(rf"^  {script.name}:\n(?:\s+#.*\n)*\s+command: \[", text, re.MULTILINE), script.name
        assert script.timeout <= script.interval, "a run must end before the next one is due"


# --- kube-apiserver.yaml --------------------------------------------------------------------------------

KUBE = EXAMPLES / "kube-apiserver.yaml"


def test_kube_checks_the_local_api_servers_readiness_with_curl():
    script = load_config(KUBE).script("chk_apiserver")
    argv = script.command
    assert Path(argv[0]).name == "curl"
    assert "https://127.0.0.1:6443/readyz" in argv
    max_time = float(argv[argv.index("--max-time") + 1])
    assert max_time < script.timeout, "curl should give up before vrrpd kills it"
    assert script.fall > 1 and script.rise > 1


def test_kube_weight_moves_the_vip_off_any_failing_node():
    configs = node_configs(KUBE)
    assert len(configs) == 3
    base = {name: c.instance("kube-api").priority for name, c in configs.items()}
    failing = {}
    for name, config in configs.items():
        (tracker,) = config.instance("kube-api").track_scripts
        assert tracker.name == "chk_apiserver"
        assert tracker.weight is not None and tracker.weight < 0, "the example explains why a weight, not fault"
        failing[name] = effective_priority(base[name], [tracker.weight])
    for name in configs:
        healthy_others = [base[other] for other in configs if other != name]
        assert failing[name] < min(healthy_others), f"{name} failing ({failing[name]}) must lose to every healthy node"
    # All failing: the order is kept, so the VIP stays on the node it would be on anyway.
    assert sorted(failing, key=failing.get) == sorted(base, key=base.get)


def test_kube_startup_delay_outlasts_the_first_verdict_of_the_check():
    config = load_config(KUBE)
    inst = config.instance("kube-api")
    assert inst.startup_delay > startup_check_deadline(config, "chk_apiserver")
    assert inst.preempt and inst.preempt_delay == 0


# --- haproxy-pair.yaml ----------------------------------------------------------------------------------

HAPROXY = EXAMPLES / "haproxy-pair.yaml"


def test_haproxy_accepts_traffic_to_the_vip_and_tracks_the_service_and_the_uplink():
    config = load_config(HAPROXY)
    inst = config.instance("haproxy-vip")
    assert inst.accept_mode and inst.accepts_traffic
    assert "accept_mode: true" in HAPROXY.read_text()  # written out, not just the default
    assert "haproxy" in config.script("chk_haproxy").command
    (uplink,) = inst.track_interfaces
    assert uplink.name != inst.interface
    assert inst.startup_delay > startup_check_deadline(config, "chk_haproxy")


def test_haproxy_each_failure_alone_moves_the_vip_to_the_healthy_peer():
    configs = node_configs(HAPROXY)
    assert len(configs) == 2
    insts = {name: c.instance("haproxy-vip") for name, c in configs.items()}
    master, backup = sorted(insts, key=lambda n: insts[n].priority, reverse=True)
    trackers = (*insts[master].track_scripts, *insts[master].track_interfaces)
    assert len(trackers) == 2
    for tracker in trackers:
        assert tracker.weight is not None
        assert effective_priority(insts[master].priority, [tracker.weight]) < insts[backup].priority, tracker
        # The backup with the same failure stays below a healthy master.
        assert effective_priority(insts[backup].priority, [tracker.weight]) < insts[master].priority


# --- dual-stack.yaml ------------------------------------------------------------------------------------

DUAL = EXAMPLES / "dual-stack.yaml"


def test_dual_stack_has_independent_v4_and_v6_routers_on_one_interface_and_vrid():
    v4, v6 = load_config(DUAL).instances
    assert (v4.family, v6.family) == (Family.IPV4, Family.IPV6)
    assert v4.interface == v6.interface
    assert v4.vrid == v6.vrid


def test_dual_stack_ipv6_lists_the_link_local_vip_first_and_explains_the_interop_caveat():
    v6 = load_config(DUAL).instance("gw-v6")
    assert v6.virtual_addresses[0].ip.is_link_local
    assert not any(a.ip.is_link_local for a in v6.virtual_addresses[1:])
    text = DUAL.read_text()
    assert "RFC 9568 §5.2.9" in text
    assert "keepalived" in text and "FRR" in text


def test_dual_stack_virtual_mac_is_an_option_left_off():
    assert not any(inst.virtual_mac for inst in load_config(DUAL).instances)
    assert re.search(r"^\s+# virtual_mac: true$", DUAL.read_text(), re.MULTILINE)
    for config in node_configs(DUAL).values():
        assert len({inst.priority for inst in config.instances}) == 1  # one priority per router, both families


# --- unicast-pair.yaml ----------------------------------------------------------------------------------

UNICAST = EXAMPLES / "unicast-pair.yaml"


def test_unicast_example_is_a_real_unicast_pair_listing_both_nodes():
    """Issue #5 point 7: every node's variant is unicast, lists both nodes' addresses (each leaves itself out at
    start), and the addresses the header gives per node are exactly the peers."""
    configs = node_configs(UNICAST)
    assert set(configs) == {"node1", "node2"}
    header_addresses = re.findall(r"its eth0 is (\S+)\)", UNICAST.read_text())
    for config in configs.values():
        (inst,) = config.instances
        assert [str(p) for p in inst.unicast_peers] == header_addresses
        assert inst.unicast_source is None and inst.unicast_min_ttl == 255


@pytest.mark.parametrize("key", ["unicast_source", "unicast_min_ttl"])
def test_unicast_commented_options_load_when_uncommented(key):
    text = UNICAST.read_text()
    line = re.search(rf"^    # ({key}: .+)$", text, re.MULTILINE)
    assert line, key
    config = parse_config(text.replace(line.group(0), f"    {line.group(1)}"), UNICAST.name)
    assert getattr(config.instances[0], key) is not None


def test_unicast_example_says_there_is_no_fallback_and_how_to_let_vrrp_in():
    text = UNICAST.read_text()
    assert "never to the multicast group" in text and "no fallback" in text
    assert "ip protocol vrrp accept" in text
