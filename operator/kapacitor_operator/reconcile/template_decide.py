"""KapacitorTemplate decisions: pure functions of what is desired and what was observed.

Kept apart from I/O so every row of the decision table is a unit test (STYLE.md:
observe -> decide -> act -> status).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.desired import stable_hash


def default_template_id(namespace: str, name: str) -> str:
    """`<namespace>.<name>`, as KapacitorTask task IDs default."""
    return f"{namespace}.{name}"


@dataclass(frozen=True)
class DesiredTemplate:
    """A template as it should be in Kapacitor."""

    template_id: str
    type: str
    script: str

    @property
    def definition_hash(self) -> str:
        return stable_hash([self.type, self.script])

    def create_body(self) -> dict[str, Any]:
        return {"id": self.template_id, "type": self.type, "script": self.script}


@dataclass(frozen=True)
class Create:
    """The template is absent: define it. `drift` when it had been defined before."""

    drift: bool


@dataclass(frozen=True)
class Update:
    """The template differs: PATCH these fields. `drift` when the spec did not change."""

    changes: dict[str, Any]
    drift: bool


@dataclass(frozen=True)
class Nothing:
    """Kapacitor matches the spec."""


@dataclass(frozen=True)
class Conflict:
    """Another KapacitorTemplate (namespace/name) manages this template ID."""

    holder: str


Plan = Create | Update | Nothing | Conflict


def decide(
    desired: DesiredTemplate,
    observed: TickTemplate | None,
    *,
    last_hash: str | None,
    holder: str | None = None,
) -> Plan:
    """What to do about one template.

    `last_hash` is status.definitionHash: the definition Kapacitor last matched, so a
    difference with an unchanged spec is drift (someone edited it behind our back).
    `holder` is the oldest other claimant of the same template on the same server.
    """
    if holder is not None:
        return Conflict(holder)
    spec_unchanged = last_hash is not None and last_hash == desired.definition_hash
    if observed is None:
        return Create(drift=spec_unchanged)
    changes: dict[str, Any] = {}
    if observed.script != desired.script:
        changes["script"] = desired.script
    if observed.type != desired.type:
        changes["type"] = desired.type
    if not changes:
        return Nothing()
    # Kapacitor takes a PATCHed template's type from the body only, and compiles the
    # script against it: send both so a changed script is checked against the right one.
    return Update({"type": desired.type, "script": desired.script}, drift=spec_unchanged)


@dataclass(frozen=True)
class DeleteNow:
    """Nothing holds the template: delete it from Kapacitor."""


@dataclass(frozen=True)
class Wait:
    """Tasks still use the template (their Kapacitor IDs): keep it and say so."""

    holders: tuple[str, ...]


@dataclass(frozen=True)
class LeaveIt:
    """deletionPolicy Orphan: let the resource go, leave the template in Kapacitor."""


DeletePlan = DeleteNow | Wait | LeaveIt


def decide_delete(policy: str, linked: dict[str, str], template_id: str) -> DeletePlan:
    """Whether a template can go: only once no Kapacitor task is made from it.

    `linked` maps every TICKscript task ID on the server to its template ID.
    """
    if policy == "Orphan":
        return LeaveIt()
    holders = tuple(sorted(t for t, tid in linked.items() if tid == template_id))
    return Wait(holders) if holders else DeleteNow()


def tasks_using(linked: dict[str, str], template_id: str) -> list[str]:
    """Kapacitor task IDs made from the template, sorted."""
    return sorted(t for t, tid in linked.items() if tid == template_id)
