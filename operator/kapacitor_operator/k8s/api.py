"""The operator's own Kubernetes reads and writes, as coroutines on one `KubeClient`.

kopf does the watching; everything else the operator asks of the API server is here:
ConfigMap keys, Secrets, Jobs and their Pods and logs, our own objects and their status,
Events posted outside kopf handlers, and Leases. "Not there" (404) and, for creates,
"already there" (409) are answers, not errors; every other failure is a `KubeError`.
"""

from __future__ import annotations

import base64
import datetime
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.k8s.client import MERGE_PATCH, KubeClient
from kapacitor_operator.k8s.errors import KubeConflict
from kapacitor_operator.k8s.paths import (
    core_path,
    custom_path,
    jobs_path,
    leases_path,
    or_none,
    unless_exists,
)

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
EVENT_MESSAGE_LIMIT = 1024
LIST_PAGE = 500
"""Objects per page of a list."""


class KubeAPI:
    """Typed calls the operator makes; every method may raise `KubeError` subclasses."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client

    async def aclose(self) -> None:
        await self.client.aclose()

    # --- ConfigMaps, Secrets ------------------------------------------------------------

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        """The value of a ConfigMap key; None when the ConfigMap or key is missing.

        Raises:
            KubeError: any other API failure.
        """
        cm = await or_none(self.client.json("GET", core_path(namespace, "configmaps", name)))
        value = ((cm or {}).get("data") or {}).get(key)
        return value if isinstance(value, str) else None

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """Decoded Secret data; None when the Secret is missing. Bytes that are not UTF-8
        become U+FFFD, so a binary key cannot crash a caller that never uses it.

        Raises:
            KubeError: any other API failure.
        """
        secret = await or_none(self.client.json("GET", core_path(namespace, "secrets", name)))
        if secret is None:
            return None
        data: dict[str, str] = secret.get("data") or {}
        return {k: base64.b64decode(v).decode("utf-8", "replace") for k, v in data.items()}

    # --- Jobs, Pods, logs ---------------------------------------------------------------

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Job; None when one of that name already exists.

        Raises:
            KubeError: any other API failure (KubeInvalid with the server's reasons).
        """
        return await unless_exists(self.client.json("POST", jobs_path(namespace), body=body))

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job, or None.

        Raises:
            KubeError: any other API failure.
        """
        return await or_none(self.client.json("GET", jobs_path(namespace, name)))

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and (in the background) its Pods; absent is fine.

        Raises:
            KubeError: any other API failure.
        """
        options = {"propagationPolicy": "Background"}
        await or_none(self.client.json("DELETE", jobs_path(namespace, name), body=options))

    async def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        """Pods the Job controller created for a Job.

        Raises:
            KubeError: any API failure.
        """
        return await self.list_pods(namespace, f"{JOB_NAME_LABEL}={job_name}")

    async def list_pods(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Pods matching a label selector.

        Raises:
            KubeError: any API failure.
        """
        params = {"labelSelector": label_selector}
        result = await self.client.json("GET", core_path(namespace, "pods"), params=params)
        return list(result.get("items") or [])

    async def pod_log(
        self,
        namespace: str,
        pod: str,
        *,
        container: str | None,
        tail_lines: int,
        limit_bytes: int,
    ) -> str | None:
        """The last lines of a container's log; None when the pod or its log is gone.

        Raises:
            KubeError: any other API failure (e.g. 400 while the container is starting).
        """
        params: dict[str, str | int] = {"tailLines": tail_lines, "limitBytes": limit_bytes}
        if container:
            params["container"] = container
        path = core_path(namespace, "pods", pod) + "/log"
        response = await or_none(
            # The log is text; an error is a JSON Status (a text-only Accept gets 406).
            self.client.request("GET", path, params=params, accept="application/json, */*")
        )
        # limitBytes may cut a character in two.
        return None if response is None else response.content.decode("utf-8", "replace")

    # --- our own custom objects ---------------------------------------------------------

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        """One of our custom objects (with metadata.resourceVersion), or None.

        Raises:
            KubeError: any other API failure.
        """
        return await or_none(self.client.json("GET", custom_path(namespace, plural, name)))

    async def patch_status(
        self,
        namespace: str,
        plural: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patch the status subresource; the updated object, None when it is gone.

        With `resource_version` the patch only applies to that version of the object, so
        a writer never overwrites a status it has not seen.

        Raises:
            KubeConflict: the object changed since `resource_version`.
            KubeError: any other API failure.
        """
        patch: dict[str, Any] = {"status": status}
        if resource_version is not None:
            patch["metadata"] = {"resourceVersion": resource_version}
        path = custom_path(namespace, plural, name) + "/status"
        return await or_none(self.client.json("PATCH", path, body=patch, content_type=MERGE_PATCH))

    async def create_taskrun(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a TaskRun; False when that name exists already.

        Raises:
            KubeError: any other API failure.
        """
        call = self.client.json("POST", custom_path(namespace, "taskruns"), body=body)
        return await unless_exists(call) is not None

    async def list_taskruns(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """TaskRuns matching a label selector.

        Raises:
            KubeError: any API failure.
        """
        params = {"labelSelector": label_selector}
        result = await self.client.json("GET", custom_path(namespace, "taskruns"), params=params)
        return list(result.get("items") or [])

    async def list_custom(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Every object of one of our kinds, in one namespace or all of them (paged).

        Raises:
            KubeError: any API failure.
        """
        return [item async for page in self.pages_custom(plural, namespace) for item in page]

    async def pages_custom(
        self, plural: str, namespace: str | None = None
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The objects of one of our kinds, a page (LIST_PAGE objects) at a time, so that a
        caller that keeps less than the whole object never holds every body at once.

        Raises:
            KubeError: any API failure.
        """
        path = (
            custom_path(namespace, plural)
            if namespace
            else f"/apis/{GROUP}/{VERSION}/{quote(plural, safe='')}"
        )
        token = ""
        while True:
            params = {"limit": str(LIST_PAGE), **({"continue": token} if token else {})}
            result = await self.client.json("GET", path, params=params)
            token = str((result.get("metadata") or {}).get("continue") or "")
            yield result.get("items") or []
            if not token:
                return

    async def delete_custom(
        self, namespace: str, plural: str, name: str, *, uid: str | None = None
    ) -> bool:
        """Delete one of our objects; False when it is absent (or, with `uid`, replaced).

        The uid precondition makes the server refuse to delete a newer object that took
        the name, so deleting by a stale view never hits the wrong object.

        Raises:
            KubeError: any other API failure.
        """
        options: dict[str, Any] = {}
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        call = self.client.json("DELETE", custom_path(namespace, plural, name), body=options)
        try:
            return await or_none(call) is not None
        except KubeConflict:
            if uid is None:
                raise
            return False  # the UID precondition failed: ours is gone, another took the name

    async def patch_metadata(
        self, namespace: str, plural: str, name: str, metadata: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge-patch one of our objects' metadata (finalizers, annotations); the updated
        object, None when it is gone. A `resourceVersion` in `metadata` makes the write
        conditional on the object not having changed.

        Raises:
            KubeConflict: the object changed since that resourceVersion.
            KubeError: any other API failure.
        """
        path = custom_path(namespace, plural, name)
        body = {"metadata": metadata}
        return await or_none(self.client.json("PATCH", path, body=body, content_type=MERGE_PATCH))

    async def remove_finalizer(
        self, namespace: str, plural: str, name: str, finalizer: str
    ) -> None:
        """Remove one finalizer from one of our objects (absent object or finalizer: done).

        The patch carries the resourceVersion it was computed from, so a finalizer added
        meanwhile by someone else is never dropped: a conflict just means "read again".

        Raises:
            KubeConflict: the object changed meanwhile (call again).
            KubeError: any other API failure.
        """
        path = custom_path(namespace, plural, name)
        obj = await or_none(self.client.json("GET", path))
        if obj is None:
            return
        meta = obj.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if finalizer not in finalizers:
            return
        patch = {
            "metadata": {
                "finalizers": [f for f in finalizers if f != finalizer],
                "resourceVersion": meta.get("resourceVersion"),
            }
        }
        await or_none(self.client.json("PATCH", path, body=patch, content_type=MERGE_PATCH))

    async def delete_taskrun(self, namespace: str, name: str) -> None:
        """Delete a TaskRun; absent is fine.

        Raises:
            KubeError: any other API failure.
        """
        await self.delete_custom(namespace, "taskruns", name)

    # --- Events -------------------------------------------------------------------------

    async def list_events(self, namespace: str, field_selector: str) -> list[dict[str, Any]]:
        """core/v1 Events matching a field selector (e.g. `involvedObject.uid=...,
        reason=FailedCreate`): how the Job controller says the API server refused a Pod.

        Raises:
            KubeError: any API failure.
        """
        params = {"fieldSelector": field_selector}
        result = await self.client.json("GET", core_path(namespace, "events"), params=params)
        return list(result.get("items") or [])

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
        """Post a core/v1 Event about `involved` (apiVersion, kind, name, namespace, uid).

        For code outside kopf handlers (kopf.event needs a handler's context). Identical
        Events are separate objects; `kubectl describe` lists them all.

        Raises:
            KubeError: any API failure.
        """
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        keys = ("apiVersion", "kind", "name", "namespace", "uid")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{involved.get('name', 'object')}.",
                "namespace": namespace,
            },
            "involvedObject": {k: involved[k] for k in keys if involved.get(k)},
            "type": type,
            "reason": reason,
            "message": message[:EVENT_MESSAGE_LIMIT],
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        return await self.client.json("POST", core_path(namespace, "events"), body=body)

    # --- Leases (leader election) -------------------------------------------------------

    async def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease (with metadata.resourceVersion), or None.

        Raises:
            KubeError: any other API failure.
        """
        return await or_none(self.client.json("GET", leases_path(namespace, name)))

    async def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Lease; None when one of that name exists (someone else was first).

        Raises:
            KubeError: any other API failure.
        """
        return await unless_exists(self.client.json("POST", leases_path(namespace), body=body))

    async def replace_lease(
        self, namespace: str, name: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace a Lease (PUT); the body's metadata.resourceVersion guards the write.

        Leases allow create-on-update: a Lease deleted meanwhile is created again.

        Raises:
            KubeConflict: the Lease changed since that resourceVersion.
            KubeError: any other API failure.
        """
        return await self.client.json("PUT", leases_path(namespace, name), body=body)
