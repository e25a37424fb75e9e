"""Kapacitor's ``validate()`` of each pipeline node type that has one (v1.8.3).

After a script is evaluated, Kapacitor validates every node in topological order; the
first error is the answer, without a position (``a call to join.as() is required ...``,
``must specify same number of expressions and .as() names ...``). A node that holds a
value the emulator could not compute is not checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kapacitor_emulator.tick_literals import go_quote
from kapacitor_emulator.tick_values import BOOL, FLOAT, INT, STAR, STRING, UNKNOWN, Value

if TYPE_CHECKING:
    from kapacitor_emulator.tick_pipeline import NodeState


def _strings(node: NodeState, key: str) -> list[Any]:
    return list(node.settings.get(key, []))


def _dimensions_error(dims: list[Value], excluded: list[Any]) -> str:
    star = False
    for dim in dims:
        if dim.go_type == STRING:
            if dim.value == "":
                return "dimensions cannot not be the empty string"
        elif dim.go_type == STAR:
            star = True
        elif dim.go_type != UNKNOWN:
            return f"invalid dimension object of type {dim.go_type}"
    if star and len(dims) > 1:
        return "cannot group by both '*' and named dimensions."
    if not star and excluded:
        return "exclude requires '*'"
    return ""


def _names_error(node: NodeState, kind: str, arms: int, delimiter: str) -> str:
    names = _strings(node, "As")
    what = "joined streams" if kind == "join" else "combine expressions"
    if not names:
        return f"a call to {kind}.as() is required to specify the output stream prefixes."
    if len(names) != arms:
        return f"number of prefixes specified by {kind}.as() must match the number of {what}"
    for name in names:
        if not name:
            return f"must provide a prefix name for the {kind} node, see .as() property method"
        if delimiter and delimiter in name:
            if kind == "join":
                return (
                    f"cannot use name {name} as field prefix, it contains the delimiter "
                    f'"{delimiter}"\t'
                )
            return (
                f"cannot use name {name} as field prefix, it contains the delimiter "
                f"character {delimiter}"
            )
    if len(set(names)) != len(names):
        return "cannot use the same prefix name see .as() property method"
    return ""


def node_error(node: NodeState) -> str:
    """A node's ``validate()`` (the node types that have one); ``""`` when it passes or
    depends on a value the emulator could not compute."""
    if node.settings.get(UNKNOWN) or any(arg.unknown for arg in node.args):
        return ""
    name = node.go_type.removeprefix("*pipeline.")
    get = node.settings.get
    if name == "EvalNode":
        as_list, tags = _strings(node, "As"), _strings(node, "Tags")
        if len(as_list) != len(node.args):
            return (
                "must specify same number of expressions and .as() names: "
                f"got {len(as_list)} as names, and {len(node.args)} expressions."
            )
        missing = [tag for tag in tags if tag not in as_list]
        return (
            f'invalid tag name "{missing[0]}", name is not present is .as() names'
            if missing
            else ""
        )
    if name in ("GroupByNode", "FromNode"):
        dims = node.args if name == "GroupByNode" else list(get("Dimensions", []))
        return _dimensions_error(dims, _strings(node, "ExcludedDimensions"))
    if name == "JoinNode":
        return _names_error(node, "join", node.parents, str(get("Delimiter", ".")))
    if name == "CombineNode":
        return _names_error(node, "combine", len(node.args), str(get("Delimiter", ".")))
    if name == "WindowNode":
        count, period = get("PeriodCount", 0), get("Period", 0)
        if count and period:
            return "cannot specify both period and periodCount"
        if count and get("Align"):
            return "can only align windows based off time, not count"
        if count and get("EveryCount", 0) <= 0:
            return "everyCount must be greater than zero"
        return ""
    if name == "BarrierNode":
        idle, period = get("Idle", 0), get("Period", 0)
        if idle and period:
            return "cannot specify both idle and period"
        if not period and idle <= 0:
            return "idle must be greater than zero"
        if period <= 0 and not idle:
            return "period must be greater than zero"
        return ""
    if name == "KapacitorLoopbackNode":
        if not get("Database"):
            return "must specify a database"
        return "" if get("RetentionPolicy") else "must specify a retention policy"
    return _more_errors(node, name)


def _more_errors(node: NodeState, name: str) -> str:
    get = node.settings.get
    if name == "HTTPPostNode":
        urls, endpoints = node.args, get("Endpoint", [])
        if len(urls) >= 2:
            return f"httpPost expects 0 or 1 arguments, got {len(urls)}"
        if len(endpoints) > 1:
            return f"httpPost expects 0 or 1 endpoints, got {len(endpoints)}"
        if not urls and not endpoints:
            return "must provide url or endpoint"
        if urls and endpoints:
            return "only one endpoint and url may be specified"
        return _header_error(node)
    if name == "DefaultNode":
        for field_name, value in get("Field", []):
            if value.go_type not in (FLOAT, INT, BOOL, STRING):
                return (
                    f"unsupported type {value.go_type} for field {go_quote(field_name.value)}, "
                    "field default values must be float,int,string or bool"
                )
        return ""
    if name in ("AlertNode", "AlertNodeData"):
        return _alert_error(node)
    if name in _AUTOSCALE:
        return _autoscale_error(node, *_AUTOSCALE[name])
    return ""


_AUTOSCALE = {
    "K8sAutoscaleNode": ("ResourceName", "ResourceNameTag"),
    "SwarmAutoscaleNode": ("ServiceName", "ServiceNameTag"),
    "Ec2AutoscaleNode": ("GroupName", "GroupNameTag"),
}
_K8S_KINDS = ("deployments", "replicasets", "replicationcontrollers")


def _autoscale_error(node: NodeState, name_field: str, tag_field: str) -> str:
    get = node.settings.get
    if bool(get(name_field)) == bool(get(tag_field)):
        return f"must specify exactly one of {name_field} or {tag_field}"
    kind = get("Kind", "deployments")
    if node.go_type == "*pipeline.K8sAutoscaleNode" and kind not in _K8S_KINDS:
        return (
            "invalid Kind, must be 'deployments', 'replicasets' or 'replicationcontrollers', "
            f"got {kind}"
        )
    if get("Min", 1) < 1:
        return f"min must be >= 1, got {get('Min', 1)}"
    if get("Replicas") is None:
        return "must provide a replicas lambda expression"
    return ""


def _header_error(state: NodeState) -> str:
    for header in state.settings.get("Header", []):
        if str(header[0]).upper() == "AUTHENTICATE":
            return "cannot set 'authenticate' header"
    return ""


def _alert_error(node: NodeState) -> str:
    for handler in node.handlers:
        if handler.go_type != "*pipeline.SNMPTrapHandler":
            continue
        oid = handler.args[0].value if handler.args else ""
        reason = "" if oid else "you must supply a trap Oid"
        for data in handler.settings.get("Data", []):
            if not reason and data[1] not in ("c", "i", "n", "s", "t"):
                reason = f'unsupported data type "{data[1]}" for data entry "{data[0]}"'
        if reason:
            return f'invalid SNMP trap "{oid}": {reason}'
    for handler in node.handlers:
        if handler.go_type == "*pipeline.AlertHTTPPostHandler" and _header_error(handler):
            return "invalid post: cannot set 'authenticate' header"
    return ""
