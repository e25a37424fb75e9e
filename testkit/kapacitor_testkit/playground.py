"""A local playground: a real cluster with a node, the Kapacitor emulator and the operator,
with the examples applied. Runs until interrupted (Ctrl-C).

    hack/playground.sh          # provisions binaries, packages and images, then runs this

The cluster is the e2e suite's: a node-mode control plane and the test node, so
Job-backed TaskRuns run as real Pods. The examples name ``busybox:1.36``; the node has no
registry, so that name is given to the locally built busybox image (Debian's
busybox-static). The operator runs as a process on the host (quick to restart after a
code change); the emulator listens on the node IP, which Pods can reach.
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit import ControlPlane, setup_kube_env
from kapacitor_testkit.node import Node
from kapacitor_testkit.node.layout import NODE_IP
from kapacitor_testkit.operator_process import OperatorProcess

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "playground"
TEMPLATE = (
    "var measurement string\nvar field = 'value'\nvar crit = 90.0\n"
    "stream\n    |from()\n        .measurement(measurement)\n"
    '    |alert()\n        .crit(lambda: "value" > crit)\n'
)
SKIPPED = {
    "07-taskrun-retry-of.yaml": "needs a real failed run ID",
    "09-kapacitor-with-auth.yaml": "points at a Kapacitor with authentication",
}
#: Images the examples name, and the local image each one runs as.
EXAMPLE_IMAGES = {"docker.io/library/busybox:1.36": "busybox"}
#: The node's images the playground needs (the operator runs on the host).
NODE_IMAGES = ("pause", "busybox")


def apply_examples(cp: ControlPlane, emulator: EmulatorHandle) -> None:
    import httpx

    httpx.post(
        f"{emulator.base_url}/kapacitor/v1/templates",
        json={"id": "threshold_alert", "type": "stream", "script": TEMPLATE},
    )
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        if path.name in SKIPPED:
            print(f"  skipped {path.name}: {SKIPPED[path.name]}")
            continue
        cp.kubectl("-n", NAMESPACE, "apply", "--server-side", "-f", str(path))
        print(f"  applied {path.name}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep state and logs here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kapacitor-playground-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting etcd, kube-apiserver, kube-controller-manager and the node ...")
    with (
        ControlPlane(node=True, parent_dir=workdir) as cp,
        Node(cp, import_images=NODE_IMAGES) as node,
        running_emulator("memory", ["--scheduler", "on"], host=NODE_IP) as emulator,
    ):
        for ref, name in EXAMPLE_IMAGES.items():
            node.alias_image(name, ref)
        setup_kube_env(cp.kubeconfig_path)
        cp.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
        cp.restart_controller_manager()
        cp.kubectl("create", "namespace", NAMESPACE)
        operator = OperatorProcess(
            kubeconfig=cp.kubeconfig_path,
            kapacitor_url=emulator.base_url,
            namespaces=None,
            log_dir=workdir / "operator",
            env={"OPERATOR_DRIFT_INTERVAL": "60"},
        )
        with operator:
            print("applying examples/ to namespace", NAMESPACE)
            apply_examples(cp, emulator)
            print(
                f"""
The playground is running ({cp.version.get("gitVersion")}, node {node.startup_seconds}).
In another shell:

  export KUBECONFIG={cp.kubeconfig_path}
  kubectl -n {NAMESPACE} get kapacitortasks,taskruns,jobs,pods
  kubectl -n {NAMESPACE} wait --for=condition=Ready kapacitortask --all
  kubectl -n {NAMESPACE} describe kapacitortask cpu-alert
  kubectl -n {NAMESPACE} logs job/hourly-backup-1

Kapacitor emulator: {emulator.base_url}  (curl {emulator.base_url}/kapacitor/v1/tasks)
Operator log:       {operator.log_path}
Metrics:            {operator.metrics_url}
Node logs:          {node.log_path("kubelet").parent}

Press Ctrl-C to stop.""",
                flush=True,
            )
            try:
                while not stop.wait(1.0):
                    if operator.process is None or operator.process.poll() is not None:
                        print("operator exited; see", operator.log_path)
                        return 1
            except KeyboardInterrupt:
                pass
            finally:
                stop.set()
    print("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
