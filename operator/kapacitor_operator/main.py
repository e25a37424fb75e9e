"""kopf registrations, startup and cleanup: the operator process itself."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from kapacitor_operator import GROUP, metrics
from kapacitor_operator.config import Settings
from kapacitor_operator.handlers import (
    alerthandler,
    flux_history,
    kapacitor,
    kapacitortask,
    kapacitortemplate,
    taskrun,
)
from kapacitor_operator.handlers.runtime import Runtime
from kapacitor_operator.k8s.api import LIST_PAGE, KubeAPI
from kapacitor_operator.k8s.client import KubeClient
from kapacitor_operator.k8s.credentials import CredentialsError, KubeCredentials, load_credentials
from kapacitor_operator.kapacitor.pool import ClientPool
from kapacitor_operator.kopf_diffbase import SlimStatusDiffBaseStorage
from kapacitor_operator.leadership import Work

log = logging.getLogger("kapacitor_operator")


def build_registry(settings: Settings) -> kopf.OperatorRegistry:
    """A kopf registry with every handler of the operator."""
    registry = kopf.OperatorRegistry()

    @kopf.on.startup(id="operator_startup", registry=registry)
    async def operator_startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        configure_kopf(settings, operator_settings)
        try:
            kube = KubeAPI(KubeClient(load_credentials()))
        except CredentialsError as exc:
            raise kopf.PermanentError(str(exc)) from exc
        log.info(
            "Kubernetes API at %s (%s)",
            kube.client.credentials.server,
            kube.client.credentials.source,
        )
        memo.runtime = Runtime(
            settings=operator_settings,
            pool=ClientPool(
                observer=metrics.observe_kapacitor_request,
                read_timeout=operator_settings.kapacitor_timeout,
            ),
            kube=kube,
        )
        memo.runtime.runs.start()
        memo.runtime.tasks.start()
        memo.runtime.drift.start()
        memo.runtime.alert_handlers.start()
        memo.runtime.alert_handler_drift.start()
        memo.runtime.templates.start()
        memo.runtime.template_drift.start()
        memo.runtime.kapacitors.start()
        log.info("kapacitor-operator started: %r", operator_settings)

    @kopf.on.login(id="operator_login", registry=registry)
    def operator_login(**_: Any) -> kopf.ConnectionInfo:
        # Called again after a 401: a fresh load picks up a rotated token.
        try:
            return connection_info(load_credentials())
        except CredentialsError as exc:
            raise kopf.PermanentError(str(exc)) from exc

    @kopf.on.cleanup(id="operator_cleanup", registry=registry)
    async def operator_cleanup(memo: kopf.Memo, **_: Any) -> None:
        runtime: Runtime | None = getattr(memo, "runtime", None)
        if runtime is not None:
            # Kapacitor runs in flight finish (and are recorded) before the clients close:
            # a rollout must not fail the runs it interrupts (issue 11).
            await runtime.runs.drain(operator_settings.drain_timeout)
            await runtime.drift.stop()
            await runtime.tasks.stop()
            await runtime.alert_handler_drift.stop()
            await runtime.alert_handlers.stop()
            await runtime.template_drift.stop()
            await runtime.templates.stop()
            await runtime.kapacitors.stop()
            await runtime.pool.aclose()
            await runtime.kube.aclose()

    operator_settings = settings
    kapacitortask.register(registry, settings)
    taskrun.register(registry, settings)
    flux_history.register(registry, settings)
    alerthandler.register(registry, settings)
    kapacitor.register(registry, settings)
    kapacitortemplate.register(registry, settings)
    return registry


def kopf_work(settings: Settings, registry: kopf.OperatorRegistry) -> Work:
    """kopf (with the TaskRun engine, started by the startup handler) as the work of a
    leading replica (leadership.Work): it stops when `stop` is set, `started` is set once
    the startup handlers ran. No kopf peering: the Lease decides who works (docs/ha.md)."""

    async def work(stop: asyncio.Event, started: asyncio.Event) -> None:
        await kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=settings.cluster_wide,
            namespaces=list(settings.namespaces),
            stop_flag=stop,
            ready_flag=started,
        )

    return work


def connection_info(credentials: KubeCredentials) -> kopf.ConnectionInfo:
    """kopf's view of our credentials, so kopf and KubeClient use one server and identity."""
    if credentials.tls_server_name:
        log.warning(
            "kopf ignores tls-server-name %r: its watches verify the server URL's host name",
            credentials.tls_server_name,
        )
    return kopf.ConnectionInfo(
        server=credentials.server,
        ca_data=credentials.ca_data,
        insecure=credentials.insecure,
        scheme="Bearer" if credentials.token else None,
        token=credentials.token,
        certificate_data=credentials.client_cert_data,
        private_key_data=credentials.client_key_data,
        default_namespace=credentials.namespace,
    )


def configure_kopf(kopf_settings: kopf.OperatorSettings, settings: Settings) -> None:
    """kopf's own finalizer, its bookkeeping in status.kopf; quiet kopf's own Events."""
    # KapacitorTasks carry `<group>/finalizer`, managed by their controller (sync/); kopf's
    # finalizer (its timers need one) must differ, or kopf would remove ours from every
    # object its timers do not match.
    kopf_settings.persistence.finalizer = f"{GROUP}/kopf-finalizer"
    # kopf's own bookkeeping lives in status.kopf, so the write after a handler is one
    # status patch instead of metadata + status (issue 6: latency and bulk figures).
    kopf_settings.persistence.progress_storage = kopf.StatusProgressStorage(
        field="status.kopf.progress"
    )
    # kopf's storage, building each event's essence without a deep copy of the whole body.
    kopf_settings.persistence.diffbase_storage = SlimStatusDiffBaseStorage(
        field="status.kopf.last-handled-configuration"
    )
    kopf_settings.posting.level = logging.WARNING
    kopf_settings.watching.server_timeout = 300
    kopf_settings.watching.client_timeout = 330
    # The first list of each kind comes in pages (kopf's default is one response with every
    # object): at 10,000 tasks one response is a few hundred MiB parsed at once, and the
    # process keeps that peak as its resident size after the list is gone.
    kopf_settings.watching.chunk_size = LIST_PAGE
    kopf_settings.networking.request_timeout = 30
    # kopf kills a stopping operator after this long; the drain must fit in it.
    kopf_settings.process.ultimate_exiting_timeout = settings.drain_timeout + 60
    if settings.worker_limit:
        kopf_settings.queueing.worker_limit = settings.worker_limit
