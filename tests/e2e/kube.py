"""kubectl-based helpers for e2e tests: apply, get, wait on conditions, read Events.

Everything polls with a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from kapacitor_testkit import ControlPlane

Predicate = Callable[[dict[str, Any]], bool]
OUR_FINALIZER = "kapacitor.operator.dev/finalizer"


class Kube:
    """kubectl bound to one namespace of the test control plane."""

    def __init__(self, cp: ControlPlane, namespace: str) -> None:
        self.cp = cp
        self.ns = namespace

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> Any:
        return self.cp.kubectl("-n", self.ns, *args, check=check, input=input)

    def apply(self, manifest: str, *, check: bool = True) -> Any:
        return self.kubectl(
            "apply", "--server-side", "--field-manager=e2e", "-f", "-", input=manifest, check=check
        )

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        result = self.kubectl("get", kind, name, "-o", "json", check=False)
        if result.returncode != 0:
            return None
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def patch(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        self.kubectl("patch", kind, name, "--type=merge", "-p", json.dumps(patch))

    def delete(self, kind: str, name: str) -> None:
        self.kubectl("delete", kind, name, "--wait=false")

    def wait_for(
        self,
        kind: str,
        name: str,
        predicate: Predicate,
        *,
        timeout: float = 30.0,
        what: str = "condition",
    ) -> dict[str, Any]:
        """Poll the object until predicate(obj) holds; fail with the last state seen."""
        deadline = time.monotonic() + timeout
        last: dict[str, Any] | None = None
        while time.monotonic() < deadline:
            last = self.get(kind, name)
            if last is not None and predicate(last):
                return last
            time.sleep(0.2)
        status = json.dumps((last or {}).get("status"), indent=1)[:3000]
        raise AssertionError(f"{kind}/{name}: {what} not reached in {timeout}s; status: {status}")

    def wait_held(self, kind: str, name: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Until the operator's finalizer is on the object. It goes on right after the
        first status write (docs/mirror.md), so a test that deletes the object to see the
        finalizer hold it waits for it first."""

        def held(obj: dict[str, Any]) -> bool:
            return OUR_FINALIZER in (obj["metadata"].get("finalizers") or [])

        return self.wait_for(kind, name, held, timeout=timeout, what="our finalizer")

    def wait_gone(self, kind: str, name: str, *, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.get(kind, name) is None:
                return
            time.sleep(0.2)
        raise AssertionError(f"{kind}/{name} still exists after {timeout}s")

    def wait_condition(
        self,
        kind: str,
        name: str,
        cond: str,
        status: str = "True",
        *,
        reason: str | None = None,
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        def check(obj: dict[str, Any]) -> bool:
            found = condition(obj, cond)
            return (
                found is not None
                and found.get("status") == status
                and (reason is None or found.get("reason") == reason)
                and (obj.get("status") or {}).get("observedGeneration")
                == obj["metadata"].get("generation")
            )

        return self.wait_for(
            kind,
            name,
            check,
            timeout=timeout,
            what=f"{cond}={status}" + (f" ({reason})" if reason else ""),
        )

    def kubectl_wait(self, kind: str, name: str, cond: str, timeout: int = 60) -> None:
        """`kubectl wait --for=condition=...`, as a user would run it."""
        self.kubectl("wait", f"--for=condition={cond}", f"--timeout={timeout}s", f"{kind}/{name}")

    def events(self, name: str) -> list[dict[str, Any]]:
        result = self.kubectl(
            "get", "events", "-o", "json", f"--field-selector=involvedObject.name={name}"
        )
        items: list[dict[str, Any]] = json.loads(result.stdout)["items"]
        return items

    def wait_event(self, name: str, reason: str, *, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events(name):
                if event.get("reason") == reason:
                    return event
            time.sleep(0.3)
        seen = [(e.get("reason"), e.get("message")) for e in self.events(name)]
        raise AssertionError(f"no {reason} Event for {name} in {timeout}s; seen: {seen}")


def condition(obj: dict[str, Any], cond: str) -> dict[str, Any] | None:
    for item in (obj.get("status") or {}).get("conditions") or []:
        if item.get("type") == cond:
            found: dict[str, Any] = item
            return found
    return None
