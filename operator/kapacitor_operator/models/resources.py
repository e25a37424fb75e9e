"""Whole custom resources (metadata + spec + status) and their CRD identities."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from kapacitor_operator import GROUP, VERSION
from kapacitor_operator.models.alerthandler import (
    KapacitorAlertHandlerSpec,
    KapacitorAlertHandlerStatus,
    alerthandler_printer_columns,
)
from kapacitor_operator.models.kapacitor import (
    KapacitorSpec,
    KapacitorStatus,
    kapacitor_printer_columns,
)
from kapacitor_operator.models.kapacitortask import (
    KapacitorTaskSpec,
    KapacitorTaskStatus,
    kapacitortask_printer_columns,
)
from kapacitor_operator.models.kapacitortemplate import (
    KapacitorTemplateSpec,
    KapacitorTemplateStatus,
    kapacitortemplate_printer_columns,
)
from kapacitor_operator.models.taskrun import TaskRunSpec, TaskRunStatus, taskrun_printer_columns

SpecT = TypeVar("SpecT", bound=BaseModel)
StatusT = TypeVar("StatusT", bound=BaseModel)


@dataclass(frozen=True)
class CRDKind:
    """Names and models of one custom resource kind."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    description: str
    printer_columns: tuple[dict[str, Any], ...]

    @property
    def crd_name(self) -> str:
        return f"{self.plural}.{GROUP}"


KAPACITORTASK = CRDKind(
    kind="KapacitorTask",
    plural="kapacitortasks",
    singular="kapacitortask",
    short_names=("ktask", "kt"),
    spec_model=KapacitorTaskSpec,
    status_model=KapacitorTaskStatus,
    description="A TICKscript (stream/batch) or Flux task kept in sync with a Kapacitor server.",
    printer_columns=tuple(kapacitortask_printer_columns()),
)

TASKRUN = CRDKind(
    kind="TaskRun",
    plural="taskruns",
    singular="taskrun",
    short_names=("ktr",),
    spec_model=TaskRunSpec,
    status_model=TaskRunStatus,
    description="One execution of a Flux KapacitorTask (through Kapacitor's API) or of a "
    "Kubernetes Job, with bounded retries.",
    printer_columns=tuple(taskrun_printer_columns()),
)

KAPACITORALERTHANDLER = CRDKind(
    kind="KapacitorAlertHandler",
    plural="kapacitoralerthandlers",
    singular="kapacitoralerthandler",
    short_names=("kah",),
    spec_model=KapacitorAlertHandlerSpec,
    status_model=KapacitorAlertHandlerStatus,
    description="A handler on a Kapacitor alert topic (where its alerts go), kept in sync "
    "with a Kapacitor server; secret option values come from Secrets.",
    printer_columns=tuple(alerthandler_printer_columns()),
)

# `kubectl get kapacitor` names the `kapacitor` category (kubectl expands categories
# before kinds), so it lists every kind; the connection objects are `kubectl get
# kapacitors` (plural) or a short name. See README "Kapacitor connection objects".
KAPACITOR = CRDKind(
    kind="Kapacitor",
    plural="kapacitors",
    singular="kapacitor",
    short_names=("kapa", "kconn"),
    spec_model=KapacitorSpec,
    status_model=KapacitorStatus,
    description="A connection to one Kapacitor server that other resources name with "
    "kapacitorRef; its status says whether the server is reachable and what it holds.",
    printer_columns=tuple(kapacitor_printer_columns()),
)

KAPACITORTEMPLATE = CRDKind(
    kind="KapacitorTemplate",
    plural="kapacitortemplates",
    singular="kapacitortemplate",
    short_names=("ktemplate", "ktpl"),
    spec_model=KapacitorTemplateSpec,
    status_model=KapacitorTemplateStatus,
    description="A TICKscript template kept in sync with a Kapacitor server; KapacitorTasks "
    "instantiate it with templateRef.",
    printer_columns=tuple(kapacitortemplate_printer_columns()),
)

ALL_KINDS = (KAPACITORTASK, TASKRUN, KAPACITORALERTHANDLER, KAPACITOR, KAPACITORTEMPLATE)


@dataclass(frozen=True)
class Resource(Generic[SpecT, StatusT]):
    """A parsed custom resource: identity, generation, spec and last known status."""

    namespace: str
    name: str
    uid: str
    generation: int
    spec: SpecT
    status: StatusT
    creation_timestamp: str
    deleting: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


def parse_resource(
    body: Mapping[str, Any], spec_model: type[SpecT], status_model: type[StatusT]
) -> Resource[SpecT, StatusT]:
    """Parse a Kubernetes object into a typed Resource.

    Raises:
        pydantic.ValidationError: the spec does not match the model.
    """
    meta = body.get("metadata", {})
    spec = spec_model.model_validate(dict(body.get("spec") or {}))
    status = status_model.model_validate(dict(body.get("status") or {}))
    return Resource(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        generation=int(meta.get("generation") or 0),
        spec=spec,
        status=status,
        creation_timestamp=str(meta.get("creationTimestamp", "")),
        deleting=bool(meta.get("deletionTimestamp")),
    )


KapacitorTask = Resource[KapacitorTaskSpec, KapacitorTaskStatus]
TaskRun = Resource[TaskRunSpec, TaskRunStatus]
KapacitorAlertHandler = Resource[KapacitorAlertHandlerSpec, KapacitorAlertHandlerStatus]
KapacitorServer = Resource[KapacitorSpec, KapacitorStatus]
KapacitorTemplate = Resource[KapacitorTemplateSpec, KapacitorTemplateStatus]


def parse_kapacitortask(body: Mapping[str, Any]) -> KapacitorTask:
    """Parse a KapacitorTask object.

    Raises:
        pydantic.ValidationError: the spec is invalid.
    """
    return parse_resource(body, KapacitorTaskSpec, KapacitorTaskStatus)


def parse_taskrun(body: Mapping[str, Any]) -> TaskRun:
    """Parse a TaskRun object.

    Raises:
        pydantic.ValidationError: the spec is invalid.
    """
    return parse_resource(body, TaskRunSpec, TaskRunStatus)


def parse_alerthandler(body: Mapping[str, Any]) -> KapacitorAlertHandler:
    """Parse a KapacitorAlertHandler object.

    Raises:
        pydantic.ValidationError: the spec is invalid.
    """
    return parse_resource(body, KapacitorAlertHandlerSpec, KapacitorAlertHandlerStatus)


__all__ = [
    "ALL_KINDS",
    "KAPACITOR",
    "KAPACITORALERTHANDLER",
    "KAPACITORTASK",
    "KAPACITORTEMPLATE",
    "TASKRUN",
    "VERSION",
    "CRDKind",
    "Resource",
]
