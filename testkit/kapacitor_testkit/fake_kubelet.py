"""Write Pod status as a kubelet would: the stand-in from before the test node existed.

The e2e cluster now has a real node (``kapacitor_testkit.node``): Pods run, and the
kubelet reports exit codes, termination messages and logs itself. This module remains
only because tests/e2e/test_taskrun.py and tests/e2e/test_examples.py still use it (they
are being converted to the real node); delete it with their last use. Written status
sticks on the real node as well: a Pod the API says is terminal is terminated by the
kubelet, never moved back.

Tests move a Job's Pod along by writing to the ``pods/status`` subresource what a kubelet
would write; the Job controller then does the rest (Job conditions, counters, removing
its tracking finalizer), exactly as in a cluster. The fields:

- Running: ``status.phase=Running``, ``status.startTime``, conditions ``Ready`` and
  ``ContainersReady`` True (Job ``status.ready`` counts them), and per container
  ``containerStatuses[].state.running.startedAt``.
- Finished: ``status.phase=Succeeded`` (every container exit code 0) or ``Failed``, and
  per container ``containerStatuses[].state.terminated`` with ``exitCode``, ``reason``
  (``Completed``/``Error``), ``message`` (what a container writes to its termination-log),
  ``startedAt`` and ``finishedAt``.

Only ``status.phase`` is strictly needed: a Job reaches ``Failed``/``Complete`` from the
phase alone (measured; the container statuses matter for a ``podFailurePolicy`` and for
whoever reads the exit code and message). No ``spec.nodeName`` or binding is needed: the
apiserver accepts status for an unbound Pod. Do not bind Pods to an invented node: the pod
garbage collector then marks them Failed ("PodGC: node no longer exists", condition
``DisruptionTarget``) about 40-60 s later.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from .processes import wait_until

if TYPE_CHECKING:
    from .controlplane import ControlPlane

#: Label the Job controller puts on its Pods (since 1.27; `job-name` is the legacy one).
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def _timestamp(when: dt.datetime | None) -> str:
    moment = when if when is not None else dt.datetime.now(dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_names(pod: dict[str, Any]) -> list[str]:
    return [c["name"] for c in pod["spec"]["containers"]]


def _images(pod: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c.get("image", "") for c in pod["spec"]["containers"]}


def _conditions(ready: bool, at: str) -> list[dict[str, Any]]:
    """Pod conditions as a kubelet sets them (Job ``status.ready`` counts ``Ready``).

    ``PodScheduled`` is left out: nothing scheduled the Pod, and saying so would be a lie.
    """
    state = "True" if ready else "False"
    extra = {} if ready else {"reason": "PodCompleted"}
    return [
        {"type": "Initialized", "status": "True", "lastTransitionTime": at},
        {"type": "ContainersReady", "status": state, "lastTransitionTime": at, **extra},
        {"type": "Ready", "status": state, "lastTransitionTime": at, **extra},
    ]


def running_status(pod: dict[str, Any], *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The ``status`` a kubelet reports once every container of ``pod`` has started."""
    started = _timestamp(now)
    images = _images(pod)
    return {
        "phase": "Running",
        "startTime": started,
        "conditions": _conditions(True, started),
        "containerStatuses": [
            {
                "name": name,
                "image": images[name],
                "imageID": "",
                "ready": True,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": started}},
            }
            for name in _container_names(pod)
        ],
    }


def terminated_status(
    pod: dict[str, Any],
    *,
    exit_code: int,
    message: str = "",
    reason: str | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``status`` a kubelet reports after every container exited with ``exit_code``.

    ``message`` is what the container wrote to its termination-log; ``reason`` defaults to
    ``Completed`` for 0 and ``Error`` otherwise, as the kubelet does.
    """
    finished = _timestamp(now)
    started = pod.get("status", {}).get("startTime") or finished
    images = _images(pod)
    terminated: dict[str, Any] = {
        "exitCode": exit_code,
        "reason": reason or ("Completed" if exit_code == 0 else "Error"),
        "startedAt": started,
        "finishedAt": finished,
    }
    if message:
        terminated["message"] = message
    return {
        "phase": "Succeeded" if exit_code == 0 else "Failed",
        "startTime": started,
        "conditions": _conditions(False, finished),
        "containerStatuses": [
            {
                "name": name,
                "image": images[name],
                "imageID": "",
                "ready": False,
                "started": False,
                "restartCount": 0,
                "state": {"terminated": terminated},
            }
            for name in _container_names(pod)
        ],
    }


def write_pod_status(
    cp: ControlPlane, namespace: str, name: str, status: dict[str, Any]
) -> dict[str, Any]:
    """Merge-patch ``status`` into the Pod through the ``pods/status`` subresource.

    Raises:
        KubectlError: the apiserver rejected the status.
    """
    out = cp.kubectl(
        "patch", "pod", name, "-n", namespace, "--subresource=status", "--type=merge",
        "-p", json.dumps({"status": status}), "-o", "json",
    ).stdout  # fmt: skip
    patched: dict[str, Any] = json.loads(out)
    return patched


def get_pod(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """The Pod as JSON."""
    pod: dict[str, Any] = json.loads(
        cp.kubectl("get", "pod", name, "-n", namespace, "-o", "json").stdout
    )
    return pod


def start_pod(cp: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    """Report every container of the Pod as running."""
    return write_pod_status(cp, namespace, name, running_status(get_pod(cp, namespace, name)))


def finish_pod(
    cp: ControlPlane,
    namespace: str,
    name: str,
    *,
    exit_code: int,
    message: str = "",
    reason: str | None = None,
) -> dict[str, Any]:
    """Report every container of the Pod as exited with ``exit_code`` and ``message``."""
    pod = get_pod(cp, namespace, name)
    status = terminated_status(pod, exit_code=exit_code, message=message, reason=reason)
    return write_pod_status(cp, namespace, name, status)


def wait_for_job_pods(
    cp: ControlPlane, namespace: str, job_name: str, *, count: int = 1, timeout: float = 30.0
) -> list[dict[str, Any]]:
    """Wait until the Job controller has created ``count`` Pods for ``job_name``.

    Raises:
        TimeoutError: fewer Pods existed after ``timeout`` seconds.
    """
    found: list[dict[str, Any]] = []

    def check() -> bool:
        nonlocal found
        out = cp.kubectl(
            "get", "pods", "-n", namespace, "-l", f"{JOB_NAME_LABEL}={job_name}", "-o", "json"
        ).stdout
        found = json.loads(out)["items"]
        return len(found) >= count

    if not wait_until(check, timeout=timeout, interval=0.2):
        raise TimeoutError(
            f"job {namespace}/{job_name}: {len(found)}/{count} pods after {timeout}s"
        )
    return found
