"""What Kapacitor should hold for a KapacitorTask: pure builders and stable hashes."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.models.kapacitortask import KapacitorTaskSpec, Var

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}
DEFAULT_RUN_HISTORY = 10


class DesiredStateError(ValueError):
    """The spec cannot be turned into a Kapacitor request (reason InvalidSpec)."""


def default_task_id(namespace: str, name: str) -> str:
    """`<namespace>.<name>`: unique per cluster (namespaces have no dots), valid in Kapacitor."""
    return f"{namespace}.{name}"


def stable_hash(value: Any) -> str:
    """Short SHA-256 of a JSON-serialisable value, independent of key order."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def go_duration_ns(text: str) -> int:
    """Nanoseconds in a Go duration string such as `1m30s`.

    Raises:
        DesiredStateError: not a Go duration.
    """
    pos, total = 0, 0.0
    for match in _GO_DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _NS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise DesiredStateError(f"invalid duration {text!r}")
    return int(total)


def normalize_var(var: Var | dict[str, Any]) -> dict[str, Any]:
    """A var as Kapacitor returns it: durations in integer nanoseconds, list items too.

    Raises:
        DesiredStateError: a value does not fit its type.
    """
    data = var.dump() if isinstance(var, Var) else dict(var)
    kind, value = data.get("type"), data.get("value")
    if kind == "duration" and isinstance(value, str):
        value = go_duration_ns(value)
    elif kind == "list" and isinstance(value, list):
        value = [normalize_var(item) for item in value]
    elif kind == "int" and isinstance(value, float) and value.is_integer():
        value = int(value)
    checks = {
        "bool": (bool,),
        "int": (int,),
        "float": (int, float),
        "duration": (int,),
        "string": (str,),
        "regex": (str,),
        "lambda": (str,),
        "star": (str, type(None)),
        "list": (list,),
    }
    if kind in checks and not isinstance(value, checks[kind]):
        raise DesiredStateError(f"var value {value!r} is not a valid {kind}")
    out: dict[str, Any] = {"type": kind, "value": value}
    if data.get("description"):
        out["description"] = data["description"]
    return out


def comparable_vars(vars_: dict[str, Any]) -> dict[str, Any]:
    """Vars reduced to what both sides carry, for equality checks."""
    return {name: {"type": v.get("type"), "value": v.get("value")} for name, v in vars_.items()}


@dataclass(frozen=True)
class DesiredTick:
    """A TICKscript task as it should be in Kapacitor."""

    task_id: str
    type: str
    script: str
    template_id: str
    dbrps: tuple[tuple[str, str], ...]
    vars: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True

    @property
    def definition_hash(self) -> str:
        return stable_hash(
            [
                self.type,
                self.script,
                self.template_id,
                sorted(self.dbrps),
                comparable_vars(self.vars),
            ]
        )

    def create_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.task_id,
            "type": self.type,
            "dbrps": [{"db": db, "rp": rp} for db, rp in self.dbrps],
            "status": "enabled" if self.enabled else "disabled",
        }
        if self.template_id:
            body["template-id"] = self.template_id
        else:
            body["script"] = self.script
        if self.vars:
            body["vars"] = self.vars
        return body


@dataclass(frozen=True)
class DesiredFlux:
    """A Flux task as it should be in Kapacitor; `flux` carries the `option task` record."""

    name: str
    flux: str
    description: str
    enabled: bool = True
    run_history_limit: int = DEFAULT_RUN_HISTORY

    @property
    def definition_hash(self) -> str:
        return stable_hash([self.flux, self.description])


def flux_string(value: str) -> str:
    """A Flux string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_flux_header(flux: str) -> tuple[str, str]:
    """(package clause and imports with their comments, the rest). Flux allows statements
    such as `option task` only after the imports."""
    lines = flux.strip("\n").split("\n")
    end = 0
    for index, line in enumerate(lines):
        text = line.strip()
        if text.startswith(("package ", "import ")):
            end = index + 1
        elif text and not text.startswith("//"):
            break
    return "\n".join(lines[:end]).strip("\n"), "\n".join(lines[end:]).strip("\n")


def build_flux_script(spec: KapacitorTaskSpec, name: str) -> str:
    """The user's Flux with an `option task` record built from the spec, after its imports."""
    options = [f"name: {flux_string(name)}"]
    if spec.every:
        options.append(f"every: {spec.every}")
    if spec.cron:
        options.append(f"cron: {flux_string(spec.cron)}")
    if spec.offset:
        options.append(f"offset: {spec.offset}")
    header, body = split_flux_header(spec.flux or "")
    record = "option task = {" + ", ".join(options) + "}"
    parts = [header, record, body] if header else [record, body]
    return "\n\n".join(parts) + "\n"


def build_desired(
    spec: KapacitorTaskSpec, *, namespace: str, name: str, script: str | None = None
) -> DesiredTick | DesiredFlux:
    """The desired Kapacitor object. `script` is the resolved scriptFrom text, if any.

    Raises:
        DesiredStateError: the spec cannot be expressed (bad var, missing script).
    """
    task_id = spec.taskID or default_task_id(namespace, name)
    if spec.type == "flux":
        if not spec.flux or not (spec.every or spec.cron):
            raise DesiredStateError("flux tasks need spec.flux and spec.every or spec.cron")
        return DesiredFlux(
            name=task_id,
            flux=build_flux_script(spec, task_id),
            description=spec.description or "",
            enabled=spec.enabled,
            run_history_limit=(
                DEFAULT_RUN_HISTORY if spec.runHistoryLimit is None else spec.runHistoryLimit
            ),
        )
    text = spec.script if spec.script is not None else script
    if not spec.templateID and not text:
        raise DesiredStateError("stream/batch tasks need a script, scriptFrom or templateID")
    return DesiredTick(
        task_id=task_id,
        type=spec.type,
        script=text or "",
        template_id=spec.templateID or "",
        dbrps=tuple((d.db, d.rp) for d in spec.dbrps or []),
        vars={k: normalize_var(v) for k, v in (spec.vars or {}).items()},
        enabled=spec.enabled,
    )
