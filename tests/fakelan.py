"""An in-memory LAN that runs N VirtualRouters on a float clock (the aioquic-style test network).

Adverts go through the real codec (encode with the sender's address, decode at each receiver), so the state
machine is exercised with exactly what would cross a wire. Knobs: per-link delay, dropping, partitions,
crashes (a router that stops without a word) and graceful shutdowns.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from ipaddress import ip_address

from vrrpd.protocol import (
    AddAddresses,
    AdvertReceived,
    ChecksumForm,
    ChecksumMode,
    InvalidAdvert,
    RemoveAddresses,
    RouterConfig,
    SendAdvert,
    ShutdownRequested,
    Started,
    State,
    StateChanged,
    TimerExpired,
    VirtualRouter,
    decode,
    encode,
)
from vrrpd.protocol.events import Action, Input
from vrrpd.protocol.packet import IPAddress


@dataclass
class Node:
    name: str
    router: VirtualRouter
    up: bool = False
    vips: set[IPAddress] = field(default_factory=set)
    transmit_form: ChecksumForm = ChecksumForm.PSEUDO_HEADER
    receive_mode: ChecksumMode = ChecksumMode.ACCEPT_BOTH
    sent: list[tuple[float, int]] = field(default_factory=list)
    """(time, priority) of every advert sent."""
    actions: list[tuple[float, Action]] = field(default_factory=list)

    @property
    def state(self) -> State:
        return self.router.state


class FakeLan:
    def __init__(self, now: float = 0.0, delay: float = 0.0) -> None:
        self.now = now
        self.delay = delay
        """One-way delivery delay in seconds for every advert."""
        self.nodes: dict[str, Node] = {}
        self.transitions: list[tuple[float, str, StateChanged]] = []
        self.drop_all = False
        self.rejected: list[tuple[str, str]] = []
        self._groups: list[set[str]] | None = None
        self._queue: list[tuple[float, int, str, IPAddress, bytes]] = []
        self._seq = itertools.count()

    # --- topology -------------------------------------------------------------------------------------------

    def add(self, name: str, config: RouterConfig, address: str, **node_kwargs: object) -> Node:
        node = Node(name, VirtualRouter(config, ip_address(address)), **node_kwargs)  # type: ignore[arg-type]
        self.nodes[name] = node
        return node

    def partition(self, *groups: set[str]) -> None:
        self._groups = [set(g) for g in groups]

    def heal(self) -> None:
        self._groups = None

    def _can_hear(self, src: str, dst: str) -> bool:
        if self.drop_all:
            return False
        if self._groups is None:
            return True
        return any(src in g and dst in g for g in self._groups)

    # --- driving --------------------------------------------------------------------------------------------

    def feed(self, name: str, event: Input) -> list[Action]:
        actions = self.nodes[name].router.handle(event, self.now)
        self.apply(name, actions)
        return actions

    def apply(self, name: str, actions: list[Action]) -> None:
        """Carry out one router's actions (adverts onto the wire, VIPs, transitions)."""
        node = self.nodes[name]
        for action in actions:
            node.actions.append((self.now, action))
            if isinstance(action, SendAdvert):
                self._transmit(node, action)
            elif isinstance(action, AddAddresses):
                node.vips.update(action.addresses)
            elif isinstance(action, RemoveAddresses):
                node.vips.difference_update(action.addresses)
            elif isinstance(action, StateChanged):
                self.transitions.append((self.now, name, action))

    def start(self, *names: str) -> None:
        for name in names or tuple(self.nodes):
            self.nodes[name].up = True
            self.feed(name, Started())

    def stop(self, name: str) -> None:
        """Graceful shutdown: the router says goodbye (priority 0 from a master)."""
        self.feed(name, ShutdownRequested())
        self.nodes[name].up = False

    def crash(self, name: str) -> None:
        """The process dies: no advert, and its VIPs vanish with it (as after kill -9 and a reboot)."""
        node = self.nodes[name]
        node.up = False
        node.vips.clear()
        node.router = VirtualRouter(node.router.config, node.router.primary_address)

    def _transmit(self, node: Node, action: SendAdvert) -> None:
        src = node.router.primary_address
        node.sent.append((self.now, action.advert.priority))
        wire = encode(action.advert, src, checksum_form=node.transmit_form)
        for other in self.nodes.values():
            if other is not node and self._can_hear(node.name, other.name):
                heapq.heappush(self._queue, (self.now + self.delay, next(self._seq), other.name, src, wire))

    def _next_deadline(self) -> tuple[float, str] | None:
        best: tuple[float, str] | None = None
        for node in self.nodes.values():
            deadline = node.router.next_deadline() if node.up else None
            if deadline is not None and (best is None or deadline < best[0]):
                best = (deadline, node.name)
        return best

    def run_until(self, until: float, max_steps: int = 1_000_000) -> None:
        for _ in range(max_steps):
            timer = self._next_deadline()
            packet_at = self._queue[0][0] if self._queue else None
            # Deliveries due at the same instant as a timer go first: the packet was already on the wire.
            if packet_at is not None and packet_at <= until and (timer is None or packet_at <= timer[0]):
                at, _, dst, src, wire = heapq.heappop(self._queue)
                self.now = max(self.now, at)
                node = self.nodes[dst]
                if not node.up:
                    continue
                try:
                    decoded = decode(wire, src, node.router.config.family.group, node.receive_mode)
                except InvalidAdvert as exc:
                    self.rejected.append((dst, exc.reason))
                    node.router.counters.drop(exc.reason)
                    continue
                self.feed(dst, AdvertReceived(src, decoded.advert, decoded.checksum_form))
            elif timer is not None and timer[0] <= until:
                self.now = max(self.now, timer[0])
                self.feed(timer[1], TimerExpired())
            else:
                self.now = max(self.now, until)
                return
        raise AssertionError(f"FakeLan did not settle before {until} after {max_steps} steps")

    def run_for(self, seconds: float) -> None:
        self.run_until(self.now + seconds)

    # --- observations ---------------------------------------------------------------------------------------

    def masters(self) -> list[str]:
        return [n.name for n in self.nodes.values() if n.up and n.state is State.MASTER]

    def became_master_at(self, name: str, after: float = float("-inf")) -> float:
        for at, who, change in self.transitions:
            if who == name and change.new is State.MASTER and at > after:
                return at
        raise AssertionError(f"{name} never became master after {after}")

    def last_advert_at(self, name: str) -> float:
        return self.nodes[name].sent[-1][0]
