"""Where `logs` reads an attempt's live log: Kapacitor's run logs or the Job's Pod log.

The Kapacitor connection is resolved once, on the first attempt that needs it, from the
KapacitorTask the TaskRun runs (with the user's rights, like every command).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from kapacitor_operator.k8s.api import JOB_NAME_LABEL
from kapacitor_operator.k8s.paths import core_path
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.plugin.connect import Reached, open_kapacitor, resolve_target
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.plugin.tasks import kapacitor_id

POD_LOG_LIMIT = 10 * 1024 * 1024


class Unavailable(Exception):
    """No live log to read; the message says why (the caller falls back to status)."""


class Sources:
    """Live log readers for one TaskRun; `aclose()` closes the Kapacitor client."""

    def __init__(self, session: Session, *, container: str | None, tail: int) -> None:
        self.session = session
        self.container = container
        self.tail = tail
        self._reached: Reached | None = None
        self._task_id: str | None = None

    async def aclose(self) -> None:
        if self._reached is not None:
            await self._reached.aclose()

    async def _kapacitor(self, body: dict[str, Any]) -> tuple[Reached, str]:
        if self._reached is None:
            spec = body.get("spec") or {}
            ref = (spec.get("taskRef") or {}).get("name")
            if not ref:
                raise Unavailable("the TaskRun names no KapacitorTask")
            body_task = await self.session.kube.get_custom(
                self.session.namespace, "kapacitortasks", str(ref)
            )
            if body_task is None:
                raise Unavailable(f"kapacitortask/{ref} no longer exists")
            try:
                task = parse_kapacitortask(body_task)
            except ValidationError as exc:
                raise Unavailable(f"kapacitortask/{ref} does not parse") from exc
            target = await resolve_target(
                self.session, task.spec.kapacitor, task.namespace, task.spec.kapacitorRef
            )
            self._reached = await open_kapacitor(self.session, target)
            recorded = (body.get("status") or {}).get("taskID")
            self._task_id = recorded or await kapacitor_id(self._reached.client, task)
        if not self._task_id:
            raise Unavailable("the Flux task is not in Kapacitor")
        return self._reached, self._task_id

    async def run_log(self, body: dict[str, Any], attempt: Attempt) -> list[str] | None:
        """`<time> <message>` lines of the attempt's Kapacitor run; None when Kapacitor no
        longer has the run.

        Raises:
            Unavailable: the attempt has no run ID (yet), or its task is gone.
            PluginError: the credentials Secret is forbidden (the command stops).
            KapacitorError: Kapacitor could not answer.
        """
        if not attempt.externalID:
            raise Unavailable("the attempt has no Kapacitor run ID yet")
        reached, task_id = await self._kapacitor(body)
        events = await reached.client.run_logs(task_id, attempt.externalID)
        if events is None:
            return None
        return [f"{e.time} {e.message}".strip() for e in events]

    async def pod_log(self, attempt: Attempt) -> tuple[str, list[str]] | None:
        """(pod name, lines) of the attempt's newest Pod; None when no Pod is left.

        Raises:
            Unavailable: the Pod was never scheduled, so it has no log.
            KubeError: the Pod list or its log could not be read (no right, no node...).
        """
        if not attempt.externalID:
            return None
        kube = self.session.kube
        namespace = self.session.namespace
        pods = await kube.list_pods(namespace, f"{JOB_NAME_LABEL}={attempt.externalID}")
        if not pods:
            return None
        pod = max(pods, key=lambda p: p["metadata"].get("creationTimestamp", ""))
        name = str(pod["metadata"]["name"])
        if not (pod.get("spec") or {}).get("nodeName"):
            # The API server answers an empty log for a Pod no kubelet ever ran.
            raise Unavailable(f"pod {name} never ran on a node")
        params: dict[str, str | int] = {"limitBytes": POD_LOG_LIMIT}
        if self.container:
            params["container"] = self.container
        if self.tail >= 0:
            params["tailLines"] = self.tail
        path = core_path(namespace, "pods", name) + "/log"
        response = await kube.client.request(
            "GET", path, params=params, accept="application/json, */*"
        )
        return name, response.content.decode("utf-8", "replace").splitlines()
