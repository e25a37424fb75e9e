"""`kubectl kapacitor retry-failed kapacitortask/NAME`: a TaskRun per failed run.

The manual form of `retryFailedRuns`, and of `kapacitor flux task retry-failed`: the
failed runs Kapacitor lists for the Flux task since a moment each get a TaskRun with
`retryOf`, named `<task>-retry-<runID>` exactly as the operator's automatic retries
(reconcile/flux_runs.py), so a run is never retried twice, whoever came first.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from kapacitor_operator.k8s.paths import custom_path, or_none
from kapacitor_operator.kapacitor.schemas import FluxRun
from kapacitor_operator.models.resources import KAPACITORTASK, KapacitorTask
from kapacitor_operator.plugin.connect import open_kapacitor, resolve_target
from kapacitor_operator.plugin.errors import PluginError
from kapacitor_operator.plugin.names import add_target_arguments, parse_target, target_words
from kapacitor_operator.plugin.output import document, note, table, warn
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.plugin.since import parse_since
from kapacitor_operator.plugin.tasks import kapacitor_id, load_task, not_synced
from kapacitor_operator.reconcile.flux_runs import (
    LABEL_TRIGGER,
    build_retry_taskrun,
    fetch_since,
)
from kapacitor_operator.timeutil import format_time, parse_time

DEFAULT_WINDOW = timedelta(hours=24)
MANAGED_BY = "kubectl-kapacitor"
SUPERSEDED = "skipped: a later run for the same time succeeded"


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "retry-failed",
        parents=parents,
        help="create a TaskRun retrying each failed run of a Flux KapacitorTask",
        description="List the Flux task's failed runs in Kapacitor since --since (default: "
        "its latest successful run within the last 24 hours, else 24 hours ago) and create "
        "one TaskRun per failed run with retryOf, named <task>-retry-<runID> like the "
        "operator's automatic retries, so no run is retried twice.",
    )
    add_target_arguments(parser, KAPACITORTASK)
    parser.add_argument("--since", help="a duration back from now (2h, 1d) or an RFC3339 time")
    parser.add_argument("--dry-run", action="store_true", help="only say what would be created")
    parser.add_argument(
        "--include-manual",
        action="store_true",
        help="also retry failed manual runs and retries (by default only scheduled runs: "
        "the others belong to TaskRuns with their own retry policy)",
    )
    parser.set_defaults(command=run, check=check)


@dataclass
class Outcome:
    run: FluxRun
    taskrun: str
    result: str  # created | already present | would create | skipped: ...

    def as_dict(self) -> dict[str, Any]:
        return {
            "runID": self.run.id,
            "scheduledFor": self.run.scheduled_for,
            "taskRun": self.taskrun,
            "result": self.result,
        }


def choose(
    runs: list[FluxRun], since: datetime, *, after_success: bool, include_manual: bool
) -> tuple[list[FluxRun], list[FluxRun]]:
    """(failed runs to retry, failed runs a later success for the same time superseded),
    oldest first. With `after_success`, only runs scheduled after the newest successful
    one count (the default window)."""
    succeeded = {
        parse_time(r.scheduled_for) for r in runs if r.status == "success" and r.scheduled_for
    }
    bound = since
    if after_success and succeeded:
        bound = max(bound, max(succeeded) + timedelta(microseconds=1))
    failed = sorted(
        (
            r
            for r in runs
            if r.status == "failed"
            and r.scheduled_for
            and parse_time(r.scheduled_for) >= bound
            and (include_manual or not r.requested_at)
        ),
        key=lambda r: (parse_time(r.scheduled_for), r.id),
    )
    retry = [r for r in failed if parse_time(r.scheduled_for) not in succeeded]
    superseded = [r for r in failed if parse_time(r.scheduled_for) in succeeded]
    return retry, superseded


def build_manifest(task: KapacitorTask, run: FluxRun) -> dict[str, Any]:
    """The operator's retry TaskRun for this run, marked as asked for by a person.

    Same name, spec and owner as the automatic one, but `triggered-by` is left out (the
    TaskRun reports `triggeredBy: retry`), so the operator's pruning of its own automatic
    retries (retryHistoryLimit) leaves it alone.
    """
    manifest = build_retry_taskrun(task, run)
    meta = manifest["metadata"]
    meta["labels"].pop(LABEL_TRIGGER, None)
    meta["labels"]["app.kubernetes.io/managed-by"] = MANAGED_BY
    meta.pop("annotations", None)
    for owner in meta.get("ownerReferences") or []:
        # Only the operator is the controller; and blockOwnerDeletion would need the
        # right to update the KapacitorTask's finalizers.
        owner["controller"] = False
        owner.pop("blockOwnerDeletion", None)
    return manifest


def check(args: argparse.Namespace) -> None:
    """Usage checks before anything is read (exit code 2).

    Raises:
        UsageError: a wrong target or flag.
    """
    args.name = parse_target(target_words(args), KAPACITORTASK)
    if args.since:
        parse_since(args.since, datetime.now(UTC))


async def run(session: Session, args: argparse.Namespace) -> int:
    name = args.name
    now = datetime.now(UTC)
    since = parse_since(args.since, now) if args.since else now - DEFAULT_WINDOW
    task = await load_task(session, name)
    if task.spec.type != "flux":
        raise PluginError(
            f"retry-failed works on Flux tasks; kapacitortask/{name} is {task.spec.type}"
        )
    target = await resolve_target(
        session, task.spec.kapacitor, task.namespace, task.spec.kapacitorRef
    )
    async with await open_kapacitor(session, target) as reached:
        task_id = await kapacitor_id(reached.client, task)
        if task_id is None:
            raise PluginError(
                f"Kapacitor at {reached.url} has no task for kapacitortask/{name} "
                f"({not_synced(task)})"
            )
        # afterTime is exclusive and whole seconds are enough: filter exactly below.
        after = format_time(since - timedelta(seconds=1))
        runs = await fetch_since(reached.client, task_id, after)
    retry, superseded = choose(
        runs, since, after_success=not args.since, include_manual=args.include_manual
    )
    outcomes = [await _settle(session, task, r, dry_run=args.dry_run) for r in retry]
    for r in superseded:
        outcomes.append(await _settle(session, task, r, dry_run=True, superseded=True))
    outcomes.sort(key=lambda o: (parse_time(o.run.scheduled_for), o.run.id))
    _report(session, task, task_id, since, runs, outcomes, args)
    return 0


async def _settle(
    session: Session,
    task: KapacitorTask,
    run: FluxRun,
    *,
    dry_run: bool,
    superseded: bool = False,
) -> Outcome:
    """Create the run's retry TaskRun unless it exists (or, dry or superseded, only look)."""
    manifest = build_manifest(task, run)
    name = manifest["metadata"]["name"]
    if dry_run:
        path = custom_path(task.namespace, "taskruns", name)
        if await or_none(session.kube.client.json("GET", path)) is not None:
            return Outcome(run, name, "already present")
        return Outcome(run, name, SUPERSEDED if superseded else "would create")
    created = await session.kube.create_taskrun(task.namespace, manifest)
    return Outcome(run, name, "created" if created else "already present")


def _report(
    session: Session,
    task: KapacitorTask,
    task_id: str,
    since: datetime,
    runs: list[FluxRun],
    outcomes: list[Outcome],
    args: argparse.Namespace,
) -> None:
    fmt = session.options.output
    if fmt in ("json", "yaml"):
        doc = {
            "kapacitorTask": task.name,
            "namespace": task.namespace,
            "taskID": task_id,
            "since": format_time(since),
            "dryRun": bool(args.dry_run),
            "runs": [o.as_dict() for o in outcomes],
        }
        print(document(doc, fmt), end="")
    elif outcomes:
        rows = [[o.run.id, o.run.scheduled_for, o.taskrun, o.result] for o in outcomes]
        print(table(["run id", "scheduled for", "taskrun", "result"], rows), end="")
    else:
        note(f"No failed runs of kapacitortask/{task.name} since {format_time(since)}.")
    if not runs and task.status.runHistory == "Unavailable":
        warn(
            'Kapacitor keeps no finished runs for this task (task-run-influxdb = "none"), '
            "so it lists no failed run to retry"
        )
