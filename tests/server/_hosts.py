"""Hosts for Enterprise Gateway's DistributedProcessProxy, made by the test on this machine:
network namespaces on one bridge, each running a real ``sshd`` (Debian's openssh-server)
with its own hostname (a UTS namespace), host keys and a client key ``ssh-keygen`` makes
for the test, and a known_hosts that lists them. Enterprise Gateway runs in a namespace of
its own on the same bridge (it refuses a loopback-only one); the bridge, in the test's
namespace, has the only other address, so the test's server reaches the gateway over it.

Every address outside 127.0.0.0/8 lives on the bridge or in these namespaces: they get no
default route and nothing is forwarded or NATed beyond them. ``Hosts.close`` removes it
all (processes, namespaces, links) and runs also when setting up fails halfway.

Needs root (``ip netns``), iproute2, util-linux's ``unshare`` and openssh-server.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SSHD = Path("/usr/sbin/sshd")


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        message = f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}"
        raise RuntimeError(message)
    return result.stdout


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 10.0.0.0/8 that no route of this machine touches."""
    routes = _run("ip", "-4", "route", "show", "table", "all")
    used = [ipaddress.ip_network(word, strict=False) for word in routes.split() if "/" in word and word[0].isdigit()]
    for third in range(200, 256):
        candidate = ipaddress.IPv4Network(f"10.{os.getpid() % 200 + 20}.{third}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    message = "no free 10.x.y.0/24 for the test's bridge"
    raise RuntimeError(message)


@dataclass
class Namespace:
    name: str  # the network namespace, and the hostname inside it
    ip: str
    link: str  # the veth's end on the bridge (in the test's namespace)

    def exec(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def kill_all(self) -> None:
        """SIGKILL every process in the namespace (sshd, its sessions, the kernels they started)."""
        for pid in _run("ip", "netns", "pids", self.name).split():
            with suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


@dataclass
class Hosts:
    """The bridge, the gateway's namespace and the hosts with their sshd."""

    bridge: str
    gateway: Namespace
    bridge_ip: str = ""  # the test's own address on the bridge
    hosts: list[Namespace] = field(default_factory=list)
    #: the HOME whose .ssh has the client key and the known_hosts (paramiko reads both there)
    home: Path = Path()
    _sshd: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _namespaces: list[Namespace] = field(default_factory=list)

    def lose(self, host: Namespace) -> None:
        """The host is gone: its sshd and kernels killed, its link down."""
        host.kill_all()
        _run("ip", "link", "set", host.link, "down")

    def close(self) -> None:
        for namespace in self._namespaces:
            namespace.kill_all()
        for process in self._sshd:
            process.wait(10)
        for namespace in self._namespaces:
            subprocess.run(["ip", "link", "del", namespace.link], capture_output=True, check=False)
            subprocess.run(["ip", "netns", "del", namespace.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True, check=False)


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "the distributed-kernel tests need root (they make network namespaces)"
    for tool in ("ip", "unshare", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"{tool} is missing"
    if not SSHD.exists():
        return f"{SSHD} is missing: install openssh-server (`.ci/run` and the Makefile do)"
    return None


def _namespace(hosts: Hosts, name: str, ip: str, prefix: int) -> Namespace:
    link = f"{name}v"
    namespace = Namespace(name, ip, link)
    _run("ip", "netns", "add", name)
    hosts._namespaces.append(namespace)  # removed at close from here on
    _run("ip", "link", "add", link, "type", "veth", "peer", "name", f"{name}p")
    _run("ip", "link", "set", f"{name}p", "netns", name)
    _run("ip", "link", "set", link, "master", hosts.bridge, "up")
    inside = ["ip", "netns", "exec", name]
    _run(*inside, "ip", "link", "set", "lo", "up")
    _run(*inside, "ip", "link", "set", f"{name}p", "name", "eth0")
    _run(*inside, "ip", "addr", "add", f"{ip}/{prefix}", "dev", "eth0")
    _run(*inside, "ip", "link", "set", "eth0", "up")
    return namespace


def _sshd_config(directory: Path, ip: str) -> Path:
    directory.mkdir(parents=True)
    _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(directory / "host_key"))
    config = directory / "sshd_config"
    config.write_text(
        f"ListenAddress {ip}\n"
        f"HostKey {directory / 'host_key'}\n"
        f"PidFile {directory / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {directory / 'authorized_keys'}\n"
        "StrictModes no\nUsePAM no\nPermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
    )
    return config


def _wait_for_ssh(hosts: Hosts, host: Namespace, process: subprocess.Popen[bytes], key: Path) -> None:
    """Until ``ssh`` from the gateway's namespace runs ``hostname`` on ``host`` (and gets its name)."""
    argv = hosts.gateway.exec(
        "ssh", "-i", str(key), "-o", f"UserKnownHostsFile={hosts.home / '.ssh' / 'known_hosts'}",
        "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=2",
        f"root@{host.ip}", "hostname",
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)
        if result.returncode == 0 and result.stdout.strip() == host.name:
            return
        if process.poll() is not None or time.monotonic() > deadline:
            message = f"sshd on {host.name} ({host.ip}) does not answer: {result.stderr.strip()}"
            raise RuntimeError(message)
        time.sleep(0.2)


@contextmanager
def make_hosts(directory: Path, count: int) -> Iterator[Hosts]:
    """``count`` hosts with sshd, and the gateway's namespace, all on a new bridge."""
    missing = _missing()
    if missing:
        pytest.fail(missing)
    tag = f"na{os.getpid() % 100000}"  # interface names: 15 characters at most
    subnet = _free_subnet()
    addresses = [str(address) for address in subnet.hosts()]
    hosts = Hosts(bridge=f"{tag}br", gateway=Namespace(f"{tag}eg", addresses[1], f"{tag}egv"))
    try:
        _run("ip", "link", "add", hosts.bridge, "type", "bridge")
        hosts.bridge_ip = addresses[0]
        _run("ip", "addr", "add", f"{addresses[0]}/{subnet.prefixlen}", "dev", hosts.bridge)
        _run("ip", "link", "set", hosts.bridge, "up")
        hosts.gateway = _namespace(hosts, f"{tag}eg", addresses[1], subnet.prefixlen)

        hosts.home = directory / "gateway-home"
        ssh = hosts.home / ".ssh"
        ssh.mkdir(parents=True)
        ssh.chmod(0o700)
        key = ssh / "id_ed25519"  # paramiko finds it there, as ssh does
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        known_hosts: list[str] = []
        for index in range(count):
            host = _namespace(hosts, f"{tag}h{index + 1}", addresses[10 + index], subnet.prefixlen)
            hosts.hosts.append(host)
            config = _sshd_config(directory / host.name, host.ip)
            shutil.copy(key.with_suffix(".pub"), config.parent / "authorized_keys")
            host_key = (config.parent / "host_key.pub").read_text().split()
            known_hosts.append(f"{host.ip} {host_key[0]} {host_key[1]}\n")
            # unshare execs sshd in a UTS namespace of its own, named like the host.
            script = f"hostname {host.name} && exec {SSHD} -D -e -f {config}"
            with (config.parent / "sshd.log").open("wb") as log:
                process = subprocess.Popen(
                    host.exec("unshare", "--uts", "sh", "-c", script), stdout=log, stderr=subprocess.STDOUT
                )
            hosts._sshd.append(process)
        (ssh / "known_hosts").write_text("".join(known_hosts))
        for host, process in zip(hosts.hosts, hosts._sshd, strict=True):
            _wait_for_ssh(hosts, host, process, key)
        yield hosts
    finally:
        hosts.close()
