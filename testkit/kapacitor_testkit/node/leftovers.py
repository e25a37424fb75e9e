"""Find and remove everything a test node leaves on the machine, by its fixed names.

Teardown and crash recovery are the same code: :func:`clean` runs at the end of every
run and at the start of the next one, and needs no record of what the previous run made,
only the names in :mod:`.layout`. A run killed with SIGKILL loses its kubelet, containerd
and control plane (they die with it, see ``processes.die_with_parent``), but containerd's
shims are detached by design and keep the containers, their mounts, network namespaces
and cgroups alive; all of that is found here:

- processes: any whose command line names the node's state directories (shims, a stray
  containerd or kubelet), and every process in the node's cgroups (the containers);
- mounts under the state directories (container root filesystems, ``/dev/shm`` of
  sandboxes, network namespaces, volumes and the kubelet's own bind mount);
- the cgroup ``layout.CGROUP_ROOT`` in every hierarchy, deepest first;
- the bridge and the veths on it, the ClusterIP on ``lo``, our iptables rules;
- files: the state directories, the kubelet's links in /var/log/containers, libcni's
  cached results and the shims' sockets in /run/containerd/s.

:func:`find` reports what is there; the teardown test asserts it is empty.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path

from . import hostnet, layout

#: From <sys/mount.h>.
_MNT_DETACH = 2

_OURS = (str(layout.STATE_DIR), str(layout.RUN_DIR))

#: Programs that may name our directories on their command line. Only these are killed
#: by command line (anything else there, say a shell listing the directory, is left be).
_NODE_PROGRAMS = frozenset(
    {"containerd", "containerd-shim-runc-v2", "kubelet", "kube-scheduler", "runc", "ctr"}
)


def _load_libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name, use_errno=True) if name else None


_LIBC = _load_libc()


@dataclass
class Leftovers:
    """What a node left on the machine; empty after a clean teardown."""

    processes: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    iptables_rules: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def describe(self) -> str:
        """One line per kind of leftover, for messages."""
        return "; ".join(
            f"{f.name}: {getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name)
        )


# --- processes ----------------------------------------------------------------------------


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _cgroup_dirs() -> list[Path]:
    """The node's cgroup root in every mounted hierarchy that has one."""
    root = layout.CGROUP_ROOT.strip("/")
    return [h / root for h in layout.cgroup_hierarchies() if (h / root).is_dir()]


def _pids_in_cgroups() -> set[int]:
    pids: set[int] = set()
    for top in _cgroup_dirs():
        for directory, _, files in os.walk(top):
            if "cgroup.procs" in files:
                with contextlib.suppress(OSError):
                    text = (Path(directory) / "cgroup.procs").read_text()
                    pids.update(int(p) for p in text.split())
    return pids


def _pids_naming_our_dirs() -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmdline = _cmdline(int(entry.name))
        program = os.path.basename(cmdline.split(" ", 1)[0])
        if program in _NODE_PROGRAMS and any(mark in cmdline for mark in _OURS):
            found.add(int(entry.name))
    return found


def _our_pids() -> set[int]:
    return _pids_in_cgroups() | _pids_naming_our_dirs()


def _kill_all(timeout: float = 20.0) -> None:
    """SIGKILL the node's processes until none is left (containers may still fork)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = _our_pids()
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


# --- mounts -------------------------------------------------------------------------------


def _unescape(path: str) -> str:
    # /proc/self/mountinfo escapes space, tab, newline and backslash as octal.
    return (
        path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n")
        .replace("\\134", "\\")
    )  # fmt: skip


def _our_mounts() -> list[str]:
    found: list[str] = []
    with contextlib.suppress(OSError), open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if any(point == d or point.startswith(d + "/") for d in _OURS):
                found.append(point)
    return found


def _umount(path: str) -> None:
    if _LIBC is None:
        subprocess.run(["umount", "-l", path], capture_output=True, check=False)
        return
    target = path.encode()
    if _LIBC.umount2(target, 0) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        _LIBC.umount2(target, _MNT_DETACH)


def _unmount_all(attempts: int = 10) -> None:
    """Unmount everything under the state directories, deepest first, stacked ones too."""
    for _ in range(attempts):
        mounts = _our_mounts()
        if not mounts:
            return
        for point in sorted(mounts, key=lambda p: p.count("/"), reverse=True):
            _umount(point)


# --- cgroups ------------------------------------------------------------------------------


def _our_cgroups() -> list[str]:
    return [str(d) for d in _cgroup_dirs()]


def _remove_cgroups(timeout: float = 10.0) -> None:
    """rmdir the cgroup trees bottom-up; a cgroup whose last task is dying is briefly busy."""
    deadline = time.monotonic() + timeout
    while _cgroup_dirs():
        for top in _cgroup_dirs():
            for directory, _, _ in os.walk(top, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(directory)
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)


# --- files --------------------------------------------------------------------------------


def _log_links() -> Iterator[Path]:
    if not layout.CONTAINER_LOG_LINKS.is_dir():
        return
    for link in layout.CONTAINER_LOG_LINKS.iterdir():
        if link.is_symlink() and str(os.readlink(link)).startswith(str(layout.POD_LOGS_DIR)):
            yield link


def _cni_cache_files(task_ids: list[str]) -> Iterator[Path]:
    """libcni's cached results: our network's, and the loopback network's of our sandboxes
    (containerd sets up `lo` through CNI as a network called ``cni-loopback``)."""
    if not layout.CNI_CACHE_RESULTS.is_dir():
        return
    yield from layout.CNI_CACHE_RESULTS.glob(f"{layout.CNI_NETWORK}-*")
    for task_id in task_ids:
        cached = layout.CNI_CACHE_RESULTS / f"cni-loopback-{task_id}-lo"
        if cached.exists():
            yield cached


def _task_ids() -> list[str]:
    tasks = layout.CONTAINERD_STATE / "io.containerd.runtime.v2.task" / layout.K8S_NAMESPACE
    with contextlib.suppress(OSError):
        return [p.name for p in tasks.iterdir()]
    return []


def _shim_sockets(task_ids: list[str]) -> Iterator[Path]:
    """The shims' sockets: containerd 1.6 names them sha256(<address>/<namespace>/<id>)."""
    if not layout.SHIM_SOCKET_DIR.is_dir():
        return
    address = str(layout.CONTAINERD_SOCKET)
    for task_id in task_ids:
        digest = hashlib.sha256(f"{address}/{layout.K8S_NAMESPACE}/{task_id}".encode())
        socket = layout.SHIM_SOCKET_DIR / digest.hexdigest()
        if socket.exists():
            yield socket


def _files_outside(task_ids: list[str]) -> list[Path]:
    """Our files in shared directories (names derived from the containers' task ids)."""
    return [*_shim_sockets(task_ids), *_cni_cache_files(task_ids), *_log_links()]


def _our_paths() -> list[str]:
    paths = [str(d) for d in (layout.STATE_DIR, layout.RUN_DIR) if d.exists()]
    return paths + [str(p) for p in _files_outside(_task_ids())]


def _remove_files(outside: list[Path]) -> None:
    for path in outside:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    for directory in (layout.RUN_DIR, layout.STATE_DIR):
        shutil.rmtree(directory, ignore_errors=True)
    # Directories made for us by the kubelet, libcni and the shims, if nothing else uses them.
    for parent in (
        layout.CONTAINER_LOG_LINKS,
        layout.CNI_CACHE_RESULTS,
        layout.CNI_CACHE_RESULTS.parent,
        layout.SHIM_SOCKET_DIR,
        layout.SHIM_SOCKET_DIR.parent,
    ):
        with contextlib.suppress(OSError):
            parent.rmdir()


# --- the two entry points -----------------------------------------------------------------


def find() -> Leftovers:
    """Everything a node (or node-mode control plane) left behind on this machine."""
    links = [layout.BRIDGE] if hostnet.link_exists(layout.BRIDGE) else []
    return Leftovers(
        processes=[f"{pid} {_cmdline(pid)}"[:200] for pid in sorted(_our_pids())],
        mounts=_our_mounts(),
        cgroups=_our_cgroups(),
        links=links + hostnet.bridge_ports(),
        addresses=sorted(hostnet.lo_addresses() & {layout.CLUSTER_IP}),
        iptables_rules=hostnet.our_rules(),
        paths=_our_paths(),
    )


def clean(*, keep_cluster_ip: bool = False, log: Callable[[str], None] | None = None) -> None:
    """Remove every leftover of a node, whether its run ended cleanly or crashed.

    Order matters: processes first (a running shim re-creates what is removed under it,
    a live container keeps its cgroup busy), then mounts, cgroups, network, files.
    ``keep_cluster_ip`` leaves the ClusterIP on ``lo`` (the control plane still serves
    on it).
    """
    found = find()
    if keep_cluster_ip:
        found.addresses = []
    if log is not None and found:
        log(f"cleaning up node leftovers: {found.describe()[:2000]}")
    _kill_all()
    # Named after the task directories, which go with the state directories: list first.
    outside = _files_outside(_task_ids())
    _unmount_all()
    _remove_cgroups()
    hostnet.delete_bridge()
    hostnet.remove_our_rules()
    if not keep_cluster_ip:
        hostnet.remove_lo_address(layout.CLUSTER_IP)
    _remove_files(outside)
