"""Install CustomResourceDefinitions and wait until they can really be used.

Creating a CRD returns before the apiserver serves it: ``Established`` flips a moment
later, and discovery (which kopf and kubectl consult) lags behind that. An operator
started in between logs "resource not found" and never watches the kind, so tests must
wait for both.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from .api import ApiClient

Kubectl = Callable[..., "subprocess.CompletedProcess[str]"]


class CrdNotReadyError(RuntimeError):
    """A CRD did not become Established and discoverable in time."""


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _served_versions(crd: dict[str, Any]) -> list[str]:
    return [v["name"] for v in crd["spec"]["versions"] if v.get("served", True)]


def _discoverable(api: ApiClient, crd: dict[str, Any]) -> bool:
    group = crd["spec"]["group"]
    plural = crd["spec"]["names"]["plural"]
    for version in _served_versions(crd):
        code, body = api.request(f"/apis/{group}/{version}")
        if code != 200:
            return False
        resources = json.loads(body).get("resources", [])
        if not any(r.get("name") == plural for r in resources):
            return False
    return True


def _crd_names(applied_output: str) -> list[str]:
    """Names of the CRDs in ``kubectl apply -o name`` output (other kinds are ignored)."""
    names = []
    for line in applied_output.splitlines():
        kind, _, name = line.strip().partition("/")
        if kind.startswith("customresourcedefinition") and name:
            names.append(name)
    return names


def install_crds(
    kubectl: Kubectl,
    api: ApiClient,
    paths: Iterable[Path | str],
    *,
    timeout: float = 60.0,
) -> list[str]:
    """Server-side apply each manifest path, then wait for every CRD in them to be usable.

    Returns the names of the CRDs found in ``paths``.

    Raises:
        subprocess.CalledProcessError: kubectl rejected a manifest.
        CrdNotReadyError: a CRD was not Established and discoverable within ``timeout``.
    """
    names: list[str] = []
    for path in paths:
        result = kubectl(
            "apply", "--server-side", "--field-manager=kapacitor-operator-tests",
            "-o", "name", "-f", str(path),
        )  # fmt: skip
        names.extend(n for n in _crd_names(result.stdout) if n not in names)
    if names:
        _wait_usable(kubectl, api, names, timeout)
    return names


def _wait_usable(kubectl: Kubectl, api: ApiClient, names: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = list(names)
    last: dict[str, Any] = {}
    while True:
        out = kubectl("get", "customresourcedefinitions", *pending, "-o", "json").stdout
        doc = json.loads(out)
        # kubectl prints a bare object for one name and a List for several.
        items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
        last = {item["metadata"]["name"]: item for item in items}
        pending = [
            name
            for name in pending
            if name not in last or not (_established(last[name]) and _discoverable(api, last[name]))
        ]
        if not pending:
            return
        if time.monotonic() >= deadline:
            states = {
                name: last.get(name, {}).get("status", {}).get("conditions", "missing")
                for name in pending
            }
            raise CrdNotReadyError(f"CRDs not established/discoverable in {timeout}s: {states}")
        time.sleep(0.2)
