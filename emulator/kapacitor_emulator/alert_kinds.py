"""Alert handler kinds and what Kapacitor checks when it builds a handler from a spec.

``createHandlerFromSpec`` (services/alert) decodes the options into the kind's config
struct (see :mod:`mapstructure`), then the kind's constructor checks a little more (a
log path must be absolute and its mode user-writable, ``post`` needs a ``url`` unless a
configured endpoint is named, ``kafka`` needs a configured cluster, Go templates must
parse), and a ``match`` expression must parse and use only the level identifiers. Every
failure is one error text; the caller adds ``failed to create handler: `` or ``failed to
update handler: ``. Options are never rewritten or redacted: the spec is stored and
echoed as sent.
"""

from __future__ import annotations

from typing import Any

from kapacitor_emulator.mapstructure import (
    ANY_MAP,
    BOOL,
    DURATION,
    FILEMODE,
    INT64,
    STRING,
    STRING_MAP,
    STRINGS,
    TEMPLATE,
    GoType,
    decode_options,
    struct,
)
from kapacitor_emulator.match_expr import check_match

S = STRING
_QOS = GoType(
    "text",
    "mqtt.QoSLevel",
    accepted=("at-most-once", "at-least-once", "exactly-one"),
    text_error="invalid QoS",
)

KINDS: dict[str, GoType | None] = {
    "aggregate": struct(
        "alert.AggregateHandlerConfig",
        ("id", S),
        ("interval", DURATION),
        ("topic", S),
        ("message", S),
    ),
    "alerta": struct(
        "alerta.HandlerConfig",
        *[(n, S) for n in ("token", "token-prefix", "resource", "event", "environment")],
        *[(n, S) for n in ("group", "value", "origin")],
        ("service", STRINGS),
        ("correlate", STRINGS),
        ("attributes", ANY_MAP),
        ("timeout", DURATION),
    ),
    "bigpanda": struct(
        "bigpanda.HandlerConfig",
        *[(n, S) for n in ("app-key", "url", "host", "primary-property", "secondary-property")],
        ("attributes", ANY_MAP),
    ),
    "discord": struct(
        "discord.HandlerConfig",
        *[(n, S) for n in ("workspace", "username", "avatar-url")],
        ("embed-title", S),
    ),
    "exec": struct("alert.ExecHandlerConfig", ("prog", S), ("args", STRINGS)),
    "hipchat": struct("hipchat.HandlerConfig", ("room", S), ("token", S)),
    "kafka": struct(
        "kafka.HandlerConfig",
        *[(n, S) for n in ("cluster", "topic", "template")],
        ("disablePartitionById", BOOL),
        ("partitionAlgorithm", S),
    ),
    "log": struct("alert.LogHandlerConfig", ("path", S), ("mode", FILEMODE)),
    "mqtt": struct(
        "mqtt.HandlerConfig",
        ("broker-name", S),
        ("topic", S),
        ("qos", _QOS),
        ("retained", BOOL),
        ("topic-template", TEMPLATE),
    ),
    "opsgenie": struct(
        "opsgenie.HandlerConfig", ("teams-list", STRINGS), ("recipients-list", STRINGS)
    ),
    "opsgenie2": struct(
        "opsgenie2.HandlerConfig",
        ("teams-list", STRINGS),
        ("recipients-list", STRINGS),
        ("recovery_action", S),
    ),
    "pagerduty": struct("pagerduty.HandlerConfig", ("service-key", S)),
    "pagerduty2": struct(
        "pagerduty2.HandlerConfig",
        ("routing-key", S),
        (
            "links",
            GoType(
                "slice",
                "[]pagerduty2.LinkTemplate",
                struct("pagerduty2.LinkTemplate", ("href", S), ("text", S)),
            ),
        ),
    ),
    "pushover": struct(
        "pushover.HandlerConfig",
        *[(n, S) for n in ("device", "title", "url", "url-title", "sound", "user-key")],
    ),
    "post": struct(
        "httppost.HandlerConfig",
        ("url", S),
        ("endpoint", S),
        ("headers", STRING_MAP),
        ("capture-response", BOOL),
        ("timeout", DURATION),
        ("skip-ssl-verification", BOOL),
    ),
    "publish": struct("alert.PublishHandlerConfig", ("topics", STRINGS)),
    "sensu": struct(
        "sensu.HandlerConfig", ("source", S), ("handlers", STRINGS), ("metadata", ANY_MAP)
    ),
    "servicenow": struct(
        "servicenow.HandlerConfig",
        *[(n, S) for n in ("url", "username", "password", "source")],
        *[(n, S) for n in ("Node", "Type", "Resource", "MetricName", "MessageKey")],
        ("additional_info", ANY_MAP),
    ),
    "slack": struct(
        "slack.HandlerConfig", *[(n, S) for n in ("workspace", "channel", "username", "icon-emoji")]
    ),
    "smtp": struct("smtp.HandlerConfig", ("to", STRINGS), ("to-field", STRINGS)),
    "snmptrap": struct(
        "snmptrap.HandlerConfig",
        ("trap-oid", S),
        (
            "data-list",
            GoType(
                "slice",
                "[]snmptrap.Data",
                struct("snmptrap.Data", ("oid", S), ("type", S), ("value", S)),
            ),
        ),
    ),
    "talk": None,  # takes no options: whatever is sent is ignored (and stored)
    "tcp": struct("alert.TCPHandlerConfig", ("address", S)),
    "teams": struct("teams.HandlerConfig", ("channel-url", S)),
    "telegram": struct(
        "telegram.HandlerConfig",
        ("chat-id", S),
        ("parse-mode", S),
        ("disable-web-page-preview", BOOL),
        ("disable-notification", BOOL),
    ),
    "victorops": struct("victorops.HandlerConfig", ("routing-key", S)),
    "zenoss": struct(
        "zenoss.HandlerConfig",
        ("action", S),
        ("method", S),
        ("type", S),
        ("tid", INT64),
        *[(n, S) for n in ("Summary", "Device", "Component", "EventClassKey", "EventClass")],
        *[(n, S) for n in ("Collector", "Message")],
        ("customField", ANY_MAP),
    ),
}
"""Every kind Kapacitor 1.8.3 knows, with its options struct (mapstructure field names)."""

_TEMPLATES: dict[str, tuple[tuple[str, str], ...]] = {
    "aggregate": (("message", "message"),),
    "alerta": tuple((n, n) for n in ("resource", "event", "environment", "group", "value")),
    "discord": (("embed-title", "embedTitle"),),
    "mqtt": (("topic", "topic"),),
    "sensu": (("source", "source"),),
}
"""Options Kapacitor parses as Go templates: option name → template name."""

AGGREGATE_DEFAULT_MESSAGE = "Received {{ .Count }} events in the last {{.Interval}}."


class HandlerCrash(Exception):
    """The real kapacitord panics building this handler and the whole process exits."""


def _option(options: dict[str, Any], name: str, default: Any = None) -> Any:
    if name in options:
        return options[name]
    for key, value in options.items():
        if key.lower() == name.lower():
            return value
    return default


def _template_error(name: str, text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    for line_no, line in enumerate(text.split("\n"), start=1):
        opened = line.count("{{")
        if opened > line.count("}}"):
            return f"template: {name}:{line_no}: unclosed action"
    return None


def _filemode(mode: int) -> str:
    """Go's ``os.FileMode.String`` for permission bits and the common type bits."""
    kinds = "dalTLDpSugct?"
    out = "".join(ch for bit, ch in enumerate(kinds) if mode & (1 << (31 - bit)))
    out = out or "-"
    perms = "rwxrwxrwx"
    return out + "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate(perms))


def _kind_error(kind: str, options: dict[str, Any]) -> str | None:
    if kind == "log":
        mode = int(_option(options, "mode", 0o600) or 0)
        path = _option(options, "path", "") or ""
        if not mode & 0o200:
            return f"invalid file mode {_filemode(mode)}, must be user writable"
        if not str(path).startswith("/"):
            return f"log path must be absolute: {path} is not absolute"
    elif kind == "post":
        if _option(options, "endpoint", "") != "example" and not _option(options, "url", ""):
            return (
                "An appropriately formatted url must be specified if an endpoint is not specified"
            )
    elif kind == "kafka":
        return f'unknown cluster "{_option(options, "cluster", "") or ""}"'
    for option, template in _TEMPLATES.get(kind, ()):
        default = AGGREGATE_DEFAULT_MESSAGE if option == "message" else ""
        if error := _template_error(template, _option(options, option, default)):
            return error
    return None


def handler_error(kind: str, options: dict[str, Any] | None, match: str) -> str | None:
    """Why Kapacitor cannot build this handler, or None.

    Raises:
        HandlerCrash: an ``aggregate`` handler without a positive ``interval`` (the real
            server panics in ``time.NewTicker`` and exits).
    """
    if kind not in KINDS:
        return f'unsupported action kind "{kind}"'
    config = KINDS[kind]
    opts = options or {}
    if config is not None:
        if error := decode_options(options, config):
            return error
        if error := _kind_error(kind, opts):
            return error
    if kind == "aggregate":
        interval = _option(opts, "interval", 0) or 0
        if interval <= 0:
            raise HandlerCrash("panic: non-positive interval for NewTicker")
    if match:
        return check_match(match)
    return None
