"""The vrrpd.yaml(5) page: every key the checker accepts (vrrpd.config.keytree), each described by its comments in
the shipped example (vrrpd.cli.configdocs), then the example itself.

A key the checker accepts that the example does not describe is an error here, so the package build fails
instead of shipping a page that misses it.
"""

from __future__ import annotations

from vrrpd import __version__
from vrrpd.cli import roff
from vrrpd.cli.configdocs import describe, undocumented
from vrrpd.config.keytree import KEY_TREE, Schema, key_paths
from vrrpd.defaults import DEFAULT_CONFIG_PATH

RULES = [
    "The file is YAML 1.1, read with a safe loader: unquoted yes, no, on, off, true and false are booleans, so "
    'an interface or instance name that reads as one must be quoted (interface: "on"). A boolean key takes only a '
    'real boolean: preempt: "no" (a quoted string) is an error, not false.',
    "Unknown keys are errors (with the nearest known key suggested), and so is a key given twice in one mapping.",
    "Every error is one sentence naming the file, the key path and the line, for example "
    "/etc/vrrpd/vrrpd.yaml: instances[1].priority (line 14): 300 is outside 1..255. "
    "vrrpd check validates a file the way vrrpd run and a reload read it; a reload of a file that does not "
    "validate is refused and the running configuration is kept.",
]
KEYS_INTRO = [
    "Each key is listed with its path: instances[].garp.count is the count key of the garp mapping of any item "
    "of the instances list; NAME stands for a name the file chooses (a track script, a track file, a sync group).",
    "The top-level defaults mapping takes any instance key (instances[].KEY) except name, interface, vrid and "
    "virtual_addresses, with the same meaning; an instance's own value wins, and garp merges key by key.",
]


def config_page(example: str, epoch: str | None, tree: Schema = KEY_TREE) -> str:
    missing = undocumented(example, tree)
    if missing:
        raise ValueError(f"the example documents no description for {', '.join(missing)}")
    docs = describe(example, tree)
    lines = [roff.title("vrrpd.yaml", 5, f"vrrpd {__version__}", "File Formats", epoch), roff.section("NAME")]
    lines.append(f"{roff.literal('vrrpd.yaml')} \\- vrrpd configuration file")
    lines += [roff.section("SYNOPSIS"), roff.italic(str(DEFAULT_CONFIG_PATH))]
    lines += [roff.section("DESCRIPTION")]
    for rule in RULES:
        lines += roff.paragraph([rule])
    lines += [roff.section("KEYS")]
    for text in KEYS_INTRO:
        lines += roff.paragraph([text])
    for key_path in key_paths(tree):
        if "." not in key_path.path and "[" not in key_path.path:
            lines.append(roff.subsection(key_path.path))
        lines += roff.tagged(roff.bold(key_path.path), roff.blocks(docs.get(key_path)))
    lines += [roff.section("EXAMPLE"), *roff.preformatted(example.splitlines(), 2)]
    lines += [roff.section("FILES")]
    lines += roff.tagged(roff.italic(str(DEFAULT_CONFIG_PATH)), ["The configuration vrrpd reads by default."])
    lines += [roff.section("SEE ALSO"), f"{roff.bold('vrrpd')}(8), {roff.bold('vrrpctl')}(8), RFC 9568 (VRRPv3)"]
    return "\n".join(lines) + "\n"
