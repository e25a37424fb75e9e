"""Prometheus metrics. Labels are bounded: never a task name, run ID or namespace."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "kapacitor_operator_reconciles_total",
    "Reconciles by resource kind and result (ok, temporary_error, permanent_error).",
    ["kind", "result"],
    registry=REGISTRY,
)
KAPACITOR_REQUESTS = Histogram(
    "kapacitor_operator_kapacitor_request_duration_seconds",
    "Kapacitor API latency by endpoint template, method and status class.",
    ["endpoint", "method", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 120, 600, 3600),
    registry=REGISTRY,
)
KAPACITOR_WRITES = Counter(
    "kapacitor_operator_kapacitor_writes_total",
    "Writes (create, patch, delete) sent to Kapacitor while reconciling tasks.",
    ["kind"],
    registry=REGISTRY,
)
DRIFT_REPAIRS = Counter(
    "kapacitor_operator_drift_repairs_total",
    "Tasks changed or deleted in Kapacitor behind the operator's back and restored.",
    ["task_type"],
    registry=REGISTRY,
)
WATCH_EVENTS = Counter(
    "kapacitor_operator_watch_events_total",
    "Watch events received by the controllers of mirrored kinds.",
    ["kind"],
    registry=REGISTRY,
)
OBJECTS = Gauge(
    "kapacitor_operator_objects",
    "Objects of a mirrored kind the controller knows.",
    ["kind"],
    registry=REGISTRY,
)
PENDING = Gauge(
    "kapacitor_operator_pending_reconciles",
    "Objects queued for, or in, a reconcile (delayed retries aside).",
    ["kind"],
    registry=REGISTRY,
)
DRIFT_PASSES = Counter(
    "kapacitor_operator_drift_passes_total",
    "Drift passes (one paged list per Kapacitor server) by result (ok, error).",
    ["kind", "result"],
    registry=REGISTRY,
)
DRIFTED = Counter(
    "kapacitor_operator_drift_enqueued_total",
    "Objects a drift pass found differing from or missing in Kapacitor.",
    ["kind"],
    registry=REGISTRY,
)
UNMANAGED = Gauge(
    "kapacitor_operator_unmanaged_objects",
    "Objects found in Kapacitor by the last drift pass that no resource claims, per API "
    "(tick, flux). Summed over servers.",
    ["kind", "api"],
    registry=REGISTRY,
)
RUN_ATTEMPTS = Counter(
    "kapacitor_operator_taskrun_attempts_total",
    "Finished TaskRun attempts by backend (kapacitor, job, replay) and end reason.",
    ["backend", "end_reason"],
    registry=REGISTRY,
)
RUNS = Counter(
    "kapacitor_operator_taskruns_total",
    "Finished TaskRuns by end reason.",
    ["end_reason"],
    registry=REGISTRY,
)
RETRIES = Counter(
    "kapacitor_operator_taskrun_retries_total",
    "Retries scheduled for TaskRuns, by the end reason that caused them.",
    ["end_reason"],
    registry=REGISTRY,
)

LEADER = Gauge(
    "kapacitor_operator_leader",
    "1 while this replica holds the leader Lease and works, 0 while it stands by.",
    registry=REGISTRY,
)


def observe_kapacitor_request(
    endpoint: str, method: str, status_class: str, seconds: float
) -> None:
    """Observer handed to KapacitorClient."""
    KAPACITOR_REQUESTS.labels(endpoint, method, status_class).observe(seconds)


def serve(port: int) -> None:
    """Expose /metrics on all interfaces (0 disables)."""
    if port:
        start_http_server(port, registry=REGISTRY)
