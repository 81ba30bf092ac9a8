"""The kernel receive filter of a VRRP socket: a classic BPF program built from what a link's routers accept.

Every packet of IP protocol 112 on an interface reaches its raw socket; without a filter a flood of garbage fills
the receive queue and the master's real adverts are dropped with it (issue #13: a backup took over 344 times in
60 s under ~89 k pkt/s). The program here does, in the kernel, the RFC 9568 §7.1 receive checks that need no
state and no checksum, so the garbage never queues and never costs Python anything:

- the VRID is one configured on the link (§7.1: "MUST discard ... VRID not configured");
- the TTL / hop limit is 255, or at least `unicast_min_ttl` for a unicast router (§7.1);
- a multicast router's adverts are sent to the VRRP group, a unicast router's to anything but a multicast group;
- version and type: 3 (or 2 for a VRRPv2 router) and ADVERTISEMENT (§7.1, §5.2.1, §5.2.2);
- the count is not zero and the VRRP length is exactly 8 + count * address length (+ 8 for VRRPv2 authentication
  data): a count that lies about the length is refused (§7.1 "length ... greater than or equal to" with the
  codec's exact rule, vrrpd.protocol.packet.decode);
- an IPv4 fragment is refused (the kernel reassembles before raw delivery, so a real advert never is one).

The checksum, the source being one of ours and the unicast peer list stay in Python (vrrpd.protocol.receive), which
still checks everything above too: this filter only decides what is worth reading. What it refuses is no longer
counted per reason (docs/hostile.md).

What the program sees (verified on a real kernel, netns-tests/test_flood.py): an IPv4 raw socket hands it the IP
header at offset 0; an IPv6 raw socket hands it the VRRP message at offset 0, with the IPv6 header reachable at
SKF_NET_OFF. Pure: `program` returns instructions, `pack` the bytes of their `struct sock_filter` array.
"""

from __future__ import annotations

import bisect
import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from vrrpd.protocol import Family
from vrrpd.protocol.constants import VRRP_TTL

# <linux/bpf_common.h> and <linux/filter.h>
LD, LDX, ST, ALU, JMP, RET, MISC = 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x07
W, H, B = 0x00, 0x08, 0x10
IMM, ABS, IND, MEM, LEN, MSH = 0x00, 0x20, 0x40, 0x60, 0x80, 0xA0
ADD, SUB, AND, LSH, RSH = 0x00, 0x10, 0x50, 0x60, 0x70
JA, JEQ, JGE, JSET = 0x00, 0x10, 0x30, 0x40
K, X = 0x00, 0x08
TAX, TXA = 0x00, 0x80
SKF_NET_OFF = -0x100000
"""A negative load offset from the network header: how an IPv6 raw socket's filter reaches the hop limit."""
MAX_INSNS = 4096  # BPF_MAXINSNS

ACCEPT = 0xFFFFFFFF
"""`ret #-1`: the whole packet."""

_INSN = struct.Struct("=HBBI")  # struct sock_filter: code, jt, jf, k
_GROUP_V4 = 0xE0000012  # 224.0.0.18
_GROUP_V6 = (0xFF020000, 0, 0, 0x12)  # ff02::12
_TYPE_ADVERT = 1
CHECKSUM_MAX_COUNT = {Family.IPV4: 255, Family.IPV6: 100}
"""The largest address count whose checksum the program checks: every IPv4 advert; an IPv6 one up to 1,648 bytes
(beyond a 1,500-byte MTU), so that the program stays under BPF_MAXINSNS with 255 VRIDs. A larger one goes to
Python unchecked."""


@dataclass(frozen=True, slots=True)
class Insn:
    """One classic BPF instruction (struct sock_filter)."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0


@dataclass(frozen=True, slots=True)
class Accept:
    """What the router of one VRID on a link takes: its version, and its lowest TTL / hop limit and destination
    (multicast: 255 and the VRRP group; unicast: `unicast_min_ttl` and a unicast address)."""

    version: int
    min_ttl: int = VRRP_TTL
    unicast: bool = False


DROP_ALL: tuple[Insn, ...] = (Insn(RET | K, k=0),)
"""A socket that takes nothing (a send-only socket's, or a link whose routers are all gone)."""
ACCEPT_ALL: tuple[Insn, ...] = (Insn(RET | K, k=ACCEPT),)
"""A socket that takes everything, as with no filter (the last resort if the kernel refuses the program)."""


def program(family: Family, vrids: Mapping[int, Accept], *, checksum: bool = True) -> tuple[Insn, ...]:
    """The filter of a link of `family` whose routers are `vrids` (VRID -> what it accepts). `checksum`: also
    refuse a VRRPv3 advert whose checksum is wrong in every form (`_checksum`), at the cost of a program of some
    2,000-3,000 instructions; without it, about 40 plus 2 per VRID."""
    return _program(family, tuple(sorted(vrids.items())), checksum)


@functools.lru_cache(maxsize=64)
def _program(family: Family, routers: tuple[tuple[int, Accept], ...], checksum: bool) -> tuple[Insn, ...]:
    # Cached: a checksum program takes ~2 ms to assemble, on the event loop, and a reload that adds or removes a
    # router rebuilds its link's; links and reloads come back to the same few sets of routers.
    if not routers:
        return DROP_ALL
    vrids = dict(routers)
    asm = _Assembler()
    # Scratch memory: M[0] the TTL / hop limit, M[1] the VRRP length; X indexes the VRRP message.
    # Both are stored before the first jump: the kernel's checker follows code straight through a `ret` and
    # refuses a load from scratch memory that some path to it has not stored (check_load_and_stores).
    if family is Family.IPV4:
        asm.op(LD | B | ABS, k=8)
        asm.op(ST, k=0)
        asm.op(LDX | B | MSH, k=0)  # X = 4 * IHL
        asm.op(LD | H | ABS, k=2)
        asm.op(ALU | SUB | X)
        asm.op(ST, k=1)
        asm.op(LD | H | ABS, k=6)
        asm.jump(JSET | K, 0x3FFF, true="drop")  # MF or a fragment offset
        asm.op(LD | MEM, k=1)
    else:
        asm.op(LD | B | ABS, k=_net(7))
        asm.op(ST, k=0)
        asm.op(LDX | IMM, k=0)
        asm.op(LD | W | LEN)
        asm.op(ST, k=1)
    asm.jump(JGE | K, 8, false="drop")
    asm.op(JMP | JA, label="vrid")
    asm.mark("drop")  # every "drop" is the next one down: a conditional jump reaches only 255 ahead
    asm.op(RET | K, k=0)
    asm.mark("vrid")
    asm.op(LD | B | IND, k=1)
    classes = sorted(set(vrids.values()), key=lambda a: (a.version, a.min_ttl, a.unicast))
    for vrid in sorted(vrids):
        asm.jump(JEQ | K, vrid, false="next")
        asm.op(JMP | JA, label=f"class{classes.index(vrids[vrid])}")
        asm.mark("next")
    asm.op(RET | K, k=0)  # §7.1: a VRID not configured on this link
    for index, accept in enumerate(classes):
        asm.mark(f"class{index}")
        _class(asm, family, accept)
        if accept.version == 3 and checksum:
            asm.op(JMP | JA, label="checksum")
        else:  # VRRPv2's checksum covers its authentication data after the addresses: left to Python
            asm.op(RET | K, k=ACCEPT)
        asm.mark("drop")
        asm.op(RET | K, k=0)
    if not (checksum and any(accept.version == 3 for accept in classes)):
        return asm.resolve()
    asm.mark("checksum")  # where the block below begins: its jumps are all its own, so it is assembled once
    head = asm.resolve()
    insns = head + _checksum_block(family)
    if len(insns) > MAX_INSNS:
        raise ValueError(f"BPF program of {len(insns)} instructions is longer than {MAX_INSNS}")
    return insns


@functools.cache
def _checksum_block(family: Family) -> tuple[Insn, ...]:
    # Nearly all of a program and nearly all of the time it takes to assemble, and the same for every link of
    # a family: assembled once, so a reload that changes a link's VRIDs rebuilds only the few instructions before.
    asm = _Assembler()
    _checksum(asm, family)
    return asm.resolve()


def _class(asm: _Assembler, family: Family, accept: Accept) -> None:
    """The checks of one kind of router; the VRID has matched, X indexes the VRRP message."""
    asm.op(LD | MEM, k=0)
    asm.jump(JGE | K, accept.min_ttl, false="drop")
    if family is Family.IPV4:
        asm.op(LD | W | ABS, k=16)
        if accept.unicast:
            asm.op(ALU | AND | K, k=0xF0000000)
            asm.jump(JEQ | K, 0xE0000000, true="drop")
        else:
            asm.jump(JEQ | K, _GROUP_V4, false="drop")
    elif accept.unicast:
        asm.op(LD | B | ABS, k=_net(24))
        asm.jump(JEQ | K, 0xFF, true="drop")
    else:
        for offset, word in enumerate(_GROUP_V6):
            asm.op(LD | W | ABS, k=_net(24 + 4 * offset))
            asm.jump(JEQ | K, word, false="drop")
    asm.op(LD | B | IND, k=0)
    asm.jump(JEQ | K, accept.version << 4 | _TYPE_ADVERT, false="drop")
    asm.op(LD | B | IND, k=3)
    asm.jump(JEQ | K, 0, true="drop")
    asm.op(ALU | LSH | K, k=2 if family is Family.IPV4 else 4)
    asm.op(ALU | ADD | K, k=16 if accept.version == 2 else 8)
    asm.op(MISC | TAX)
    asm.op(LD | MEM, k=1)
    asm.jump(JEQ | X, 0, false="drop")


def _checksum(asm: _Assembler, family: Family) -> None:
    """Refuse a VRRPv3 advert whose checksum is wrong (§5.2.8, §7.1) in both IPv4 forms (with the pseudo-header,
    or of the message only: either may be configured, Python tells them apart) or, on IPv6, with the pseudo-header.

    Classic BPF has no loops: the sum is unrolled, one `ldh; add x; tax` per 16-bit word, from the last possible
    address down to the header, and the program jumps in at the count's first word (the length was checked
    against the count already). X holds the sum. An IPv4 packet with IP options (never seen from a VRRP router)
    is passed unchecked, as the words would move; so is a count above CHECKSUM_MAX_COUNT. Self-contained: every
    jump lands inside it, and the program jumps to its first instruction."""
    if family is Family.IPV4:
        base, alen = 20, 4
        asm.op(LD | B | ABS, k=0)
        asm.jump(JEQ | K, 0x45, true="plain")
        asm.op(RET | K, k=ACCEPT)
        asm.mark("plain")
    else:
        base, alen = 0, 16
    most = CHECKSUM_MAX_COUNT[family]
    asm.op(LD | B | ABS, k=base + 3)
    asm.op(LDX | IMM, k=0)
    for count in range(1, most + 1):
        asm.jump(JEQ | K, count, false="more")
        asm.op(JMP | JA, label=f"sum{count}")
        asm.mark("more")
    asm.op(RET | K, k=ACCEPT)
    for count in range(most, 0, -1):
        asm.mark(f"sum{count}")
        start = base + 8 + alen * (count - 1)
        for offset in range(start, start + alen, 2):
            _add_word(asm, offset)
    for offset in range(base, base + 8, 2):
        _add_word(asm, offset)
    asm.op(MISC | TXA)
    asm.op(ST, k=4)
    if family is Family.IPV4:
        _fold(asm)
        asm.jump(JEQ | K, 0xFFFF, true="accept")  # the message-only form
        asm.op(LD | MEM, k=4)
        asm.op(MISC | TAX)
        pseudo = range(12, 20, 2)  # source and destination address
    else:
        asm.op(MISC | TAX)
        pseudo = range(_net(8), _net(40), 2)
    for offset in pseudo:
        _add_word(asm, offset)
    asm.op(LD | MEM, k=1)  # the upper-layer length (under 64 KiB: its high half is zero on IPv6)
    asm.op(ALU | ADD | X)
    asm.op(ALU | ADD | K, k=112)  # the protocol / next header
    _fold(asm)
    asm.jump(JEQ | K, 0xFFFF, true="accept", false="drop")
    asm.mark("drop")
    asm.op(RET | K, k=0)
    asm.mark("accept")
    asm.op(RET | K, k=ACCEPT)


def _add_word(asm: _Assembler, offset: int) -> None:
    asm.op(LD | H | ABS, k=offset)
    asm.op(ALU | ADD | X)
    asm.op(MISC | TAX)


def _fold(asm: _Assembler) -> None:
    """A = the one's complement sum of A's two halves, folded twice (RFC 1071's end-around carry); uses X, M[5]."""
    for _ in range(2):
        asm.op(ST, k=5)
        asm.op(ALU | RSH | K, k=16)
        asm.op(MISC | TAX)
        asm.op(LD | MEM, k=5)
        asm.op(ALU | AND | K, k=0xFFFF)
        asm.op(ALU | ADD | X)


def _net(offset: int) -> int:
    """A load offset `offset` bytes into the network header, as the u32 the kernel reads."""
    return (SKF_NET_OFF + offset) & 0xFFFFFFFF


def pack(insns: tuple[Insn, ...]) -> bytes:
    """The `struct sock_filter` array of `insns`, for SO_ATTACH_FILTER."""
    return b"".join(_INSN.pack(i.code, i.jt, i.jf, i.k) for i in insns)


class _Assembler:
    """Instructions with jumps to labels, resolved to the forward offsets classic BPF takes. A label used before
    it is marked names the next mark of that name, so "next" can be reused down the program."""

    def __init__(self) -> None:
        self.insns: list[tuple[int, int, str | None, str | None]] = []
        """(code, k, true label, false label); for JA the label is in the true slot."""
        self.marks: list[tuple[int, str]] = []

    def op(self, code: int, *, k: int = 0, label: str | None = None) -> None:
        self.insns.append((code, k, label, None))

    def jump(self, code: int, k: int, *, true: str | None = None, false: str | None = None) -> None:
        self.insns.append((JMP | code, k, true, false))

    def mark(self, label: str) -> None:
        self.marks.append((len(self.insns), label))

    def _target(self, at: int, label: str | None) -> int:
        if label is None:
            return 0
        positions = self.positions.get(label, [])
        found = bisect.bisect_right(positions, at)
        if found == len(positions):
            raise ValueError(f"BPF label {label} is not marked after instruction {at}")
        return positions[found] - at - 1

    def resolve(self) -> tuple[Insn, ...]:
        self.positions: dict[str, list[int]] = {}
        for position, name in self.marks:  # marked in program order: each list is sorted
            self.positions.setdefault(name, []).append(position)
        out = []
        for at, (code, k, true, false) in enumerate(self.insns):
            if code == JMP | JA:
                out.append(Insn(code, k=self._target(at, true)))
                continue
            jt, jf = self._target(at, true), self._target(at, false)
            if jt > 255 or jf > 255:
                raise ValueError(f"BPF jump from instruction {at} is too far ({max(jt, jf)})")
            out.append(Insn(code, jt, jf, k))
        if len(out) > MAX_INSNS:
            raise ValueError(f"BPF program of {len(out)} instructions is longer than {MAX_INSNS}")
        return tuple(out)
