"""Small async wrappers over the official Kubernetes client (which is synchronous).

Only the calls the operator needs: read a ConfigMap key, read a Secret, create/delete Jobs,
list Pods of a Job, get/patch our own objects, create/list/delete TaskRuns. Each runs in
a worker thread; "not there" (404) and "already there" (409) are answers, not errors.
"""

from __future__ import annotations

import asyncio
import base64
import functools
from collections.abc import Callable, Mapping
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kapacitor_operator import GROUP, VERSION

_MISSING = object()
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


def load_kube_config() -> k8s.ApiClient:
    """In-cluster config when running in a Pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s.ApiClient()


async def _call(fn: Callable[..., Any], *args: Any, absent_on: int = 404, **kwargs: Any) -> Any:
    """Run a client call in a thread; `_MISSING` when the API answers `absent_on`.

    Raises:
        ApiException: any other API failure.
    """
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except ApiException as exc:
        if exc.status == absent_on:
            return _MISSING
        raise


class KubeAPI:
    """The operator's own Kubernetes reads and writes (kopf does the watching)."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._api_client = api_client

    # The API objects load hundreds of model classes (~20 MiB): build them on first use,
    # so an operator that never needs one never pays for it (issue 6: idle RSS).
    @functools.cached_property
    def _core(self) -> k8s.CoreV1Api:
        return k8s.CoreV1Api(self._api_client)

    @functools.cached_property
    def _batch(self) -> k8s.BatchV1Api:
        return k8s.BatchV1Api(self._api_client)

    @functools.cached_property
    def _custom(self) -> k8s.CustomObjectsApi:
        return k8s.CustomObjectsApi(self._api_client)

    def _plain(self, obj: Any) -> dict[str, Any]:
        plain: Any = self._api_client.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]
        return cast(dict[str, Any], plain)

    def _dict(self, obj: Any) -> dict[str, Any] | None:
        return None if obj is _MISSING else self._plain(obj)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        """The value of a ConfigMap key; None when the ConfigMap or key is missing.

        Raises:
            ApiException: any other API failure.
        """
        cm = await _call(self._core.read_namespaced_config_map, name, namespace)
        if cm is _MISSING:
            return None
        value = (cm.data or {}).get(key)
        return value if isinstance(value, str) else None

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """Decoded Secret data; None when the Secret is missing.

        Raises:
            ApiException: any other API failure.
        """
        secret = await _call(self._core.read_namespaced_secret, name, namespace)
        if secret is _MISSING:
            return None
        data: Mapping[str, Any] = secret.data or {}
        return {k: base64.b64decode(v).decode("utf-8") for k, v in data.items()}

    # --- Jobs ---------------------------------------------------------------------------

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Job; None when one of that name already exists.

        Raises:
            ApiException: any other API failure.
        """
        job = await _call(self._batch.create_namespaced_job, namespace, body, absent_on=409)
        return self._dict(job)

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job as a dict, or None.

        Raises:
            ApiException: any other API failure.
        """
        return self._dict(await _call(self._batch.read_namespaced_job, name, namespace))

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and (in the background) its Pods; absent is fine.

        Raises:
            ApiException: any other API failure.
        """
        await _call(
            self._batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
        )

    async def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        """Pods the Job controller created for a Job.

        Raises:
            ApiException: any API failure.
        """
        pods = await _call(
            self._core.list_namespaced_pod, namespace, label_selector=f"{JOB_NAME_LABEL}={job_name}"
        )
        return [self._plain(p) for p in pods.items]

    # --- our own custom objects ---------------------------------------------------------

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        """One of our custom objects, or None.

        Raises:
            ApiException: any other API failure.
        """
        obj = await _call(
            self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
        )
        return None if obj is _MISSING else cast(dict[str, Any], obj)

    async def patch_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any]
    ) -> bool:
        """Merge-patch an object's status subresource; False when the object is gone.

        Raises:
            ApiException: any other API failure.
        """
        result = await _call(
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"status": status},
        )
        return result is not _MISSING

    async def create_taskrun(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a TaskRun; False when that name exists already.

        Raises:
            ApiException: any other API failure.
        """
        result = await _call(
            self._custom.create_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "taskruns",
            body,
            absent_on=409,
        )
        return result is not _MISSING

    async def list_taskruns(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """TaskRuns matching a label selector.

        Raises:
            ApiException: any API failure.
        """
        result = await _call(
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "taskruns",
            label_selector=label_selector,
        )
        return cast(list[dict[str, Any]], cast(dict[str, Any], result).get("items", []))

    async def delete_taskrun(self, namespace: str, name: str) -> None:
        """Delete a TaskRun; absent is fine.

        Raises:
            ApiException: any other API failure.
        """
        await _call(
            self._custom.delete_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "taskruns",
            name,
        )
