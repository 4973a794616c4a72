"""A network namespace of a test's own, joined to the host by a veth pair that the test can
cut in the kernel: a host on a link of its own.

    with Namespace() as ns:
        ns.host_address   # the host's end (10.231.x.1), where a relay may listen
        ns.prefix         # ("ip", "netns", "exec", NAME): run a command inside
        ns.cut(); ns.heal()

`cut` takes the host's end of the link down: the namespace's end stays up, so what a
process inside sends is dropped by the kernel without an error, as on a dead network, and
nothing comes back; `heal` brings it up again. Needs root (CAP_NET_ADMIN) and `ip`.
"""

import os
import shutil
import subprocess


def available() -> tuple[bool, str]:
    """Whether this machine lets a test make namespaces, and why not."""
    if shutil.which("ip") is None:
        return False, "no `ip` command (iproute2)"
    if os.geteuid() != 0:
        return False, "making a network namespace needs root"
    probe = f"jobs-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return False, f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return True, ""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Namespace:
    def __init__(self):
        # Names and a /30 of this process's own: tests in parallel processes do not meet.
        # 16,384 /30s in 10.231.0.0/16, one per process id modulo that.
        tag = os.getpid() % 16384
        self.name = f"jobs-ns-{tag}"
        self.host_end, self.inner_end = f"jh{tag}", f"jn{tag}"
        base = f"10.231.{tag // 64}"
        last = tag % 64 * 4
        self.host_address = f"{base}.{last + 1}"
        self.inner_address = f"{base}.{last + 2}"
        self.prefix = ("ip", "netns", "exec", self.name)

    def create(self) -> "Namespace":
        self.remove()  # left over from a test that was killed
        ip("netns", "add", self.name)
        ip("link", "add", self.host_end, "type", "veth", "peer", "name", self.inner_end)
        ip("link", "set", self.inner_end, "netns", self.name)
        ip("addr", "add", f"{self.host_address}/30", "dev", self.host_end)
        ip("link", "set", self.host_end, "up")
        inside = ("-n", self.name)
        ip(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner_end)
        ip(*inside, "link", "set", self.inner_end, "up")
        ip(*inside, "link", "set", "lo", "up")
        return self

    def cut(self) -> None:
        ip("link", "set", self.host_end, "down")

    def heal(self) -> None:
        ip("link", "set", self.host_end, "up")

    def remove(self) -> None:
        # Deleting the namespace deletes its end of the pair, and with it the host's.
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_end], capture_output=True)

    def __enter__(self) -> "Namespace":
        return self.create()

    def __exit__(self, *exc) -> None:
        self.remove()
