"""The node's private containerd: its configuration, and importing the test images.

One containerd instance of the node's own (socket, root, state, runc root, CNI
configuration), never the system's: nothing it does touches a containerd the machine may
run, and everything it leaves is under the fixed paths of :mod:`.layout`. Settings that
matter on this machine kind (see docs/node.md):

- ``SystemdCgroup = false``: the kubelet uses the cgroupfs driver (no systemd here).
- ``restrict_oom_score_adj = true``: root here lacks CAP_SYS_RESOURCE, so runc cannot give
  the sandbox the -998 OOM score the kubelet asks for; every sandbox would fail to start.
- ``netns_mounts_under_state_dir = true``: Pod network namespaces are mounted under our
  state dir rather than /var/run/netns, so cleanup finds them by path.
- the sandbox image is the locally built pause image; nothing is ever pulled.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

from . import layout

#: Plugins never used here; disabling them keeps start-up quiet and quick.
DISABLED_PLUGINS = (
    "io.containerd.snapshotter.v1.aufs",
    "io.containerd.snapshotter.v1.btrfs",
    "io.containerd.snapshotter.v1.devmapper",
    "io.containerd.snapshotter.v1.zfs",
    "io.containerd.tracing.processor.v1.otlp",
    "io.containerd.internal.v1.tracing",
)


def _q(value: str | Path) -> str:
    # A JSON string is a valid TOML basic string for everything used here.
    return json.dumps(str(value))


def render_config(sandbox_image: str) -> str:
    """containerd's config.toml (version 2, containerd 1.6)."""
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    disabled = ", ".join(_q(p) for p in DISABLED_PLUGINS)
    return f"""\
# Written by kapacitor_testkit.node for the test node; see docs/node.md.
version = 2
root = {_q(layout.CONTAINERD_ROOT)}
state = {_q(layout.CONTAINERD_STATE)}
disabled_plugins = [{disabled}]

[grpc]
  address = {_q(layout.CONTAINERD_SOCKET)}

[ttrpc]
  address = {_q(str(layout.CONTAINERD_SOCKET) + ".ttrpc")}

[debug]
  level = "warn"

[plugins."io.containerd.internal.v1.opt"]
  path = {_q(layout.STATE_DIR / "opt")}

# Unused (the CRI plugin runs runc.v2 shims), but the task service needs it loaded; its
# runc state would default to /run/containerd, shared with a system containerd.
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = {_q(layout.RUN_DIR / "runc-v1")}

{cri}]
  sandbox_image = {_q(sandbox_image)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  max_container_log_line_size = 16384

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = {_q(layout.RUNC)}
  Root = {_q(layout.RUNC_ROOT)}

{cri}.cni]
  bin_dir = {_q(layout.CNI_BIN_DIR)}
  conf_dir = {_q(layout.CNI_CONF_DIR)}
  max_conf_num = 1

{cri}.registry]
  config_path = ""
"""


def render_cni_config() -> str:
    """The CNI network: bridge + host-local IPAM, no default route, no masquerading.

    The gateway (the bridge's address) is the node IP. The only route besides the Pod
    subnet is the `kubernetes` ClusterIP via the node, which holds that address on `lo`.
    """
    doc = {
        "cniVersion": "1.0.0",
        "name": layout.CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": layout.BRIDGE,
                # The bridge holds the gateway address (= node IP)...
                "isGateway": True,
                # ...but Pods get no default route through it, and no NAT.
                "isDefaultGateway": False,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.IPAM_DIR),
                    "ranges": [
                        [
                            {
                                "subnet": layout.POD_SUBNET,
                                "gateway": layout.NODE_IP,
                                "rangeStart": layout.POD_RANGE_START,
                            }
                        ]
                    ],
                    "routes": [{"dst": f"{layout.CLUSTER_IP}/32", "gw": layout.NODE_IP}],
                },
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


#: Where containerd sends registry requests: a closed loopback port (the discard service).
NO_REGISTRY_PROXY = "http://127.0.0.1:9"


def environment(base: Mapping[str, str]) -> dict[str, str]:
    """containerd's environment: every registry request goes to a closed local port.

    Images are imported, never pulled, and no registry is reachable anyway; with this an
    image the node lacks fails at once (ErrImagePull) instead of sending a request off
    the machine (only ``imagePullPolicy: Never`` avoids the attempt altogether).
    """
    env = {k: v for k, v in base.items() if k.lower() not in _PROXY_VARIABLES}
    env.update({"HTTPS_PROXY": NO_REGISTRY_PROXY, "HTTP_PROXY": NO_REGISTRY_PROXY})
    return env


_PROXY_VARIABLES = frozenset({"https_proxy", "http_proxy", "no_proxy", "all_proxy"})


def ctr(*args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
    """Run ``ctr`` against the node's containerd in the CRI namespace.

    Raises:
        subprocess.CalledProcessError: ctr failed (the message carries its stderr).
    """
    argv = [
        str(layout.CTR),
        "--address",
        str(layout.CONTAINERD_SOCKET),
        "--namespace",
        layout.K8S_NAMESPACE,
        *args,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(result.returncode, argv, result.stdout, result.stderr)
    return result


def is_serving() -> bool:
    """True once containerd answers on its socket."""
    if not layout.CONTAINERD_SOCKET.exists():
        return False
    try:
        ctr("version", timeout=5.0)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return False
    return True


def import_image(archive: Path) -> None:
    """Import a ``docker save`` tarball into the CRI namespace, unpacked for overlayfs.

    Raises:
        subprocess.CalledProcessError: ctr could not import it.
    """
    ctr("images", "import", "--snapshotter", "overlayfs", str(archive))


def tag_image(source: str, *targets: str) -> None:
    """Give an imported image more names (kubelet-normalized, e.g. docker.io/library/...).

    Raises:
        subprocess.CalledProcessError: ctr could not tag it.
    """
    ctr("images", "tag", "--force", source, *targets)


def image_refs() -> set[str]:
    """References of the images the node's containerd holds."""
    out = ctr("images", "list", "--quiet").stdout
    return {line.strip() for line in out.splitlines() if line.strip()}
