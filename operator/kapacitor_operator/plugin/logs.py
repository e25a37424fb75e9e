"""`kubectl kapacitor logs taskrun/NAME`: each attempt's log, from where it still is.

A Kapacitor run's logs live in Kapacitor only as long as it keeps the run (with
`task-run-influxdb = "none"`, until the run ends), so the plugin asks Kapacitor first and
otherwise prints what the operator captured in status (`logTail`, `message`). A Job
attempt's log is its Pod's, read through the API server (`pods/log`), else status too.
Every attempt's header says which source it used.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass, field
from typing import Any

from kapacitor_operator.k8s.errors import KubeError
from kapacitor_operator.kapacitor.errors import KapacitorError
from kapacitor_operator.models.resources import TASKRUN
from kapacitor_operator.models.taskrun import Attempt
from kapacitor_operator.plugin import log_sources
from kapacitor_operator.plugin.errors import PluginError, UsageError
from kapacitor_operator.plugin.names import add_target_arguments, parse_target, target_words
from kapacitor_operator.plugin.output import document, warn
from kapacitor_operator.plugin.session import Session

FOLLOW_INTERVAL = 1.0
ENDED = frozenset({"Succeeded", "Failed", "Cancelled"})


def add_parser(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "logs",
        parents=parents,
        help="logs of a TaskRun's attempts (from Kapacitor or the Pod, else status)",
        description="Print the logs of each attempt of a TaskRun: a Kapacitor run's logs "
        "while Kapacitor keeps them, a Job attempt's Pod log, else the logTail and message "
        "the operator recorded in status. Each attempt's header names the source.",
    )
    add_target_arguments(parser, TASKRUN)
    parser.add_argument("--attempt", type=int, help="only this attempt (1-based)")
    parser.add_argument(
        "--source",
        choices=("auto", "status"),
        default="auto",
        help="auto (Kapacitor or the Pod, else status) or status only (needs no access to "
        "Kapacitor or its credentials)",
    )
    parser.add_argument("-c", "--container", help="Job attempts: the container (default: first)")
    parser.add_argument(
        "--tail", type=int, default=-1, help="Job attempts: lines from the end of the Pod log"
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing until the TaskRun ends"
    )
    parser.set_defaults(command=run, check=check)


@dataclass
class AttemptLog:
    """One attempt's lines and where they came from."""

    attempt: Attempt
    source: str  # kapacitor | pod | status
    detail: str
    lines: list[str] = field(default_factory=list)

    def header(self) -> str:
        a = self.attempt
        what: list[str] = [a.method]
        if a.externalID:
            what.append(("job " if a.method == "job" else "run ") + a.externalID)
        what.append(a.endReason or "running")
        return f"--- attempt {a.number} ({', '.join(what)}): {self.detail} ---"

    def as_dict(self) -> dict[str, Any]:
        a = self.attempt
        return {
            "attempt": a.number,
            "method": a.method,
            "externalID": a.externalID,
            "endReason": a.endReason,
            "source": self.source,
            "sourceDetail": self.detail,
            "lines": self.lines,
        }


def check(args: argparse.Namespace) -> None:
    """Usage checks before anything is read (exit code 2).

    Raises:
        UsageError: a wrong target or flag.
    """
    args.name = parse_target(target_words(args), TASKRUN)
    if args.follow and getattr(args, "output", None) in ("json", "yaml"):
        raise UsageError("--follow prints text: it cannot be combined with -o json|yaml")
    if args.attempt is not None and args.attempt < 1:
        raise UsageError("--attempt counts from 1")


async def run(session: Session, args: argparse.Namespace) -> int:
    name = args.name
    fmt = session.options.output
    sources = log_sources.Sources(session, container=args.container, tail=args.tail)
    try:
        if args.follow:
            return await _follow(session, sources, name, args)
        body = await session.get_object(TASKRUN, name)
        attempts = _selected(body, args.attempt, name)
        logs = [await _fetch(sources, body, a, args.source) for a in attempts]
    finally:
        await sources.aclose()
    if fmt in ("json", "yaml"):
        doc = {
            "taskRun": name,
            "namespace": session.namespace,
            "attempts": [x.as_dict() for x in logs],
        }
        print(document(doc, fmt), end="")
        return 0
    for entry in logs:
        print(entry.header())
        for line in entry.lines:
            print(line)
    return 0


def _attempts(body: dict[str, Any]) -> list[Attempt]:
    raw = (body.get("status") or {}).get("attempts") or []
    return [Attempt.model_validate(a) for a in raw]


def _selected(body: dict[str, Any], number: int | None, name: str) -> list[Attempt]:
    attempts = _attempts(body)
    if number is None:
        if not attempts:
            raise PluginError(f"taskrun/{name} has no attempt yet")
        return attempts
    for attempt in attempts:
        if attempt.number == number:
            return [attempt]
    known = ", ".join(str(a.number) for a in attempts) or "none"
    raise PluginError(f"taskrun/{name} has no attempt {number} in status (attempts: {known})")


async def _fetch(
    sources: log_sources.Sources, body: dict[str, Any], attempt: Attempt, mode: str
) -> AttemptLog:
    """The attempt's log from the best source, falling back to status with the reason."""
    if mode == "status":
        return _from_status(attempt, "status (--source=status)")
    if attempt.method == "replay":
        return _from_status(attempt, "status (a replay has no run log in Kapacitor)")
    try:
        if attempt.method == "job":
            found = await sources.pod_log(attempt)
            if found is not None:
                return AttemptLog(attempt, "pod", f"log of pod {found[0]}", found[1])
            return _from_status(attempt, "status (its Pod and its log are gone)")
        events = await sources.run_log(body, attempt)
    except log_sources.Unavailable as exc:
        return _from_status(attempt, f"status ({exc})")
    except (KubeError, KapacitorError) as exc:
        return _from_status(attempt, f"status ({_short(exc)})")
    if events is None:
        return _from_status(attempt, "status (Kapacitor no longer has the run)")
    return AttemptLog(attempt, "kapacitor", "logs from Kapacitor", events)


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"could not read the live log: {text}"[:300]


def _from_status(attempt: Attempt, detail: str) -> AttemptLog:
    lines = list(attempt.logTail or [])
    if attempt.message and not any(attempt.message in line for line in lines):
        lines.append(f"message: {attempt.message}")
    return AttemptLog(attempt, "status", detail, lines)


async def _follow(
    session: Session, sources: log_sources.Sources, name: str, args: argparse.Namespace
) -> int:
    """Print new lines of every (or the chosen) attempt until the TaskRun has ended."""
    printed: dict[int, int] = {}
    while True:
        body = await session.get_object(TASKRUN, name)
        ended = (body.get("status") or {}).get("phase") in ENDED
        attempts = _attempts(body)
        if args.attempt is not None:
            attempts = [a for a in attempts if a.number == args.attempt]
        for attempt in attempts:
            entry = await _fetch(sources, body, attempt, args.source)
            done = printed.get(attempt.number)
            if done is None and (entry.lines or attempt.endReason):
                print(entry.header(), flush=True)
                done = 0
            for line in entry.lines[done or 0 :]:
                print(line, flush=True)
            if done is not None:
                printed[attempt.number] = max(done, len(entry.lines))
        if ended:
            if args.attempt is not None and args.attempt not in printed:
                warn(f"taskrun/{name} ended without attempt {args.attempt}")
            return 0
        await asyncio.sleep(FOLLOW_INTERVAL)
