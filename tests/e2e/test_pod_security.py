"""Pod Security Admission and Job-backed TaskRuns, on the real node (issue 12).

A TaskRun's Job template is its author's, run with the namespace's rules: Pod Security
Admission enforces on Pods, not on Jobs, so the Job is created and the Job controller's
Pods are refused. The attempt must end with the API server's refusal, not hang until a
deadline; a template that complies runs.
"""

from __future__ import annotations

from typing import Any

from kapacitor_testkit.node import Node
from kapacitor_testkit.operator_process import OperatorProcess
from kapacitor_testkit.processes import wait_until
from tests.e2e.kube import Kube, condition
from tests.e2e.taskruns import finished, status, taskrun

RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65534,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def job(image: str, **security: Any) -> dict[str, Any]:
    main = {
        "name": "main",
        "image": image,
        "imagePullPolicy": "Never",
        "command": ["sh", "-c", "echo compliant"],
        **({"securityContext": security} if security else {}),
    }
    return {"template": {"spec": {"containers": [main], "terminationGracePeriodSeconds": 1}}}


def test_a_template_pod_security_refuses_ends_the_attempt_with_the_refusal(
    kube: Kube, operator: OperatorProcess, node: Node
) -> None:
    kube.cp.kubectl("label", "namespace", kube.ns, "pod-security.kubernetes.io/enforce=restricted")
    # No securityContext: "restricted" refuses the Pod; a retry could not help.
    taskrun(
        kube, "privileged", retry={"limit": 3, "delays": ["1s"]}, job=job(node.images.busybox.ref)
    )
    obj = finished(kube, "privileged", timeout=60)
    st = status(obj)
    cond = condition(obj, "Succeeded")
    assert cond is not None
    assert (st["phase"], cond["status"], cond["reason"]) == ("Failed", "False", "JobRejected")
    assert 'violates PodSecurity "restricted:latest"' in cond["message"]
    assert len(st["attempts"]) == 1, "a Pod Security refusal is not retried"
    assert "violates PodSecurity" in st["attempts"][0]["message"]
    kube.wait_event("privileged", "JobRejected")
    # The refused Job is deleted, so the Job controller stops retrying its Pods.
    assert wait_until(lambda: kube.get("job", "privileged-1") is None, timeout=30.0)

    # The same namespace runs a template that complies.
    taskrun(kube, "compliant", job=job(node.images.busybox.ref, **RESTRICTED))
    obj = finished(kube, "compliant", timeout=120)
    st = status(obj)
    assert (st["phase"], st["attempts"][0]["logTail"]) == ("Succeeded", ["compliant"])
