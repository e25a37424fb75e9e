"""KapacitorAlertHandler: a handler on a Kapacitor alert topic
(`/kapacitor/v1/alerts/topics/{topic}/handlers/{id}`).

Option values that are secrets (a webhook URL, a routing key, an Authorization header)
come from Secret or ConfigMap keys through `optionsFrom`, so they never sit in the
manifest; the status never holds them either.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field

from kapacitor_operator.models.common import (
    AGE_COLUMN,
    DNS_SUBDOMAIN_PATTERN,
    KAPACITOR_ID_PATTERN,
    READY_COLUMNS,
    KapacitorConnection,
    LocalObjectRef,
    Model,
    SecretKeyRef,
)
from kapacitor_operator.models.status import Condition

HandlerKind = Literal[
    "aggregate",
    "alerta",
    "bigpanda",
    "discord",
    "exec",
    "hipchat",
    "kafka",
    "log",
    "mqtt",
    "opsgenie",
    "opsgenie2",
    "pagerduty",
    "pagerduty2",
    "post",
    "publish",
    "pushover",
    "sensu",
    "servicenow",
    "slack",
    "smtp",
    "snmptrap",
    "talk",
    "tcp",
    "teams",
    "telegram",
    "victorops",
    "zenoss",
]
"""Every handler kind Kapacitor 1.8 knows (services/alert createHandlerFromSpec)."""

OPTION_PATH_PATTERN = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,7}$"
MAX_OPTIONS_FROM = 32


class OptionConfigMapKeyRef(Model):
    """A key in a ConfigMap in the resource's own namespace."""

    name: str = Field(
        description="Name of the ConfigMap, in the same namespace as the resource.",
        min_length=1,
        max_length=253,
        pattern=DNS_SUBDOMAIN_PATTERN,
    )
    key: str = Field(
        description="Key within the ConfigMap's data holding the option's value.",
        min_length=1,
        max_length=253,
    )


class OptionFrom(Model):
    """One option whose value is read from a Secret or ConfigMap key."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.secretKeyRef) != has(self.configMapKeyRef)",
                    "message": "set exactly one of secretKeyRef or configMapKeyRef",
                }
            ]
        }
    )

    path: str = Field(
        description="Where the value goes in the handler's options: an option name such as "
        "`url` or `routing-key`, or a dotted path into a nested object such as "
        "`headers.Authorization`. The value is always a string.",
        min_length=1,
        max_length=256,
        pattern=OPTION_PATH_PATTERN,
    )
    secretKeyRef: SecretKeyRef | None = Field(
        default=None,
        description="A Secret key holding the value. The value never appears in status, "
        "Events or logs.",
    )
    configMapKeyRef: OptionConfigMapKeyRef | None = Field(
        default=None, description="A ConfigMap key holding the value."
    )


_RULES: Any = [
    {
        # Kapacitor panics (and exits) building an aggregate handler without a positive
        # interval: refuse it before it is stored (issue 15).
        "rule": "self.kind != 'aggregate' || (has(self.options) && has(self.options.interval) "
        "&& self.options.interval >= 1.0)",
        "message": "aggregate handlers need options.interval, a positive number of nanoseconds "
        "(e.g. 60000000000 for 1m)",
    },
    {
        "rule": "!(has(self.kapacitor) && has(self.kapacitorRef))",
        "message": "set spec.kapacitor or spec.kapacitorRef, not both",
    },
    {
        "rule": "self.topic == oldSelf.topic",
        "message": "spec.topic is immutable",
    },
    {
        "rule": "has(self.id) == has(oldSelf.id) && (!has(self.id) || self.id == oldSelf.id)",
        "message": "spec.id is immutable",
    },
]


class KapacitorAlertHandlerSpec(Model):
    """Desired state of a handler on a Kapacitor alert topic."""

    model_config = ConfigDict(json_schema_extra={"x-kubernetes-validations": _RULES})

    topic: str = Field(
        description="The alert topic the handler listens on (an alert node's `.topic()`, or "
        "`<task>:<alert id>` topics Kapacitor makes). Kapacitor creates the topic with its "
        "first handler. Immutable.",
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        pattern=KAPACITOR_ID_PATTERN,
        description="The handler's ID within its topic. Default: `<namespace>.<name>`. Immutable.",
    )
    kind: HandlerKind = Field(
        description="Kapacitor handler kind: where alerts go, e.g. `slack`, `pagerduty2`, "
        "`post` (HTTP POST to a URL), `teams`, `log`, `tcp`, `aggregate`, `publish`. Kinds "
        "that need server-side configuration (slack workspaces, smtp, kafka clusters...) use "
        "what kapacitor.conf declares."
    )
    match: str | None = Field(
        default=None,
        max_length=4096,
        description="A lambda expression selecting which events the handler receives, e.g. "
        "`level() >= WARNING AND changed()`. Default: every event.",
    )
    options: dict[str, Any] | None = Field(
        default=None,
        description="The kind's options, as Kapacitor's API takes them (e.g. `channel` for "
        "slack, `path` for log, `interval` in nanoseconds for aggregate). Put secret values "
        "in optionsFrom instead.",
        json_schema_extra={
            "maxProperties": 64,
            # Free-form, but `interval` is declared: CEL sees only declared fields, and an
            # aggregate handler needs it (see _RULES).
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                "interval": {
                    "type": "number",
                    "description": "aggregate only: how often to send the aggregated "
                    "events, in nanoseconds (a number, e.g. 60000000000 for 1m).",
                }
            },
        },
    )
    optionsFrom: list[OptionFrom] | None = Field(
        default=None,
        max_length=MAX_OPTIONS_FROM,
        description="Option values read from Secret or ConfigMap keys (in this namespace), "
        "set at their paths on top of `options`. Changing the Secret updates the handler on "
        "the next reconcile (a spec change or the periodic drift check).",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["path"]},
    )
    kapacitor: KapacitorConnection | None = Field(
        default=None,
        description="Kapacitor server for this handler. Default: the operator's connection.",
    )
    kapacitorRef: LocalObjectRef | None = Field(
        default=None,
        description="A `Kapacitor` object in this namespace to use instead of spec.kapacitor.",
    )
    deletionPolicy: Literal["Delete", "Orphan"] = Field(
        default="Delete",
        description="`Delete` removes the handler from Kapacitor when this resource is "
        "deleted; `Orphan` leaves it there.",
    )


class KapacitorAlertHandlerStatus(Model):
    """Observed state of a topic handler. Never holds an option value."""

    model_config = ConfigDict(frozen=False, extra="ignore")

    observedGeneration: int | None = Field(
        default=None, description="Generation this status describes."
    )
    topic: str | None = Field(default=None, description="The topic the handler is on.")
    handlerID: str | None = Field(default=None, description="The handler's ID in Kapacitor.")
    kapacitorURL: str | None = Field(
        default=None, description="Kapacitor server the handler lives on."
    )
    lastSyncedAt: str | None = Field(
        default=None, description="Last time Kapacitor matched the spec."
    )
    definitionHash: str | None = Field(
        default=None,
        description="Fingerprint of the definition last written to Kapacitor (option values "
        "from optionsFrom enter it through a slow, salted hash, so it reveals none).",
    )
    serverHash: str | None = Field(
        default=None,
        description="Fingerprint of the handler as Kapacitor returned it after the operator's "
        "last write; drift is a change of this.",
    )
    topicCollected: int | None = Field(
        default=None,
        description="Alert events the topic had collected at the last check. A drop means "
        "the topic was deleted and recreated, which detaches its handlers in Kapacitor: the "
        "operator then replaces the handler to attach it again.",
    )
    optionsFromPaths: list[str] | None = Field(
        default=None,
        description="Option paths whose values came from Secrets or ConfigMaps (the paths only).",
    )
    kopf: dict[str, Any] | None = Field(
        default=None,
        description="The operator framework's bookkeeping (handler progress, last handled spec).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    conditions: list[Condition] | None = Field(
        default=None, description="Ready, Synced, Stalled and Reconciling."
    )


def alerthandler_printer_columns() -> list[dict[str, Any]]:
    """Printer columns for `kubectl get kapacitoralerthandlers`."""
    return [
        {"name": "Topic", "type": "string", "jsonPath": ".spec.topic"},
        {"name": "Handler ID", "type": "string", "jsonPath": ".status.handlerID"},
        {"name": "Kind", "type": "string", "jsonPath": ".spec.kind"},
        *READY_COLUMNS,
        AGE_COLUMN,
    ]
