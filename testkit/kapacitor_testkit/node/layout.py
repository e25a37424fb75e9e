"""Fixed names, addresses and paths of the one test node a machine runs at a time.

Everything the node creates outside its temporary work directory is named here, so that
a run that crashed (SIGKILL: no teardown ran) can be cleaned up by the next one without
any record of what it made: the bridge, the addresses on ``lo``, the cgroup root, the
state directories, the iptables comment. Changing a name here changes what cleanup
finds, so the old name's leftovers would need removing by hand (docs/node.md).

Addresses (docs/node.md has the picture):

- ``CLUSTER_IP`` 10.96.0.1 is the ``kubernetes`` Service's ClusterIP. It sits on ``lo``
  and the apiserver listens on it, port 443, so in-cluster config works in Pods without
  kube-proxy, and the host reaches the apiserver at the same address.
- ``NODE_IP`` 10.213.0.1 is the node's InternalIP, on the bridge ``kapop0``: the kubelet
  serves on it (``kubectl logs``), and test servers bound to it (the Kapacitor emulator,
  kapacitord) are reachable from Pods. A node IP cannot be a loopback address.
- Pods get addresses from ``POD_SUBNET`` and only two routes: the subnet itself (on the
  bridge) and ``CLUSTER_IP`` via the bridge. No default route: a Pod can reach what the
  test cluster serves and nothing else.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The Node object's name, the kubelet's identity (CN=system:node:<name>).
NODE_NAME: Final = "kapacitor-operator-node"

#: ClusterIP of the `kubernetes` Service, held by `lo`; the apiserver binds it.
CLUSTER_IP: Final = "10.96.0.1"
#: The Service CIDR; its first address is CLUSTER_IP.
SERVICE_CIDR: Final = "10.96.0.0/24"
#: Port of the `kubernetes` Service, and therefore of the apiserver in node mode.
API_PORT: Final = 443

#: The Linux bridge the Pods' veths attach to (at most 15 characters).
BRIDGE: Final = "kapop0"
#: The bridge's own MAC address (locally administered: "kapop" in hex). A Linux bridge
#: without an address set takes the lowest MAC of its ports, so each Pod that started or
#: ended could change the gateway's MAC under the running Pods, whose ARP caches kept the
#: old one: their traffic to the node (probes answered, API server calls) was lost for
#: up to ~40 s, until the stale entry was probed again.
BRIDGE_MAC: Final = "02:6b:61:70:6f:70"
#: Pod addresses (host-local IPAM) and the bridge's network.
POD_SUBNET: Final = "10.213.0.0/24"
#: The node's InternalIP: the bridge's address and the Pods' gateway.
NODE_IP: Final = "10.213.0.1"
#: Prefix length of NODE_IP on the bridge.
NODE_IP_PREFIX: Final = 24
#: First address host-local hands out (leaves room below for fixed test hosts).
POD_RANGE_START: Final = "10.213.0.10"
#: The kubelet's HTTPS port on NODE_IP (logs, exec, port-forward).
KUBELET_PORT: Final = 10250

#: Name of the CNI network (and prefix of libcni's cached results).
CNI_NETWORK: Final = "kapacitor-operator-node"
#: Comment on every iptables rule the node adds, so cleanup finds exactly those.
IPTABLES_COMMENT: Final = "kapacitor-operator-node"

#: Persistent state: containerd's root (images, snapshots), the kubelet's root dir, Pod
#: logs. Removed at teardown; on the root filesystem because overlayfs needs a real one.
STATE_DIR: Final = Path("/var/lib/kapacitor-operator-node")
#: Size limit of the tmpfs mounted on STATE_DIR (memory is used only as files are written).
STATE_SIZE: Final = "4g"
#: Runtime state: sockets, containerd's state dir (task bundles, network namespaces),
#: runc's state, configuration files. Removed at teardown.
RUN_DIR: Final = Path("/run/kapacitor-operator-node")
#: The cgroup (in every hierarchy) that holds every Pod: the kubelet's cgroupRoot.
CGROUP_ROOT: Final = "/kapacitor-operator-node"
#: Directory of the cgroup hierarchies.
CGROUP_FS: Final = Path("/sys/fs/cgroup")


def cgroup_hierarchies() -> list[Path]:
    """The mounted cgroup hierarchies: one per controller (and the named and unified
    ones) on a cgroup v1 or hybrid host like this one, the root itself on a v2-only host."""
    if (CGROUP_FS / "cgroup.procs").exists():
        return [CGROUP_FS]
    if not CGROUP_FS.is_dir():
        return []
    return [h for h in sorted(CGROUP_FS.iterdir()) if (h / "cgroup.procs").exists()]


#: The machine-wide lock: one node-capable cluster per machine at a time. Outside RUN_DIR
#: on purpose: it outlives every run (deleting a lock file others may wait on is a race).
LOCK_PATH: Final = Path("/run/kapacitor-operator-node.lock")

#: containerd's gRPC socket.
CONTAINERD_SOCKET: Final = RUN_DIR / "containerd.sock"
#: containerd's root and state directories.
CONTAINERD_ROOT: Final = STATE_DIR / "containerd"
CONTAINERD_STATE: Final = RUN_DIR / "containerd"
#: runc's state directory (the default is under /run/containerd, shared with a system one).
RUNC_ROOT: Final = RUN_DIR / "runc"
#: The node's own CNI configuration directory.
CNI_CONF_DIR: Final = RUN_DIR / "cni" / "net.d"
#: host-local IPAM's allocation records.
IPAM_DIR: Final = RUN_DIR / "cni" / "ipam"
#: The kubelet's root directory (pods, volumes, plugins, checkpoints).
KUBELET_ROOT: Final = STATE_DIR / "kubelet"
#: Container logs (the kubelet's podLogsDir).
POD_LOGS_DIR: Final = STATE_DIR / "pod-logs"

#: Where the kubelet links container logs; the path is fixed in the kubelet.
CONTAINER_LOG_LINKS: Final = Path("/var/log/containers")
#: Where libcni caches results (fixed by containerd 1.6's CNI library).
CNI_CACHE_RESULTS: Final = Path("/var/lib/cni/results")
#: Where containerd 1.6's shims put their sockets (fixed: /run/containerd/s/<hash>).
SHIM_SOCKET_DIR: Final = Path("/run/containerd/s")

#: The Debian packages' binaries (hack/provision-node.sh installs them).
CNI_BIN_DIR: Final = Path("/usr/lib/cni")
CONTAINERD: Final = Path("/usr/bin/containerd")
CTR: Final = Path("/usr/bin/ctr")
RUNC: Final = Path("/usr/sbin/runc")

#: The containerd namespace the CRI plugin uses.
K8S_NAMESPACE: Final = "k8s.io"
