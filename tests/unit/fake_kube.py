"""An in-memory stand-in for the engine's Kubernetes calls (runs.ports.Kube).

It keeps what the API server guarantees and the engine relies on: resourceVersions
that change on every write, 409 for a write over a stale version, 404/None for absent
objects, uid preconditions on delete, and a log of every call in order, so tests can
check that a status write came before the call it announced.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.k8s.errors import KubeConflict, KubeError
from kapacitor_operator.timeutil import utcnow

Obj = dict[str, Any]


@dataclass
class FakeKube:
    objects: dict[tuple[str, str, str], Obj] = field(default_factory=dict)
    jobs: dict[tuple[str, str], Obj] = field(default_factory=dict)
    pods: dict[tuple[str, str], list[Obj]] = field(default_factory=dict)
    logs: dict[tuple[str, str], str] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    job_events: list[dict[str, Any]] = field(default_factory=list)
    """What the Job controller recorded (FailedCreate), as list_events returns it."""
    calls: list[tuple[str, ...]] = field(default_factory=list)
    job_error: KubeError | None = None
    status_errors: list[KubeError] = field(default_factory=list)
    _versions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def _bump(self, obj: Obj) -> None:
        obj.setdefault("metadata", {})["resourceVersion"] = str(next(self._versions))

    # --- test helpers --------------------------------------------------------------------

    def put(self, plural: str, obj: Obj) -> Obj:
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{meta['name']}")
        meta.setdefault("generation", 1)
        meta.setdefault("creationTimestamp", utcnow())
        self._bump(obj)
        self.objects[(plural, meta["namespace"], meta["name"])] = obj
        return copy.deepcopy(obj)

    def get(self, plural: str, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get((plural, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def edit_spec(self, plural: str, namespace: str, name: str, **changes: Any) -> Obj:
        obj = self.objects[(plural, namespace, name)]
        obj["spec"].update(changes)
        obj["metadata"]["generation"] += 1
        self._bump(obj)
        return copy.deepcopy(obj)

    def status_writes(self) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == "patch_status"]

    # --- runs.ports.Kube -----------------------------------------------------------------

    async def get_custom(self, namespace: str, plural: str, name: str) -> Obj | None:
        self.calls.append(("get_custom", plural, name))
        return self.get(plural, namespace, name)

    async def list_custom(self, plural: str, namespace: str | None = None) -> list[Obj]:
        self.calls.append(("list_custom", plural))
        return [
            copy.deepcopy(o)
            for (kind, ns, _), o in self.objects.items()
            if kind == plural and namespace in (None, ns)
        ]

    async def pages_custom(
        self, plural: str, namespace: str | None = None
    ) -> AsyncIterator[list[Obj]]:
        """list_custom, two objects a page (the controller must take every page)."""
        items = await self.list_custom(plural, namespace)
        for start in range(0, max(len(items), 1), 2):
            yield items[start : start + 2]

    async def patch_status(
        self,
        namespace: str,
        plural: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> Obj | None:
        self.calls.append(("patch_status", name, str(status.get("phase")), str(resource_version)))
        if self.status_errors:
            raise self.status_errors.pop(0)
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            return None
        if resource_version is not None and obj["metadata"]["resourceVersion"] != resource_version:
            raise KubeConflict("the object has been modified", status=409, reason="Conflict")
        current = obj.setdefault("status", {})
        for key, value in status.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = copy.deepcopy(value)
        self._bump(obj)
        return copy.deepcopy(obj)

    async def delete_custom(
        self, namespace: str, plural: str, name: str, *, uid: str | None = None
    ) -> bool:
        self.calls.append(("delete_custom", plural, name))
        obj = self.objects.get((plural, namespace, name))
        if obj is None or (uid is not None and obj["metadata"]["uid"] != uid):
            return False
        del self.objects[(plural, namespace, name)]
        return True

    async def patch_metadata(
        self, namespace: str, plural: str, name: str, metadata: dict[str, Any]
    ) -> Obj | None:
        self.calls.append(("patch_metadata", name, str(metadata.get("finalizers"))))
        obj = self.objects.get((plural, namespace, name))
        if obj is None:
            return None
        version = metadata.get("resourceVersion")
        if version is not None and obj["metadata"]["resourceVersion"] != version:
            raise KubeConflict("the object has been modified", status=409, reason="Conflict")
        obj["metadata"].update(
            {k: copy.deepcopy(v) for k, v in metadata.items() if k != "resourceVersion"}
        )
        if obj["metadata"].get("deletionTimestamp") and not obj["metadata"].get("finalizers"):
            del self.objects[(plural, namespace, name)]
            return copy.deepcopy(obj)
        self._bump(obj)
        return copy.deepcopy(obj)

    async def remove_finalizer(
        self, namespace: str, plural: str, name: str, finalizer: str
    ) -> None:
        self.calls.append(("remove_finalizer", name, finalizer))
        obj = self.objects.get((plural, namespace, name))
        if obj is not None:
            finalizers = obj["metadata"].get("finalizers") or []
            obj["metadata"]["finalizers"] = [f for f in finalizers if f != finalizer]
            self._bump(obj)

    async def create_job(self, namespace: str, body: dict[str, Any]) -> Obj | None:
        name = body["metadata"]["name"]
        self.calls.append(("create_job", name))
        if self.job_error is not None:
            raise self.job_error
        if (namespace, name) in self.jobs:
            return None
        job = copy.deepcopy(body)
        job.setdefault("status", {})
        self.jobs[(namespace, name)] = job
        return copy.deepcopy(job)

    async def get_job(self, namespace: str, name: str) -> Obj | None:
        self.calls.append(("get_job", name))
        job = self.jobs.get((namespace, name))
        return copy.deepcopy(job) if job is not None else None

    async def delete_job(self, namespace: str, name: str) -> None:
        self.calls.append(("delete_job", name))
        self.jobs.pop((namespace, name), None)
        self.pods.pop((namespace, name), None)

    async def job_pods(self, namespace: str, job_name: str) -> list[Obj]:
        self.calls.append(("job_pods", job_name))
        return copy.deepcopy(self.pods.get((namespace, job_name), []))

    async def pod_log(
        self, namespace: str, pod: str, *, container: str | None, tail_lines: int, limit_bytes: int
    ) -> str | None:
        self.calls.append(("pod_log", pod))
        return self.logs.get((namespace, pod))

    async def list_events(self, namespace: str, field_selector: str) -> list[Obj]:
        """Events of `job_events` matching `involvedObject.uid|name=...,reason=...`."""
        self.calls.append(("list_events", field_selector))
        wanted = dict(part.split("=", 1) for part in field_selector.split(","))
        found = []
        for event in self.job_events:
            involved = event.get("involvedObject") or {}
            fields = {
                "involvedObject.uid": involved.get("uid"),
                "involvedObject.name": involved.get("name"),
                "reason": event.get("reason"),
            }
            if all(fields.get(k) == v for k, v in wanted.items()):
                found.append(copy.deepcopy(event))
        return found

    async def create_event(
        self,
        namespace: str,
        involved: dict[str, Any],
        type: str,
        reason: str,
        message: str,
        *,
        component: str,
    ) -> dict[str, Any]:
        event = {"object": involved.get("name"), "type": type, "reason": reason, "message": message}
        self.events.append(event)
        return event
