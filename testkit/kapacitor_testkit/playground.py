"""A local playground: a real control plane, the Kapacitor emulator and the operator,
with the examples applied. Runs until interrupted (Ctrl-C).

    hack/playground.sh          # provisions binaries, then runs this module

Job-backed TaskRuns need a kubelet, which the playground does not have: a small loop
stands in for it and completes each attempt's Pod a few seconds after it appears.
"""

from __future__ import annotations

import argparse
import json
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from kapacitor_emulator.process import EmulatorHandle, running_emulator
from kapacitor_testkit import ControlPlane, setup_kube_env
from kapacitor_testkit.fake_kubelet import finish_pod
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


def kubelet_loop(cp: ControlPlane, stop: threading.Event) -> None:
    """Complete Pods of operator-made Jobs once they are a few seconds old."""
    seen: dict[str, float] = {}
    while not stop.wait(1.0):
        result = cp.kubectl(
            "get", "pods", "-A", "-l", "kapacitor.operator.dev/taskrun", "-o", "json", check=False
        )
        if result.returncode != 0:
            continue
        for pod in json.loads(result.stdout).get("items", []):
            meta: dict[str, Any] = pod["metadata"]
            key = f"{meta['namespace']}/{meta['name']}"
            if (pod.get("status") or {}).get("phase") in {"Succeeded", "Failed"}:
                continue
            first = seen.setdefault(key, time.monotonic())
            if time.monotonic() - first > 5:
                finish_pod(
                    cp,
                    meta["namespace"],
                    meta["name"],
                    exit_code=0,
                    message="completed by the playground's stand-in kubelet",
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, default=None, help="keep state and logs here")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kapacitor-playground-"))
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting etcd, kube-apiserver and kube-controller-manager ...")
    with (
        ControlPlane(parent_dir=workdir) as cp,
        running_emulator("memory", ["--scheduler", "on"]) as emulator,
    ):
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
            kubelet = threading.Thread(target=kubelet_loop, args=(cp, stop), daemon=True)
            kubelet.start()
            print(
                f"""
The playground is running ({cp.version.get("gitVersion")}). In another shell:

  export KUBECONFIG={cp.kubeconfig_path}
  kubectl -n {NAMESPACE} get kapacitortasks,taskruns
  kubectl -n {NAMESPACE} wait --for=condition=Ready kapacitortask --all
  kubectl -n {NAMESPACE} describe kapacitortask cpu-alert

Kapacitor emulator: {emulator.base_url}  (curl {emulator.base_url}/kapacitor/v1/tasks)
Operator log:       {operator.log_path}
Metrics:            {operator.metrics_url}

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
