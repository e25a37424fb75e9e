"""What all handlers share, kept in kopf's memo as `memo.runtime`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from kapacitor_operator.config import Settings
from kapacitor_operator.k8s.api import KubeAPI
from kapacitor_operator.kapacitor.pool import ClientPool, Connection
from kapacitor_operator.models.resources import KapacitorTask
from kapacitor_operator.reconcile.alert_handler_drift import HandlerDrift
from kapacitor_operator.reconcile.alert_handler_mirror import AlertHandlerKind
from kapacitor_operator.reconcile.kapacitor_kind import Dependents, KapacitorKind
from kapacitor_operator.reconcile.kapacitor_ref import connection_of
from kapacitor_operator.reconcile.mirror.driver import MirrorDriver
from kapacitor_operator.reconcile.task_drift import TaskDrift
from kapacitor_operator.reconcile.task_mirror import TaskMirror
from kapacitor_operator.reconcile.template_drift import TemplateDrift
from kapacitor_operator.reconcile.template_mirror import TemplateMirror
from kapacitor_operator.reconcile.template_users import REFS_ANNOTATION, template_users
from kapacitor_operator.runs.engine import RunEngine
from kapacitor_operator.runs.ports import EngineDeps
from kapacitor_operator.sync.controller import SyncController
from kapacitor_operator.sync.drift import DriftScanner


@dataclass
class Runtime:
    """Long-lived clients, the TaskRun engine and per-object coordination."""

    settings: Settings
    pool: ClientPool
    kube: KubeAPI
    runs: RunEngine = field(init=False)
    tasks: SyncController = field(init=False)
    """KapacitorTask's controller (work queue, mirror driver)."""
    drift: DriftScanner = field(init=False)
    """KapacitorTask's drift detection: one paged list per server per interval."""
    alert_handlers: SyncController = field(init=False)
    """KapacitorAlertHandler's controller (work queue, mirror driver)."""
    alert_handler_drift: DriftScanner = field(init=False)
    """KapacitorAlertHandler's drift detection: the topics and their handlers, per server."""
    templates: SyncController = field(init=False)
    """KapacitorTemplate's controller (work queue, mirror driver)."""
    template_drift: DriftScanner = field(init=False)
    """KapacitorTemplate's drift detection: paged lists per server per interval."""
    kapacitors: SyncController = field(init=False)
    """The `Kapacitor` connection kind's controller: a check of each server per interval."""
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    def __post_init__(self) -> None:
        async def connection(task: KapacitorTask) -> Connection:
            return await connection_of(task, self.settings, self.kube)

        self.tasks = SyncController(
            MirrorDriver(TaskMirror(self.settings, self.kube, self.pool)),
            self.kube,
            namespaces=self.settings.namespaces,
            nudge_annotation=REFS_ANNOTATION,
        )
        self.drift = DriftScanner(
            self.tasks,
            TaskDrift(self.settings, self.kube, self.pool),
            interval=self.settings.drift_interval,
        )
        self.alert_handlers = SyncController(
            MirrorDriver(AlertHandlerKind(self.settings, self.kube, self.pool)),
            self.kube,
            namespaces=self.settings.namespaces,
            nudge_annotation=REFS_ANNOTATION,
        )
        self.alert_handler_drift = DriftScanner(
            self.alert_handlers,
            HandlerDrift(self.settings, self.kube, self.pool),
            interval=self.settings.drift_interval,
        )

        async def users(namespace: str, name: str) -> list[str]:
            await self.tasks.primed.wait()
            return template_users(self.tasks.bodies, namespace, name)

        self.templates = SyncController(
            MirrorDriver(TemplateMirror(self.settings, self.kube, self.pool, users)),
            self.kube,
            namespaces=self.settings.namespaces,
            nudge_annotation=REFS_ANNOTATION,
        )
        self.template_drift = DriftScanner(
            self.templates,
            TemplateDrift(self.settings, self.kube, self.pool),
            interval=self.settings.drift_interval,
        )
        self.kapacitors = SyncController(
            KapacitorKind(
                self.settings,
                self.kube,
                self.pool,
                Dependents(self.tasks, self.templates, self.alert_handlers),
            ),
            self.kube,
            namespaces=self.settings.namespaces,
            settled_on=("Ready",),  # the last check found the server Ready
            recheck=self.settings.kapacitor_check_interval,
        )
        self.runs = RunEngine(
            EngineDeps(
                kube=self.kube,
                clients=self.pool,
                settings=self.settings,
                resolve_connection=connection,
            )
        )

    def lock(self, uid: str) -> asyncio.Lock:
        return self.locks.setdefault(uid, asyncio.Lock())
