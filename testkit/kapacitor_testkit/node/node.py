"""A real Kubernetes node on this machine: kube-scheduler, containerd and a kubelet.

With it, Pods run for real: Job attempts are containers that exit with their own codes,
``kubectl logs`` works, the operator runs as a Pod installed by its Helm chart. The node
joins a control plane started in node mode (``ControlPlane(node=True)``), which owns the
machine lock, the ClusterIP on ``lo`` and the PKI the node's certificates come from.

Start-up: clean up leftovers (a crashed run), bridge + node IP, the cgroup root,
containerd with its CNI configuration, image import, kube-scheduler, the kubelet, then
wait until the Node is Ready and schedulable. Stop: the kubelet, scheduler and containerd
get SIGTERM, then :func:`.leftovers.clean` removes every container, shim, mount, cgroup,
link, rule and state directory (docs/node.md).
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from ..binaries import find_tool, search_dirs
from ..kubeconfig import write_kubeconfig
from ..processes import Process, free_port, start_until_ready, wait_until
from . import containerd, hostnet, kubelet, layout, leftovers
from .images import Image, NodeImages, find_images
from .pki import issue_kubelet_certs

if TYPE_CHECKING:
    from ..controlplane import ControlPlane


class NodeError(RuntimeError):
    """The node could not be started (the message carries the relevant log tail)."""


#: Which images a node imports unless told otherwise.
DEFAULT_IMAGES = ("pause", "busybox", "operator")


class Node:
    """The one test node of this machine; use as a context manager inside a node-mode
    control plane's."""

    def __init__(
        self,
        control_plane: ControlPlane,
        *,
        images: NodeImages | None = None,
        import_images: Iterable[str] = DEFAULT_IMAGES,
        start_timeout: float = 120.0,
    ) -> None:
        if not control_plane.node_mode:
            raise NodeError("a Node needs a control plane started with node=True")
        self.control_plane = control_plane
        # Resolve eagerly: a missing image or binary should fail before anything starts.
        self.import_images = tuple(import_images)
        self.images = images if images is not None else find_images(need=self.import_images)
        for name in self.import_images:
            self.images.get(name)
        self.start_timeout = start_timeout
        self.kubelet_binary = find_tool("kubelet", search_dirs())
        self.scheduler_binary = find_tool("kube-scheduler", search_dirs())
        #: Seconds each step of start-up took, plus "total".
        self.startup_seconds: dict[str, float] = {}
        self.log_dir: Path | None = None
        self._processes: dict[str, Process] = {}

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Bring the node up until its Node object is Ready and schedulable.

        Raises:
            NodeError: a component failed or the node was not Ready in time.
            ControlPlaneError: a component exited during start-up.
        """
        if self._processes:
            raise NodeError("node already started")
        cp = self.control_plane
        if cp.workdir is None:
            raise NodeError("start the control plane before the node")
        began = time.monotonic()
        self.log_dir = cp.workdir / "node"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._step("cleanup", lambda: leftovers.clean(keep_cluster_ip=True, log=cp.notify))
            self._step("network", self._prepare_host)
            self._step("containerd", self._start_containerd)
            self._step("images", self._import_images)
            self._step("kube-scheduler", self._start_scheduler)
            self._step("kubelet", self._start_kubelet)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds["total"] = round(time.monotonic() - began, 2)

    def stop(self) -> None:
        """Stop the kubelet, scheduler and containerd, then remove everything they left."""
        for name in ("kubelet", "kube-scheduler", "containerd"):
            process = self._processes.pop(name, None)
            if process is not None:
                process.stop(grace=10.0)
        leftovers.clean(keep_cluster_ip=True)

    def _step(self, name: str, action: Callable[[], None]) -> None:
        began = time.monotonic()
        action()
        self.startup_seconds[name] = round(time.monotonic() - began, 2)

    # -- steps -----------------------------------------------------------------------

    def _launch(
        self,
        name: str,
        argv: list[str],
        ready: Callable[[], bool],
        timeout: float,
        env: dict[str, str] | None = None,
    ) -> None:
        assert self.log_dir is not None
        self._processes[name] = start_until_ready(
            name,
            lambda: argv,
            ready,
            log_path=self.log_dir / f"{name}.log",
            cwd=self.log_dir,
            timeout=timeout,
            # Fixed paths and ports: a second attempt would fail the same way.
            attempts=1,
            env=env,
        )

    def _prepare_host(self) -> None:
        for directory in (layout.RUN_DIR, layout.STATE_DIR, layout.CNI_CONF_DIR):
            directory.mkdir(parents=True, exist_ok=True)
        # Images and Pods live in memory: importing is quicker, and teardown is one
        # unmount instead of deleting tens of thousands of files (seconds on a disk).
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"mode=0755,size={layout.STATE_SIZE}",
             "kapacitor-operator-node", str(layout.STATE_DIR)],
            check=True, capture_output=True,
        )  # fmt: skip
        hostnet.create_bridge()
        hostnet.allow_bridge_forwarding()
        _create_cgroup_root()

    def _start_containerd(self) -> None:
        config = layout.RUN_DIR / "containerd.toml"
        config.write_text(containerd.render_config(self.images.pause.ref))
        conflist = layout.CNI_CONF_DIR / f"10-{layout.CNI_NETWORK}.conflist"
        conflist.write_text(containerd.render_cni_config())
        argv = [str(layout.CONTAINERD), "--config", str(config)]
        env = containerd.environment(os.environ)
        self._launch("containerd", argv, containerd.is_serving, timeout=30.0, env=env)

    def _import_images(self) -> None:
        wanted: list[Image] = [self.images.get(name) for name in self.import_images]
        for image in wanted:
            containerd.import_image(image.archive)
        missing = {image.ref for image in wanted} - containerd.image_refs()
        if missing:
            raise NodeError(f"images not in containerd after import: {sorted(missing)}")

    def _start_scheduler(self) -> None:
        # A copy of the admin kubeconfig under the run dir: it names the scheduler's
        # process by our path, so crash cleanup recognises it.
        kubeconfig = layout.RUN_DIR / "kube-scheduler.kubeconfig"
        shutil.copyfile(self.control_plane.kubeconfig_path, kubeconfig)
        port = free_port()
        argv = kubelet.scheduler_args(self.scheduler_binary, kubeconfig, port)
        self._launch("kube-scheduler", argv, lambda: _healthz_ok(port), timeout=60.0)

    def _start_kubelet(self) -> None:
        cp = self.control_plane
        directory = layout.RUN_DIR / "kubelet"
        certs = issue_kubelet_certs(cp.certs, directory / "pki")
        config = kubelet.write_config(directory / "config.yaml", certs)
        kubeconfig = write_kubeconfig(
            directory / "kubeconfig",
            cp.server_url,
            certs.serving_ca,
            certs.client_cert,
            certs.client_key,
        )
        argv = kubelet.kubelet_args(self.kubelet_binary, config, kubeconfig, directory / "pki")
        self._launch("kubelet", argv, self._node_schedulable, timeout=self.start_timeout)

    # -- images ----------------------------------------------------------------------

    def alias_image(self, name: str, *refs: str) -> None:
        """Make the imported image ``name`` (``"busybox"``) answer to ``refs`` as well.

        Manifests written for real registries (``image: busybox:1.36``) then run as they
        are: the kubelet finds the image and, with the default ``IfNotPresent`` policy of
        a tagged image, pulls nothing. Give fully qualified references, as the kubelet
        normalizes them (``docker.io/library/busybox:1.36``).

        Raises:
            subprocess.CalledProcessError: containerd could not tag the image.
        """
        containerd.tag_image(self.images.get(name).ref, *refs)

    # -- status ----------------------------------------------------------------------

    def node_object(self) -> dict[str, Any] | None:
        """The Node as the API has it, or None before the kubelet registered it."""
        code, body = self.control_plane.api.request(f"/api/v1/nodes/{layout.NODE_NAME}")
        if code != 200:
            return None
        node: dict[str, Any] = json.loads(body)
        return node

    def _node_schedulable(self) -> bool:
        """Ready, and free of the taints the node lifecycle controller sets until then."""
        try:
            node = self.node_object()
        except OSError:
            return False
        if node is None:
            return False
        conditions = {c["type"]: c["status"] for c in node.get("status", {}).get("conditions", [])}
        taints = [
            t
            for t in node.get("spec", {}).get("taints") or []
            if t.get("effect") != "PreferNoSchedule"
        ]
        return conditions.get("Ready") == "True" and not taints

    def wait_schedulable(self, timeout: float = 60.0) -> None:
        """Wait until the Node is Ready and untainted (e.g. after a kubelet restart).

        Raises:
            NodeError: not schedulable within ``timeout``.
        """
        if not wait_until(self._node_schedulable, timeout=timeout, interval=0.5):
            raise NodeError(f"node not Ready within {timeout}s: {self.node_object()}")

    def log_path(self, component: str) -> Path:
        """Log file of ``containerd``, ``kube-scheduler`` or ``kubelet``."""
        if self.log_dir is None:
            raise NodeError("node not started")
        return self.log_dir / f"{component}.log"

    @property
    def processes(self) -> dict[str, Process]:
        """The node's running components by name."""
        return dict(self._processes)


def _healthz_ok(port: int) -> bool:
    """kube-scheduler's /healthz (self-signed serving certificate: not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(
            f"https://127.0.0.1:{port}/healthz", timeout=2.0, context=context
        ) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def _create_cgroup_root() -> None:
    """Create ``layout.CGROUP_ROOT`` in every hierarchy; the kubelet requires it to exist.

    A new cpuset cgroup starts with no CPUs and no memory nodes (cgroup v1): copy the
    parent's, or nothing could ever run in it.
    """
    root = layout.CGROUP_ROOT.strip("/")
    for hierarchy in layout.cgroup_hierarchies():
        directory = hierarchy / root
        directory.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            source = hierarchy / name
            if source.exists() and not (directory / name).read_text().strip():
                (directory / name).write_text(source.read_text())
