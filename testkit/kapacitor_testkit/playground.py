"""A local playground: a real cluster with a node, a real kapacitord and the operator, with
the examples applied and metrics flowing. Runs until interrupted (Ctrl-C).

    hack/playground.sh              # provisions binaries, packages and images, then runs this
    hack/playground.sh --emulator   # the Kapacitor emulator instead: no kapacitord build

The cluster is the e2e suite's: a node-mode control plane and the test node, so
Job-backed TaskRuns run as real Pods. Kapacitor is the real kapacitord v1.8.3 that
hack/provision-kapacitord.sh builds, configured as the tests configure it (Flux tasks on,
``task-run-influxdb = "none"``, no InfluxDB) and bound to the node IP, so Pods reach it
as well as the host. A data writer sends Telegraf-like cpu, mem and disk points to it every
few seconds, so the examples' stream tasks process data and their alerts fire. The
examples name ``busybox:1.36``; the node has no registry, so that name is given to the
locally built busybox image. The operator runs as a process on the host (quick to restart
after a code change).
"""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
from pathlib import Path

from kapacitor_testkit import ControlPlane, setup_kube_env
from kapacitor_testkit.datawriter import DataWriter
from kapacitor_testkit.example_setup import prepare_kapacitor
from kapacitor_testkit.node import Node
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.playground_kapacitor import PlaygroundKapacitor, running_kapacitor

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "playground"
#: Images the examples name, and the local image each one runs as.
EXAMPLE_IMAGES = {"docker.io/library/busybox:1.36": "busybox"}
#: The node's images the playground needs (the operator runs on the host).
NODE_IMAGES = ("pause", "busybox")


EXAMPLE_KAPACITOR_URL = "http://kapacitor.monitoring:9092"


def apply_examples(cp: ControlPlane, kapacitor: PlaygroundKapacitor) -> None:
    """Define what the examples expect in Kapacitor, then apply each one it can run."""
    prepare_kapacitor(kapacitor.base_url)
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        if path.name in kapacitor.skipped:
            print(f"  skipped {path.name}: {kapacitor.skipped[path.name]}")
            continue
        # The shared connection example names a server by its in-cluster DNS name.
        manifest = path.read_text().replace(EXAMPLE_KAPACITOR_URL, kapacitor.base_url)
        cp.kubectl("-n", NAMESPACE, "apply", "--server-side", "-f", "-", input=manifest)
        print(f"  applied {path.name}")
    for name, note in kapacitor.notes.items():
        print(f"  note on {name}: {note}")


def banner(
    cp: ControlPlane,
    node: Node,
    kapacitor: PlaygroundKapacitor,
    operator: OperatorProcess,
    writer: DataWriter,
) -> str:
    url, shape = kapacitor.base_url, writer.shape
    data = (
        f"cpu, mem and disk of {', '.join(shape.hosts)} every {writer.interval:g} s into "
        f"telegraf.autogen;\n             each host spikes {shape.spike_seconds:g} s every "
        f"{shape.spike_period:g} s (CPU idle < 10 %, disk > 95 %):"
    )
    return f"""
The playground is running ({cp.version.get("gitVersion")}, node {node.startup_seconds}).
In another shell:

  export KUBECONFIG={cp.kubeconfig_path}
  kubectl -n {NAMESPACE} get kapacitortasks,taskruns,jobs,pods
  kubectl -n {NAMESPACE} wait --for=condition=Ready kapacitortask --all
  kubectl -n {NAMESPACE} describe kapacitortask cpu-alert
  kubectl -n {NAMESPACE} logs job/hourly-backup-1

Kapacitor:   {kapacitor.description} at {url}
             curl -s {url}/kapacitor/v1/tasks/cpu_alert | python3 -m json.tool
             (stats.node-stats: points processed, alerts_triggered)
{kapacitor.extra_lines}Data:        {data}
             tail -f /tmp/cpu_alert.log /tmp/threshold_alert.log
Operator:    log {operator.log_path}, metrics {operator.metrics_url}
Node logs:   {node.log_path("kubelet").parent}

Press Ctrl-C to stop."""


def serve(stop: threading.Event, operator: OperatorProcess, kapacitor: PlaygroundKapacitor) -> int:
    """Wait for Ctrl-C or SIGTERM; 1 if the operator or Kapacitor dies first."""
    try:
        while not stop.wait(1.0):
            if operator.process is None or operator.process.poll() is not None:
                print("operator exited; see", operator.log_path)
                return 1
            if (why := kapacitor.exited()) is not None:
                print(why)
                return 1
    except KeyboardInterrupt:
        pass
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep state and logs here")
    parser.add_argument(
        "--emulator",
        action="store_true",
        help="run the project's Kapacitor emulator instead of the real kapacitord (starts "
        "without the kapacitord build; its limits are in docs/emulator.md)",
    )
    parser.add_argument(
        "--write-interval", type=float, default=5.0, help="seconds between data writes (5)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kapacitor-playground-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting etcd, kube-apiserver, kube-controller-manager and the node ...")
    with (
        ControlPlane(node=True, parent_dir=workdir) as cp,
        Node(cp, import_images=NODE_IMAGES) as node,
        running_kapacitor(emulator=args.emulator, workdir=workdir) as kapacitor,
        DataWriter(kapacitor.base_url, interval=args.write_interval) as writer,
    ):
        for ref, name in EXAMPLE_IMAGES.items():
            node.alias_image(name, ref)
        setup_kube_env(cp.kubeconfig_path)
        cp.install_crds(sorted((ROOT / "crds").glob("*.yaml")))
        cp.restart_controller_manager()
        cp.kubectl("create", "namespace", NAMESPACE)
        operator = OperatorProcess(
            kubeconfig=cp.kubeconfig_path,
            kapacitor_url=kapacitor.base_url,
            namespaces=None,
            log_dir=workdir / "operator",
            env={"OPERATOR_DRIFT_INTERVAL": "60"},
        )
        with operator:
            print("applying examples/ to namespace", NAMESPACE)
            apply_examples(cp, kapacitor)
            print(banner(cp, node, kapacitor, operator, writer), flush=True)
            code = serve(stop, operator, kapacitor)
            stop.set()
    print("stopped")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
