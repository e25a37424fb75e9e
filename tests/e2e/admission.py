"""The chart's ValidatingAdmissionPolicy, installed on its own for tests that need it.

`helm template` renders exactly what a release would install (namespaced mode, bound to
the given namespaces); only the policy and its binding are applied, as admin. The
policy takes effect a moment after it is created: `wait_enforced` probes with a
server-side dry run that only an active policy refuses.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import yaml

from kapacitor_testkit import ControlPlane
from tests.e2e.helm import CHART, Doc, Helm, unique, values_file

KINDS = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


def render_policy(helm: Helm, directory: Path, namespaces: list[str]) -> list[Doc]:
    """The chart's policy and binding for a namespaced release serving `namespaces`."""
    values = {"rbac": {"clusterWide": False}, "watchNamespaces": namespaces}
    out = helm.run(
        "template", unique("vap"), str(CHART), "-f", str(values_file(directory, values))
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d and d.get("kind") in KINDS]
    assert sorted(d["kind"] for d in docs) == sorted(KINDS), "the chart renders no policy"
    return docs


def as_user(
    cp: ControlPlane, user: str, namespace: str, *args: str, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """kubectl impersonating `user` (admin may impersonate), never raising."""
    return cp.kubectl("-n", namespace, f"--as={user}", *args, input=input, check=False)


def wait_enforced(probe: Callable[[], subprocess.CompletedProcess[str]], timeout: float) -> None:
    """Until `probe` (a request only the active policy refuses) is refused by it."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = probe()
        if last.returncode != 0 and "ValidatingAdmissionPolicy" in last.stderr:
            return
        time.sleep(0.2)
    raise AssertionError(f"the admission policy is not enforced after {timeout}s: {last}")


@contextlib.contextmanager
def installed_policy(cp: ControlPlane, docs: list[Doc]) -> Iterator[list[Doc]]:
    """Apply the policy and binding; delete them on exit."""
    text = "\n---\n".join(json.dumps(d) for d in docs)
    try:
        cp.kubectl("apply", "--server-side", "--field-manager=e2e", "-f", "-", input=text)
        yield docs
    finally:
        for doc in docs:
            kind, name = doc["kind"].lower(), doc["metadata"]["name"]
            cp.kubectl("delete", kind, name, "--ignore-not-found", "--wait=false", check=False)
