"""Small async wrappers over the official Kubernetes client (which is synchronous).

Only the calls the operator needs: read a ConfigMap key, read a Secret, create/delete Jobs,
list Pods of a Job, create/list/delete TaskRuns. Each runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from kapacitor_operator import GROUP, VERSION


def load_kube_config() -> k8s.ApiClient:
    """In-cluster config when running in a Pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        k8s_config.load_incluster_config()  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException:
        k8s_config.load_kube_config()  # type: ignore[no-untyped-call]
    return k8s.ApiClient()


class KubeAPI:
    """The operator's own Kubernetes reads and writes (kopf does the watching)."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self._core = k8s.CoreV1Api(api_client)
        self._batch = k8s.BatchV1Api(api_client)
        self._custom = k8s.CustomObjectsApi(api_client)

    async def configmap_key(self, namespace: str, name: str, key: str) -> str | None:
        """The value of a ConfigMap key; None when the ConfigMap or key is missing.

        Raises:
            ApiException: any other API failure.
        """
        try:
            cm = await asyncio.to_thread(self._core.read_namespaced_config_map, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        value = (cm.data or {}).get(key)
        return value if isinstance(value, str) else None

    async def secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        """Decoded Secret data; None when the Secret is missing.

        Raises:
            ApiException: any other API failure.
        """
        try:
            secret = await asyncio.to_thread(self._core.read_namespaced_secret, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        data: Mapping[str, Any] = secret.data or {}
        return {k: base64.b64decode(v).decode("utf-8") for k, v in data.items()}

    # --- Jobs ---------------------------------------------------------------------------

    async def create_job(self, namespace: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Create a Job; None when one of that name already exists.

        Raises:
            ApiException: any other API failure.
        """
        try:
            job = await asyncio.to_thread(
                self._batch.create_namespaced_job, namespace, cast(Any, body)
            )
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise
        result: dict[str, Any] = self._batch.api_client.sanitize_for_serialization(job)
        return result

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job as a dict, or None.

        Raises:
            ApiException: any other API failure.
        """
        try:
            job = await asyncio.to_thread(self._batch.read_namespaced_job, name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        result: dict[str, Any] = self._batch.api_client.sanitize_for_serialization(job)
        return result

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and its Pods (foreground); absent is fine.

        Raises:
            ApiException: any other API failure.
        """
        try:
            await asyncio.to_thread(
                self._batch.delete_namespaced_job, name, namespace, propagation_policy="Background"
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    async def job_pods(self, namespace: str, job_name: str) -> list[dict[str, Any]]:
        """Pods created for a Job (label job-name).

        Raises:
            ApiException: any API failure.
        """
        pods = await asyncio.to_thread(
            self._core.list_namespaced_pod,
            namespace,
            label_selector=f"batch.kubernetes.io/job-name={job_name}",
        )
        items: list[dict[str, Any]] = [
            self._core.api_client.sanitize_for_serialization(p) for p in pods.items
        ]
        return items

    # --- TaskRuns -----------------------------------------------------------------------

    async def create_taskrun(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create a TaskRun; False when that name exists already.

        Raises:
            ApiException: any other API failure.
        """
        try:
            await asyncio.to_thread(
                self._custom.create_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "taskruns",
                body,
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise
        return True

    async def list_taskruns(self, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """TaskRuns matching a label selector.

        Raises:
            ApiException: any API failure.
        """
        result = await asyncio.to_thread(
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            "taskruns",
            label_selector=label_selector,
        )
        items: list[dict[str, Any]] = cast(dict[str, Any], result).get("items", [])
        return items

    async def delete_taskrun(self, namespace: str, name: str) -> None:
        """Delete a TaskRun; absent is fine.

        Raises:
            ApiException: any other API failure.
        """
        try:
            await asyncio.to_thread(
                self._custom.delete_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                "taskruns",
                name,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    # --- our own custom objects ---------------------------------------------------------

    async def get_custom(self, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
        """One of our custom objects, or None.

        Raises:
            ApiException: any other API failure.
        """
        try:
            obj = await asyncio.to_thread(
                self._custom.get_namespaced_custom_object, GROUP, VERSION, namespace, plural, name
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return cast(dict[str, Any], obj)

    async def patch_status(
        self, namespace: str, plural: str, name: str, status: dict[str, Any]
    ) -> bool:
        """Merge-patch an object's status subresource; False when the object is gone.

        Raises:
            ApiException: any other API failure.
        """
        try:
            await asyncio.to_thread(
                self._custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                {"status": status},
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True
