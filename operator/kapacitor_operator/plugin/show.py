"""`kubectl kapacitor show kapacitortask/NAME`: Kapacitor's own view of the task.

`kubectl get` shows what the operator last recorded; this asks Kapacitor now. TICKscript:
status, executing, error, dbrps, the DOT graph and node statistics. Flux: status,
schedule, last run and the recent runs Kapacitor lists.
"""

from __future__ import annotations

import argparse
from typing import Any

from kapacitor_operator import API_VERSION
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.schemas import FluxRun, FluxTask, TickTask
from kapacitor_operator.models.resources import KAPACITORTASK, KapacitorTask
from kapacitor_operator.plugin.connect import Reached, open_kapacitor, resolve_target
from kapacitor_operator.plugin.errors import PluginError, UsageError
from kapacitor_operator.plugin.names import add_target_arguments, parse_target, target_words
from kapacitor_operator.plugin.output import document, fields, indent, table
from kapacitor_operator.plugin.session import Session
from kapacitor_operator.plugin.tasks import kapacitor_id, load_task, not_synced

DEFAULT_RUNS = 10


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "show",
        parents=parents,
        help="Kapacitor's view of a KapacitorTask (DOT graph, stats, recent runs)",
        description="Ask Kapacitor about a KapacitorTask's task: TICKscript status, "
        "executing, error, dbrps, DOT graph and stats; Flux status, schedule, last run and "
        "recent runs. -o json|yaml prints the combined document, -o wide adds the script.",
    )
    add_target_arguments(parser, KAPACITORTASK)
    parser.add_argument(
        "--runs", type=int, default=DEFAULT_RUNS, help="Flux: how many recent runs (1-500)"
    )
    parser.set_defaults(command=run, check=check)


def check(args: argparse.Namespace) -> None:
    """Usage checks before anything is read (exit code 2).

    Raises:
        UsageError: a wrong target or flag.
    """
    args.name = parse_target(target_words(args), KAPACITORTASK)
    if not 1 <= args.runs <= 500:
        raise UsageError("--runs must be between 1 and 500")


async def run(session: Session, args: argparse.Namespace) -> int:
    name = args.name
    task = await load_task(session, name)
    target = await resolve_target(
        session, task.spec.kapacitor, task.namespace, task.spec.kapacitorRef
    )
    async with await open_kapacitor(session, target) as reached:
        doc = await _collect(reached, task, args.runs)
    fmt = session.options.output
    if fmt in ("json", "yaml"):
        print(document(doc, fmt), end="")
    else:
        print(render(doc, wide=fmt == "wide"), end="")
    return 0


async def _collect(reached: Reached, task: KapacitorTask, runs: int) -> dict[str, Any]:
    client: KapacitorClient = reached.client
    task_id = await kapacitor_id(client, task)
    head: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "KapacitorTask",
        "metadata": {"name": task.name, "namespace": task.namespace},
        "type": task.spec.type,
        "kapacitorURL": reached.url,
        "via": reached.via,
        "taskID": task_id,
    }
    missing = PluginError(
        f"Kapacitor at {reached.url} has no task for kapacitortask/{task.name} ({not_synced(task)})"
    )
    if task_id is None:
        raise missing
    if task.spec.type == "flux":
        flux = await client.get_flux_task(task_id)
        if flux is None:
            raise missing
        listed = await client.list_runs(task_id, limit=runs)
        return {**head, "task": _dump(flux), "runs": [_dump(r) for r in listed]}
    tick = await client.get_task(task_id, script_format="raw")
    if tick is None:
        raise missing
    return {**head, "task": _dump(tick)}


def _dump(model: TickTask | FluxTask | FluxRun) -> dict[str, Any]:
    """The wire object with Kapacitor's own field names."""
    return model.model_dump(by_alias=True, exclude_none=True)


def render(doc: dict[str, Any], *, wide: bool = False) -> str:
    """The human view of a combined document, `kubectl describe` style."""
    task = doc["task"]
    meta = doc["metadata"]
    via = "" if doc["via"] == "direct" else f" ({doc['via']})"
    pairs: list[tuple[str, Any]] = [
        ("Name", meta["name"]),
        ("Namespace", meta["namespace"]),
        ("Kapacitor", doc["kapacitorURL"] + via),
        ("Task ID", doc["taskID"]),
    ]
    if doc["type"] == "flux":
        runs = doc.get("runs") or []
        pairs += _flux_pairs(task, wide)
        if not runs:
            pairs.append(("Recent Runs", "<none> (none yet, or Kapacitor keeps no finished runs)"))
        return fields(pairs) + (_runs(runs) if runs else "")
    pairs += _tick_pairs(task, wide)
    stats = task.get("stats") or {}
    if not stats.get("task-stats") and not stats.get("node-stats"):
        pairs.append(("Stats", "<none> (the task is not executing)"))
    pairs.append(("DOT", (task.get("dot") or "").rstrip("\n")))
    return fields(pairs) + _stats(stats)


def _tick_pairs(task: dict[str, Any], wide: bool) -> list[tuple[str, Any]]:
    dbrps = ", ".join(f'"{d["db"]}"."{d["rp"]}"' for d in task.get("dbrps") or [])
    pairs: list[tuple[str, Any]] = [
        ("Type", task.get("type")),
        ("Template", task.get("template-id")),
        ("Status", task.get("status")),
        ("Executing", str(bool(task.get("executing"))).lower()),
        ("Error", task.get("error")),
        ("DBRPs", dbrps),
        ("Created", task.get("created")),
        ("Modified", task.get("modified")),
        ("Last Enabled", task.get("last-enabled")),
    ]
    if wide:
        pairs.append(("Script", (task.get("script") or "").rstrip("\n")))
    return pairs


def _stats(stats: dict[str, Any]) -> str:
    """Task statistics, then one row per node with its counters."""
    task_stats = stats.get("task-stats") or {}
    node_stats: dict[str, dict[str, Any]] = stats.get("node-stats") or {}
    if not task_stats and not node_stats:
        return ""
    out = ["Stats:\n"]
    if task_stats:
        out.append(indent(fields(sorted(task_stats.items()))))
    if node_stats:
        columns = sorted({k for values in node_stats.values() for k in values})
        rows = [[node, *(v.get(c) for c in columns)] for node, v in sorted(node_stats.items())]
        out.append(indent(table(["node", *columns], rows)))
    return "".join(out)


def _flux_pairs(task: dict[str, Any], wide: bool) -> list[tuple[str, Any]]:
    schedule = f"every {task['every']}" if task.get("every") else f"cron {task.get('cron')!r}"
    if task.get("offset"):
        schedule += f", offset {task['offset']}"
    pairs: list[tuple[str, Any]] = [
        ("Task Name", task.get("name")),
        ("Status", task.get("status")),
        ("Schedule", schedule),
        ("Latest Completed", task.get("latestCompleted")),
        ("Last Run Status", task.get("lastRunStatus")),
        ("Last Run Error", task.get("lastRunError")),
        ("Created", task.get("createdAt")),
        ("Updated", task.get("updatedAt")),
    ]
    if wide:
        pairs.append(("Flux", (task.get("flux") or "").rstrip("\n")))
    return pairs


def _runs(runs: list[dict[str, Any]]) -> str:
    keys = ("id", "status", "scheduledFor", "startedAt", "finishedAt")
    rows = [[r.get(k) for k in keys] for r in runs]
    headers = ["id", "status", "scheduled for", "started", "finished"]
    return "Recent Runs:\n" + indent(table(headers, rows))
