"""`kubectl kapacitor validate -f FILE`: does Kapacitor accept each KapacitorTask's script?

Kapacitor is the only judge of TICKscript and Flux, so the plugin asks it: the definition
is built exactly as the operator builds it (reconcile/desired.py), then defined
*disabled* (TICKscript) or *inactive* (Flux) under a throw-away ID/name
(`kubectl-kapacitor-validate-<random>`), Kapacitor's answer is reported verbatim, and the
throw-away task is always deleted, on errors and Ctrl-C too. The live task is never
touched. Errors Kapacitor only finds when a task starts (a batch query outside its
dbrps, say) are not reported: the throw-away task never starts.
"""

from __future__ import annotations

import argparse
import secrets
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from kapacitor_operator.k8s.errors import KubeForbidden
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorError,
    KapacitorRejected,
)
from kapacitor_operator.models.kapacitortask import KapacitorTaskSpec
from kapacitor_operator.plugin.connect import open_kapacitor, resolve_target
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.manifests import Manifest, read_manifests
from kapacitor_operator.plugin.output import document, note, table, warn
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.reconcile.desired import (
    DesiredFlux,
    DesiredStateError,
    build_desired,
    build_flux_script,
)

PREFIX = "kubectl-kapacitor-validate-"


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "validate",
        parents=parents,
        help="ask the target Kapacitor whether each KapacitorTask's script compiles",
        description="For each KapacitorTask in the files, define its TICKscript (disabled) "
        "or Flux (inactive) in the target Kapacitor under a throw-away ID, report "
        "Kapacitor's answer and delete it again. The live task is never touched. Exit code "
        "1 when any script is invalid or could not be checked.",
    )
    parser.add_argument(
        "-f", "--filename", action="append", required=True, help="file, directory or - (stdin)"
    )
    parser.set_defaults(command=run, check=None)


@dataclass
class Result:
    manifest: Manifest
    name: str
    namespace: str
    type: str
    result: str  # valid | invalid | error
    message: str = ""
    kapacitor: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "type": self.type,
            "file": self.manifest.source,
            "kapacitorURL": self.kapacitor,
            "result": self.result,
            "message": self.message,
        }


def throwaway_id() -> str:
    return PREFIX + secrets.token_hex(6)


async def run(session: Session, args: argparse.Namespace) -> int:
    manifests = read_manifests(args.filename)
    tasks = [m for m in manifests if m.is_kapacitortask]
    for other in (m for m in manifests if not m.is_kapacitortask):
        note(f"skipping {other.describe()} in {other.source}: not a KapacitorTask")
    if not tasks:
        raise PluginError("no KapacitorTask in " + ", ".join(args.filename))
    results = [await validate_one(session, m) for m in tasks]
    _report(session, results)
    return 0 if all(r.result == "valid" for r in results) else 1


async def validate_one(session: Session, manifest: Manifest) -> Result:
    """Check one KapacitorTask; a forbidden credentials Secret stops everything.

    Raises:
        PluginError: the user may not read the credentials Secret.
    """
    meta = manifest.body.get("metadata") or {}
    name = str(meta.get("name") or "")
    namespace = str(meta.get("namespace") or session.namespace)
    spec_body = manifest.body.get("spec") or {}
    result = Result(manifest, name, namespace, str(spec_body.get("type") or ""), "error")
    if not name:
        result.result, result.message = "invalid", "metadata.name is required"
        return result
    try:
        spec = KapacitorTaskSpec.model_validate(spec_body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        result.result, result.message = (
            "invalid",
            f"spec.{where}: {first['msg']}" if where else first["msg"],
        )
        return result
    script: str | None = None
    if spec.scriptFrom is not None:
        ref = spec.scriptFrom.configMapKeyRef
        try:
            script = await session.kube.configmap_key(namespace, ref.name, ref.key)
        except KubeForbidden as exc:
            result.message = exc.message
            return result
        if script is None:
            result.message = f"ConfigMap {namespace}/{ref.name} has no key {ref.key!r}"
            return result
    if spec.templateRef is not None:
        # The template's ID as the operator derives it (its status may not exist yet).
        body = await session.kube.get_custom(namespace, "kapacitortemplates", spec.templateRef.name)
        template_spec = (body or {}).get("spec") or {}
        template_id = template_spec.get("templateID") or f"{namespace}.{spec.templateRef.name}"
        spec = spec.model_copy(update={"templateID": str(template_id)})
    try:
        desired = build_desired(spec, namespace=namespace, name=name, script=script)
    except DesiredStateError as exc:
        result.result, result.message = "invalid", str(exc)
        return result
    target = await resolve_target(session, spec.kapacitor, namespace, spec.kapacitorRef)
    reached = await open_kapacitor(session, target)
    result.kapacitor = reached.url
    try:
        if isinstance(desired, DesiredFlux):
            name = throwaway_id()
            flux = build_flux_script(spec, name)
            await _check_flux(reached.client, flux, name, desired.description, result)
        else:
            body = {**desired.create_body(), "id": throwaway_id(), "status": "disabled"}
            await _check_tick(reached.client, body, result)
    finally:
        await reached.aclose()
    return result


def _judge(exc: KapacitorError, result: Result) -> None:
    """A 4xx answer is Kapacitor's verdict on the script; anything else says nothing."""
    if isinstance(exc, KapacitorRejected) and not isinstance(exc, KapacitorAuthError):
        result.result, result.message = "invalid", exc.message
    else:
        result.result, result.message = "error", str(exc)


async def _check_tick(client: KapacitorClient, body: dict[str, Any], result: Result) -> None:
    try:
        await client.create_task(body)
        result.result = "valid"
    except KapacitorError as exc:
        _judge(exc, result)
    finally:
        # Idempotent: also right when the POST failed, or its answer was lost.
        await _cleanup(result, client.delete_task(body["id"]), body["id"])


async def _check_flux(
    client: KapacitorClient, flux: str, name: str, description: str, result: Result
) -> None:
    created_id: str | None = None
    try:
        created = await client.create_flux_task(flux, active=False, description=description)
        created_id = created.id
        result.result = "valid"
    except KapacitorError as exc:
        _judge(exc, result)
    finally:
        await _cleanup(result, _delete_flux(client, name, created_id), name)


async def _delete_flux(client: KapacitorClient, name: str, known_id: str | None) -> None:
    """Delete the throw-away Flux task; found by its unique name when the create's answer
    was lost (a timeout, Ctrl-C) and the task may exist all the same."""
    ids = [known_id] if known_id else [t.id for t in await client.find_flux_tasks(name)]
    for task_id in ids:
        await client.delete_flux_task(task_id)


async def _cleanup(result: Result, call: Any, what: str) -> None:
    try:
        await call
    except KapacitorError as exc:
        warn(f"could not delete the throw-away task {what} from {result.kapacitor}: {exc}")
        if result.result == "valid":
            result.result, result.message = "error", f"throw-away task {what} left behind"


def _report(session: Session, results: list[Result]) -> None:
    fmt = session.options.output
    if fmt in ("json", "yaml"):
        print(document({"items": [r.as_dict() for r in results]}, fmt), end="")
        return
    wide = fmt == "wide"
    headers = ["name", "type", "result", "message"]
    if wide:
        headers = ["namespace", "name", "type", "kapacitor", "file", "result", "message"]
    rows = []
    for r in results:
        row = [r.name, r.type, r.result, r.message.replace("\n", " ")]
        if wide:
            row = [r.namespace, r.name, r.type, r.kapacitor, r.manifest.source, r.result, row[3]]
        rows.append(row)
    print(table(headers, rows), end="")
