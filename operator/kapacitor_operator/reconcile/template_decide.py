"""KapacitorTemplate decisions: pure functions of what is desired and what was observed.

Kept apart from I/O so every row of the decision table is a unit test (STYLE.md:
observe -> decide -> act -> status). The plans are the shared driver's
(reconcile/mirror/plan.py); claims and deletionPolicy are the driver's too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kapacitor_operator.kapacitor.schemas import TickTemplate
from kapacitor_operator.reconcile.desired import stable_hash
from kapacitor_operator.reconcile.mirror.plan import Create, Nothing, Plan, Update


def default_template_id(namespace: str, name: str) -> str:
    """`<namespace>.<name>`, as KapacitorTask task IDs default."""
    return f"{namespace}.{name}"


def template_hash(type: str, script: str) -> str:
    """Hash of what the operator manages of a template, the same from the spec, a GET
    and a list page (drift compares it with status.definitionHash)."""
    return stable_hash([type, script])


@dataclass(frozen=True)
class DesiredTemplate:
    """A template as it should be in Kapacitor."""

    template_id: str
    type: str
    script: str

    @property
    def definition_hash(self) -> str:
        return template_hash(self.type, self.script)

    def create_body(self) -> dict[str, Any]:
        return {"id": self.template_id, "type": self.type, "script": self.script}


def decide(
    desired: DesiredTemplate, observed: TickTemplate | None, *, last_hash: str | None
) -> Plan:
    """What to do about one template.

    `last_hash` is status.definitionHash: the definition Kapacitor last matched, so a
    difference with an unchanged spec is drift (someone edited it behind our back).
    """
    spec_unchanged = last_hash is not None and last_hash == desired.definition_hash
    tid = desired.template_id
    if observed is None:
        drift = f"Template {tid} was deleted in Kapacitor; defined it again."
        return Create(drift=drift if spec_unchanged else "")
    if observed.script == desired.script and observed.type == desired.type:
        return Nothing()
    # Kapacitor takes a PATCHed template's type from the body only, and compiles the
    # script against it: send both so a changed script is checked against the right one.
    drift = f"Template {tid} was changed in Kapacitor; restored the spec."
    return Update(
        {"type": desired.type, "script": desired.script}, drift=drift if spec_unchanged else ""
    )


def tasks_using(linked: dict[str, str], template_id: str) -> list[str]:
    """Kapacitor task IDs made from the template, sorted. `linked` maps every TICKscript
    task ID on the server to its template ID (`""` for none). A template can only be
    deleted from Kapacitor once this is empty."""
    return sorted(t for t, tid in linked.items() if tid == template_id)
