"""A real, disposable Kubernetes control plane for e2e tests.

etcd + kube-apiserver + kube-controller-manager run as local processes, envtest-style, so
the operator is tested against the genuine API machinery (RBAC, admission, CEL
validation, server-side apply, the Job controller, garbage collection) without a cluster
or network access. Two modes (see docs/control-plane.md and docs/node.md):

- plain (the default): the apiserver on a random loopback port, no scheduler, no kubelet;
  any number of these may run on a machine at once (the benchmark uses this mode);
- node mode (``node=True``): the apiserver serves on the `kubernetes` Service's ClusterIP
  (10.96.0.1:443, put on ``lo``) so Pods reach it through in-cluster config, with the
  Node authorizer and what a kubelet needs; a :class:`~kapacitor_testkit.node.Node` then
  adds kube-scheduler, containerd and a kubelet. The addresses are fixed, so one
  node-mode control plane runs per machine: start-up takes a machine-wide lock (waiting,
  with a message, for another run) and first cleans up what a crashed run left.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from . import flags
from .api import ApiClient, http_ok
from .audit import AuditFiles, read_events, write_policy
from .binaries import Binaries, find_binaries
from .certs import CertPaths, generate_certs
from .crds import install_crds
from .errors import ControlPlaneError, KubectlError
from .kubeconfig import write_kubeconfig
from .node import layout
from .node.claim import MachineClaim
from .node.machine_lock import DEFAULT_TIMEOUT
from .processes import Process, free_port, start_until_ready


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager; use as a context manager."""

    def __init__(
        self,
        *,
        binaries: Binaries | None = None,
        start_timeout: float = 90.0,
        parent_dir: Path | None = None,
        keep_workdir: bool = False,
        node: bool = False,
        lock_timeout: float = DEFAULT_TIMEOUT,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        # Resolve binaries eagerly: a missing tool should fail before anything starts.
        self.binaries = binaries if binaries is not None else find_binaries()
        self.start_timeout = start_timeout
        #: Where the work directory is created (pytest's tmp dir cleans up after SIGKILL).
        self.parent_dir = parent_dir
        self.keep_workdir = keep_workdir
        #: Node mode: serve on the ClusterIP, ready for a kubelet (see the module docstring).
        self.node_mode = node
        self.lock_timeout = lock_timeout
        #: Told about waiting for the machine lock and about cleaning up leftovers.
        self.notify = notify if notify is not None else _stderr
        self.machine = MachineClaim(self.notify)
        self.workdir: Path | None = None
        #: Seconds each component took to become ready, plus "total".
        self.startup_seconds: dict[str, float] = {}
        self._processes: dict[str, Process] = {}
        self._certs: CertPaths | None = None
        self._api: ApiClient | None = None
        self._server_url: str | None = None
        self._kubeconfig: Path | None = None
        self._version: dict[str, Any] | None = None

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
        """Generate certificates and start the three components, each until ready.

        Raises:
            ControlPlaneError: a component failed or was not ready in time.
        """
        if self.workdir is not None:
            raise ControlPlaneError("control plane already started")
        began = time.monotonic()
        if self.parent_dir is not None:
            self.parent_dir.mkdir(parents=True, exist_ok=True)
        self.workdir = Path(tempfile.mkdtemp(prefix="kapacitor-operator-cp-", dir=self.parent_dir))
        try:
            if self.node_mode:
                self.machine.take(self.lock_timeout)
            cluster_ip = layout.CLUSTER_IP if self.node_mode else None
            self._certs = generate_certs(self.workdir / "pki", cluster_ip=cluster_ip)
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
            self._start_controller_manager()
            self._version = self.api.get_json("/version")
        except BaseException:
            self.stop()
            raise
        self.startup_seconds["total"] = round(time.monotonic() - began, 2)

    def stop(self) -> None:
        """Stop KCM, then the apiserver, then etcd; remove the work directory."""
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            process = self._processes.pop(name, None)
            if process is not None:
                process.stop()
        self.machine.give_back()
        if self.workdir is not None and not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = None

    # -- node mode -----------------------------------------------------------------

    def _audit_files(self) -> AuditFiles | None:
        return write_policy(self._workdir()) if self.node_mode else None

    # -- components ----------------------------------------------------------------

    def _workdir(self) -> Path:
        if self.workdir is None:
            raise ControlPlaneError("control plane not started")
        return self.workdir

    def _launch(
        self,
        name: str,
        argv_for_attempt: Callable[[], list[str]],
        ready: Callable[[], bool],
        timeout: float,
    ) -> None:
        began = time.monotonic()
        self._processes[name] = start_until_ready(
            name,
            argv_for_attempt,
            ready,
            log_path=self._workdir() / f"{name}.log",
            cwd=self._workdir(),
            timeout=timeout,
        )
        self.startup_seconds[name] = round(time.monotonic() - began, 2)

    def _start_etcd(self) -> str:
        help_text = subprocess.run(
            [str(self.binaries.etcd), "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        # Older etcd builds (e.g. Debian's 3.4) lack the flag and refuse unknown flags.
        no_fsync = "--unsafe-no-fsync" in help_text.stdout + help_text.stderr
        ports = flags.EtcdPorts(client=0, peer=0)

        def argv() -> list[str]:
            nonlocal ports
            ports = flags.EtcdPorts(client=free_port(), peer=free_port())
            data_dir = self._workdir() / "etcd-data"
            shutil.rmtree(data_dir, ignore_errors=True)
            return flags.etcd_args(self.binaries.etcd, data_dir, ports, no_fsync=no_fsync)

        def ready() -> bool:
            return http_ok(f"{ports.client_url}/health")

        self._launch("etcd", argv, ready, timeout=20.0)
        return ports.client_url

    def _start_apiserver(self, etcd_url: str) -> None:
        certs = self._require_certs()

        def argv() -> list[str]:
            if self.node_mode:
                endpoint = flags.ApiserverEndpoint(
                    layout.CLUSTER_IP, layout.API_PORT, layout.SERVICE_CIDR
                )
            else:
                endpoint = flags.loopback_endpoint(free_port())
            self._server_url = f"https://{endpoint.address}:{endpoint.port}"
            self._api = ApiClient(
                self._server_url, certs.serving_ca, certs.admin_cert, certs.admin_key
            )
            return flags.apiserver_args(
                self.binaries.kube_apiserver, certs, etcd_url, endpoint, self._audit_files()
            )

        def ready() -> bool:
            return self.api.status("/readyz", timeout=2.0) == 200

        self._launch("kube-apiserver", argv, ready, timeout=self.start_timeout)
        self._kubeconfig = write_kubeconfig(
            self._workdir() / "admin.kubeconfig",
            self.server_url,
            certs.serving_ca,
            certs.admin_cert,
            certs.admin_key,
        )

    def _start_controller_manager(self) -> None:
        certs = self._require_certs()

        def argv() -> list[str]:
            return flags.controller_manager_args(
                self.binaries.kube_controller_manager, certs, self.kubeconfig_path
            )

        def ready() -> bool:
            # The serviceaccount controller has run: namespaces get their `default` SA,
            # so Pods pass ServiceAccount admission.
            return self.api.status("/api/v1/namespaces/default/serviceaccounts/default") == 200

        self._launch("kube-controller-manager", argv, ready, timeout=self.start_timeout)

    def restart_controller_manager(self) -> None:
        """Restart kube-controller-manager, e.g. right after installing CRDs.

        The garbage collector re-reads discovery only every 30 s, so dependents of a custom
        resource are collected up to ~40 s late until it notices a new CRD; a fresh KCM
        discovers the CRD at start-up. Readiness: the `default` ServiceAccount of the
        `default` namespace is deleted while KCM is down and must be recreated.

        Raises:
            ControlPlaneError: the new process failed or was not ready in time.
        """
        process = self._processes.pop("kube-controller-manager", None)
        if process is not None:
            process.stop()
        self.kubectl("delete", "serviceaccount", "default", "-n", "default", "--ignore-not-found")
        self._start_controller_manager()

    @property
    def certs(self) -> CertPaths:
        """The control plane's PEM files (node mode: with what a node needs)."""
        return self._require_certs()

    def _require_certs(self) -> CertPaths:
        if self._certs is None:
            raise ControlPlaneError("certificates not generated")
        return self._certs

    # -- public accessors ----------------------------------------------------------

    @property
    def api(self) -> ApiClient:
        """Raw HTTPS access as ``admin`` (system:masters)."""
        if self._api is None:
            raise ControlPlaneError("control plane not started")
        return self._api

    @property
    def server_url(self) -> str:
        """``https://127.0.0.1:<port>`` of the apiserver (node mode: ``https://10.96.0.1:443``)."""
        if self._server_url is None:
            raise ControlPlaneError("control plane not started")
        return self._server_url

    @property
    def kubeconfig_path(self) -> Path:
        """Admin kubeconfig with embedded certificate data."""
        if self._kubeconfig is None:
            raise ControlPlaneError("control plane not started")
        return self._kubeconfig

    @property
    def ca_path(self) -> Path:
        """CA that signed the apiserver's serving certificate."""
        return self._require_certs().serving_ca

    @property
    def client_cert_path(self) -> Path:
        """Admin client certificate (CN=admin, O=system:masters)."""
        return self._require_certs().admin_cert

    @property
    def client_key_path(self) -> Path:
        """Key of :attr:`client_cert_path`."""
        return self._require_certs().admin_key

    @property
    def bin_dir(self) -> Path:
        """Directory the apiserver binary came from."""
        return self.binaries.bin_dir

    @property
    def version(self) -> dict[str, Any]:
        """The apiserver's ``/version`` document (``gitVersion`` is e.g. ``v1.35.4``)."""
        if self._version is None:
            raise ControlPlaneError("control plane not started")
        return self._version

    def audit_events(self) -> list[dict[str, Any]]:
        """Node mode: the audit log's events (writes by ServiceAccounts, see
        :mod:`.audit`); empty in plain mode, which keeps no audit log."""
        return read_events(self._workdir() / "audit.log")

    def log_path(self, component: str) -> Path:
        """Log file of ``etcd``, ``kube-apiserver`` or ``kube-controller-manager``."""
        return self._workdir() / f"{component}.log"

    # -- helpers -------------------------------------------------------------------

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this control plane as admin; text in, text out.

        Raises:
            KubectlError: kubectl exited non-zero and ``check`` is true.
        """
        argv = [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig_path}", *args]
        result = subprocess.run(
            argv, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, argv, result.stdout, result.stderr)
        return result

    def install_crds(self, paths: Iterable[Path | str], *, timeout: float = 60.0) -> list[str]:
        """Server-side apply manifests; wait until their CRDs are Established and served.

        Raises:
            KubectlError: kubectl rejected a manifest.
            CrdNotReadyError: a CRD did not become usable within ``timeout``.
        """
        return install_crds(self.kubectl, self.api, paths, timeout=timeout)
