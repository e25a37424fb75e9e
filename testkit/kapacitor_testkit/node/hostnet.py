"""The host side of the node's network: the bridge, addresses on ``lo``, iptables.

Thin wrappers around ``ip`` and ``iptables`` (iproute2 and Debian's iptables), each
idempotent, so start-up can run them over the leftovers of a crashed run and teardown
can run them twice. Nothing here changes an interface, address or rule the node did not
create (everything is found by the fixed names of :mod:`.layout`), except
:func:`set_forward_policy`, with which the teardown test plays Docker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

from . import layout


class HostNetworkError(RuntimeError):
    """An ``ip`` or ``iptables`` command failed."""


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise HostNetworkError(f"{' '.join(argv)}: exit {result.returncode}: {result.stderr}")
    return result


def _ip_json(*args: str) -> list[dict[str, Any]]:
    out = _run("ip", "-json", *args).stdout.strip()
    data: list[dict[str, Any]] = json.loads(out) if out else []
    return data


# --- addresses on lo ----------------------------------------------------------------------


def lo_addresses() -> set[str]:
    """IPv4 addresses on ``lo``."""
    found: set[str] = set()
    for link in _ip_json("-4", "addr", "show", "dev", "lo"):
        for info in link.get("addr_info", []):
            found.add(str(info.get("local")))
    return found


def add_lo_address(address: str) -> None:
    """Put ``address``/32 on ``lo`` (no-op when it is there)."""
    _run("ip", "addr", "replace", f"{address}/32", "dev", "lo")


def remove_lo_address(address: str) -> None:
    """Take ``address``/32 off ``lo`` (no-op when it is not there)."""
    if address in lo_addresses():
        _run("ip", "addr", "del", f"{address}/32", "dev", "lo")


# --- the bridge ---------------------------------------------------------------------------


def link_exists(name: str) -> bool:
    """Whether a network interface called ``name`` exists."""
    return _run("ip", "link", "show", "dev", name, check=False).returncode == 0


def bridge_ports(bridge: str = layout.BRIDGE) -> list[str]:
    """Interfaces enslaved to ``bridge`` (the host ends of the Pods' veths)."""
    if not link_exists(bridge):
        return []
    return [str(link["ifname"]) for link in _ip_json("link", "show", "master", bridge)]


def create_bridge() -> None:
    """Create the bridge with its fixed MAC and the node IP, and bring it up (idempotent).

    The bridge CNI plugin would create it on the first Pod, but the kubelet needs the node
    IP before that: it serves on it and reports it as the InternalIP.
    """
    if not link_exists(layout.BRIDGE):
        _run("ip", "link", "add", layout.BRIDGE, "type", "bridge")
    # Set, not inherited from a port: the gateway's MAC never changes (layout.BRIDGE_MAC).
    _run("ip", "link", "set", layout.BRIDGE, "address", layout.BRIDGE_MAC)
    _run(
        "ip", "addr", "replace", f"{layout.NODE_IP}/{layout.NODE_IP_PREFIX}",
        "dev", layout.BRIDGE,
    )  # fmt: skip
    _run("ip", "link", "set", layout.BRIDGE, "up")


def link_address(name: str) -> str:
    """The MAC address of interface ``name``."""
    return str(_ip_json("link", "show", "dev", name)[0]["address"])


def add_bridge_port(name: str, peer: str, *, mac: str, bridge: str = layout.BRIDGE) -> None:
    """A veth pair whose ``name`` end, with address ``mac``, is a port of ``bridge`` (what
    a Pod's network looks like from the host; for tests of the bridge)."""
    _run("ip", "link", "add", name, "address", mac, "type", "veth", "peer", "name", peer)
    _run("ip", "link", "set", name, "master", bridge, "up")


def delete_link(name: str) -> None:
    """Delete interface ``name`` (a veth takes its peer with it); no-op when absent."""
    if link_exists(name):
        _run("ip", "link", "del", name)


def delete_bridge() -> None:
    """Delete the Pods' veths and the bridge (no-op when absent)."""
    for port in bridge_ports():
        _run("ip", "link", "del", port, check=False)
    if link_exists(layout.BRIDGE):
        _run("ip", "link", "del", layout.BRIDGE)


# --- iptables -----------------------------------------------------------------------------


def has_iptables() -> bool:
    """Whether an ``iptables`` command exists (hack/provision-node.sh installs it)."""
    return shutil.which("iptables") is not None


def forward_policy() -> str | None:
    """The filter table's FORWARD policy (``ACCEPT``/``DROP``), or None without iptables."""
    if not has_iptables():
        return None
    for line in _run("iptables", "-w", "-S", "FORWARD").stdout.splitlines():
        parts = line.split()
        if parts[:2] == ["-P", "FORWARD"]:
            return parts[2]
    return None


def our_rules() -> list[str]:
    """Our FORWARD rules, as ``iptables -S`` prints them (``-A FORWARD ...``)."""
    if not has_iptables():
        return []
    return [
        line
        for line in _run("iptables", "-w", "-S", "FORWARD").stdout.splitlines()
        if layout.IPTABLES_COMMENT in line
    ]


def allow_bridge_forwarding() -> bool:
    """If FORWARD drops by default (Docker sets that), accept traffic of our bridge.

    Bridged Pod-to-Pod frames cross the FORWARD chain when br_netfilter is active. Returns
    whether rules were added; each carries our comment so teardown removes exactly them.
    """
    if forward_policy() != "DROP" or our_rules():
        return False
    for direction in ("-i", "-o"):
        _run(
            "iptables", "-w", "-I", "FORWARD", direction, layout.BRIDGE,
            "-m", "comment", "--comment", layout.IPTABLES_COMMENT, "-j", "ACCEPT",
        )  # fmt: skip
    return True


def remove_our_rules() -> None:
    """Delete every FORWARD rule that carries our comment."""
    for rule in our_rules():
        argv = rule.split()
        if argv[:1] == ["-A"]:
            # The comment is quoted by `iptables -S` only if it has spaces; ours has none.
            _run("iptables", "-w", "-D", *argv[1:])


def iptables_rules() -> list[str]:
    """Every table, chain policy and rule (``iptables-save`` without counters or comments).

    Used by the teardown test: the ruleset after a run must equal the one before.
    """
    if shutil.which("iptables-save") is None:
        return []
    rules = []
    for line in _run("iptables-save").stdout.splitlines():
        if not line or line.startswith("#"):
            continue
        # ":CHAIN POLICY [packets:bytes]": the counters change with any traffic.
        rules.append(" ".join(line.split()[:2]) if line.startswith(":") else line)
    return rules


def set_forward_policy(policy: str) -> None:
    """Set the FORWARD policy (the teardown test plays Docker, which leaves it at DROP)."""
    _run("iptables", "-w", "-P", "FORWARD", policy)


def link_names() -> set[str]:
    """Names of every network interface of the host."""
    return {str(link["ifname"]) for link in _ip_json("link", "show")}
