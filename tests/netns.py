"""A small network of Linux network namespaces for multi-host tests: one per process, joined by a bridge.

The bridge lives in a namespace of its own, so the machine's own network is never touched. Everything
is created under a random name prefix and removed on exit; ``NetnsUnavailable`` says why a machine
cannot have it (no root, no ``ip``, namespaces forbidden).
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class NetnsUnavailable(Exception):
    pass


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


@dataclass
class Lab:
    prefix: str
    subnet: str
    """The first three octets, e.g. ``10.213.7``."""
    hosts: dict[str, str] = field(default_factory=dict)
    """Host name -> its namespace."""
    addresses: dict[str, str] = field(default_factory=dict)

    @property
    def switch(self) -> str:
        return f"{self.prefix}sw"

    def add_host(self, name: str) -> str:
        """A namespace for ``name`` wired to the bridge; returns its address."""
        index = len(self.hosts) + 1
        self.hosts[name] = f"{self.prefix}{index}"
        self.addresses[name] = f"{self.subnet}.{index}"
        self._wire(index)
        return self.addresses[name]

    def _wire(self, index: int) -> None:
        ns, address = f"{self.prefix}{index}", f"{self.subnet}.{index}"
        inside, outside = f"{self.prefix}v{index}", f"{self.prefix}p{index}"
        _ip("netns", "add", ns)
        _ip("-n", self.switch, "link", "add", outside, "type", "veth", "peer", "name", inside, "netns", ns)
        _ip("-n", self.switch, "link", "set", outside, "master", "br0", "up")
        # The MAC follows from the address, as a container engine makes it, so that a host made again at
        # the same address is reached at once by neighbours that still remember its old MAC.
        mac = "02:42:" + ":".join(f"{int(octet):02x}" for octet in address.split("."))
        _ip("-n", ns, "link", "set", inside, "address", mac)
        _ip("-n", ns, "addr", "add", f"{address}/24", "dev", inside)
        _ip("-n", ns, "link", "set", inside, "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def replace(self, name: str) -> None:
        """Tear ``name``'s host down and put a new one at the same address, as a container started again.

        Its link is removed first, so nothing its old sockets still had to send (a FIN, an RST, queued
        data) ever leaves: the other ends keep their connections to it open, half-open. Processes still
        running in the old namespace lose their network; stop them first.
        """
        index = list(self.hosts).index(name) + 1
        _ip("-n", self.switch, "link", "del", self._outside(name))
        _ip("netns", "del", self.hosts[name])
        self._wire(index)

    def command(self, name: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``name``'s namespace (``ip netns exec`` execs it: the pid stays the same)."""
        return ["ip", "netns", "exec", self.hosts[name], *argv]

    def _outside(self, name: str) -> str:
        index = list(self.hosts).index(name) + 1
        return f"{self.prefix}p{index}"

    def cut(self, name: str) -> None:
        """Take ``name``'s link down at the bridge: it reaches no one."""
        _ip("-n", self.switch, "link", "set", self._outside(name), "down")

    def restore(self, name: str) -> None:
        _ip("-n", self.switch, "link", "set", self._outside(name), "up")

    def blackhole(self, name: str, other: str) -> None:
        """``name`` can no longer reach ``other`` (and everyone else still)."""
        _ip("-n", self.hosts[name], "route", "add", "blackhole", f"{self.addresses[other]}/32")

    def unblackhole(self, name: str, other: str) -> None:
        _ip("-n", self.hosts[name], "route", "del", "blackhole", f"{self.addresses[other]}/32")

    def remove(self) -> None:
        for ns in [*self.hosts.values(), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


@contextmanager
def netns_lab() -> Iterator[Lab]:
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the ip command (iproute2) is not installed")
    rng = random.Random()
    lab = Lab(f"ets{rng.randrange(16**4):04x}", f"10.{rng.randint(200, 250)}.{rng.randint(0, 255)}")
    try:
        try:
            _ip("netns", "add", lab.switch)
            _ip("-n", lab.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", lab.switch, "link", "set", "br0", "up")
        except RuntimeError as exc:
            raise NetnsUnavailable(f"this machine forbids network namespaces or bridges: {exc}") from exc
        yield lab
    finally:
        lab.remove()
