"""Flux run history merge, poll windows, retry TaskRun manifests and pruning."""

from __future__ import annotations

from typing import Any

from kapacitor_operator.kapacitor.schemas import FluxRun
from kapacitor_operator.models.kapacitortask import RecentRun
from kapacitor_operator.models.resources import parse_kapacitortask
from kapacitor_operator.reconcile.flux_runs import (
    after_time,
    build_retry_taskrun,
    examine,
    initial_mark,
    merge_runs,
    retry_taskrun_name,
    taskruns_to_prune,
)


def run(rid: str, status: str, sf: str, **kw: Any) -> FluxRun:
    return FluxRun.model_validate({"id": rid, "status": status, "scheduledFor": sf, **kw})


def test_merge_updates_known_runs_and_keeps_newest_first_within_limit() -> None:
    known = [RecentRun(id="a", status="started", scheduledFor="2026-01-01T00:01:00Z")]
    fetched = [
        run("a", "success", "2026-01-01T00:01:00Z"),
        run("b", "failed", "2026-01-01T00:02:00Z"),
        run("c", "success", "2026-01-01T00:00:00Z"),
    ]
    merged = merge_runs(known, fetched, 2)
    assert [(r.id, r.status) for r in merged] == [("b", "failed"), ("a", "success")]


def test_after_time_starts_just_before_oldest_unfinished_run() -> None:
    known = [
        RecentRun(id="a", status="success", scheduledFor="2026-01-01T00:05:00Z"),
        RecentRun(id="b", status="started", scheduledFor="2026-01-01T00:03:00Z"),
    ]
    assert after_time(known, None) == "2026-01-01T00:02:59Z"
    assert after_time(known, "2026-01-01T00:01:00Z") == "2026-01-01T00:01:00Z"
    done = [RecentRun(id="a", status="success", scheduledFor="2026-01-01T00:05:00Z")]
    assert after_time(done, None) == "2026-01-01T00:04:59Z"
    assert after_time([], None) is None


def test_the_mark_alone_bounds_the_poll_when_no_history_is_shown() -> None:
    # runHistoryLimit 0: no recent runs in status, and still only newer runs are asked for.
    assert after_time([], "2026-01-01T00:05:00Z") == "2026-01-01T00:05:00Z"


T = "2026-01-01T00:0{}:00Z"


def test_examine_retries_each_failed_scheduled_run_once_in_order() -> None:
    fetched = [
        run("d", "failed", T.format(4)),
        run("c", "success", T.format(3)),
        run("b", "failed", T.format(2)),
        run("m", "failed", T.format(2), requestedAt="2026-01-01T00:02:10Z"),  # manual: not ours
        run("a", "failed", T.format(1)),  # at the mark: examined already
    ]
    retry, mark = examine(fetched, T.format(1))
    assert [r.id for r in retry] == ["b", "d"]
    assert mark == T.format(4)
    again, same = examine(fetched, mark)
    assert (again, same) == ([], mark)


def test_examine_stops_at_the_oldest_run_in_flight() -> None:
    fetched = [
        run("c", "failed", T.format(4)),
        run("b", "started", T.format(3)),
        run("a", "failed", T.format(2)),
    ]
    retry, mark = examine(fetched, T.format(1))
    assert ([r.id for r in retry], mark) == (["a"], T.format(2))


def test_retry_taskrun_is_owned_labelled_and_deterministic() -> None:
    task = parse_kapacitortask(
        {
            "metadata": {"namespace": "ns", "name": "hourly", "uid": "u-1"},
            "spec": {
                "type": "flux",
                "flux": "x",
                "cron": "0 * * * *",
                "retryFailedRuns": True,
                "retry": {"limit": 2, "delays": ["30s"]},
            },
        }
    )
    manifest = build_retry_taskrun(task, run("00000000000000aa", "failed", "2026-01-01T00:00:00Z"))
    assert manifest["metadata"]["name"] == retry_taskrun_name("hourly", "00000000000000aa")
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert manifest["metadata"]["annotations"]["kapacitor.operator.dev/triggered-by"] == "schedule"
    assert manifest["spec"] == {
        "taskRef": {"name": "hourly"},
        "retryOf": "00000000000000aa",
        "retry": {"limit": 2, "delays": ["30s"], "jitter": 0.0},
    }


def test_prune_keeps_the_newest_finished_and_all_running() -> None:
    def tr(name: str, ts: str, phase: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "creationTimestamp": ts}, "status": {"phase": phase}}

    runs = [
        tr("r1", "2026-01-01T00:01:00Z", "Failed"),
        tr("r2", "2026-01-01T00:02:00Z", "Running"),
        tr("r3", "2026-01-01T00:03:00Z", "Succeeded"),
        tr("r4", "2026-01-01T00:04:00Z", "Failed"),
    ]
    assert taskruns_to_prune(runs, 1) == ["r3", "r1"]
    assert taskruns_to_prune(runs, None) == []


def _with_status(**st: Any) -> Any:
    body = {
        "metadata": {"namespace": "ns", "name": "t", "uid": "u"},
        "spec": {"type": "flux", "flux": "x", "every": "1h"},
        "status": st,
    }
    return parse_kapacitortask(body)


def test_examining_starts_at_the_mark_then_latest_completed_then_creation() -> None:
    made, done, mark = "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"
    table = [
        ({"created": made, "latestCompleted": done, "runsCheckedThrough": mark}, mark),
        ({"created": made, "latestCompleted": done}, done),
        # never completed a run: one failing before the first poll is still examined
        ({"created": made}, made),
        ({}, None),
    ]
    for st, expected in table:
        assert initial_mark(_with_status(**st)) == expected, st
