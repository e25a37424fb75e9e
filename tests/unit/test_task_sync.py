"""sync_task decisions: create, no-op, update with restart, drift, errors (fake Kapacitor)."""

from __future__ import annotations

from typing import Any, cast

import pytest

from kapacitor_operator import conditions as c
from kapacitor_operator.config import Settings
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorRejected,
    KapacitorUnavailable,
)
from kapacitor_operator.models.resources import KapacitorTask, parse_kapacitortask
from kapacitor_operator.reconcile.desired import build_desired
from kapacitor_operator.reconcile.mirror.driver import Target, run_mirror
from kapacitor_operator.reconcile.outcome import Outcome
from kapacitor_operator.reconcile.task_mirror import TaskMirror
from tests.unit.fakes import FakeKapacitor

SCRIPT = "stream|from().measurement('cpu')"


def make_task(
    spec: dict[str, Any], status: dict[str, Any] | None = None, generation: int = 1
) -> KapacitorTask:
    return parse_kapacitortask(
        {
            "metadata": {"namespace": "ns", "name": "t", "uid": "u", "generation": generation},
            "spec": spec,
            "status": status or {},
        }
    )


async def sync(fake: FakeKapacitor, task: KapacitorTask) -> Outcome[Any]:
    """One pass of the shared driver (observe -> decide -> act -> status)."""
    desired = build_desired(task.spec, namespace=task.namespace, name=task.name)
    kind = TaskMirror(Settings(), cast(Any, None), cast(Any, None))
    target = Target(desired, cast(KapacitorClient, fake), fake.base_url, desired.definition_hash)
    return await run_mirror(kind, task, target, now="2026-01-01T00:00:00Z")


def tick_spec(**over: Any) -> dict[str, Any]:
    return {"type": "stream", "script": SCRIPT, "dbrps": [{"db": "db", "rp": "rp"}], **over}


def ready(outcome: Outcome[Any]) -> tuple[str, str]:
    cond = c.get_condition(outcome.status.conditions, c.READY)
    assert cond is not None
    return cond.status, cond.reason


async def test_create_then_resync_is_read_only() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    assert fake.writes == [("create_task", "ns.t")]
    assert ready(first) == ("True", c.EXECUTING)
    assert first.status.taskID == "ns.t"
    fake.calls.clear()
    second = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert fake.writes == []
    assert second.writes == 0


async def test_script_change_on_enabled_task_restarts_it() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.calls.clear()
    await sync(fake, make_task(tick_spec(script=SCRIPT + "|log()"), first.status.dump(), 2))
    assert [w[1] for w in fake.writes] == ["ns.t:script", "ns.t:status", "ns.t:status"]


async def test_disable_is_one_status_patch() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.calls.clear()
    out = await sync(fake, make_task(tick_spec(enabled=False), first.status.dump(), 2))
    assert [w[1] for w in fake.writes] == ["ns.t:status"]
    assert ready(out) == ("True", c.DISABLED)


async def test_task_deleted_behind_our_back_is_recreated_with_event() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.ticks.clear()
    out = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert ("create_task", "ns.t") in fake.writes
    assert [e.reason for e in out.events] == [c.DRIFT_REPAIRED]


async def test_script_edited_behind_our_back_is_restored() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.ticks["ns.t"]["script"] = "stream|from().measurement('mem')"
    out = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert fake.ticks["ns.t"]["script"] == SCRIPT
    assert c.DRIFT_REPAIRED in [e.reason for e in out.events]


@pytest.mark.parametrize(
    ("error", "reason", "retry", "stalled"),
    [
        (KapacitorRejected("invalid TICKscript: bad", status=400), c.REJECTED, "permanent", True),
        (KapacitorUnavailable("down"), c.UNAVAILABLE, "temporary", False),
        (
            KapacitorAuthError("authorization failed", status=401),
            c.UNAUTHORIZED,
            "temporary",
            False,
        ),
    ],
)
async def test_errors_become_conditions(
    error: Exception, reason: str, retry: str, stalled: bool
) -> None:
    fake = FakeKapacitor()
    fake.fail_with = error  # type: ignore[assignment]
    out = await sync(fake, make_task(tick_spec()))
    assert out.retry == retry
    synced = c.get_condition(out.status.conditions, c.SYNCED)
    assert synced is not None
    assert (synced.status, synced.reason) == ("False", reason)
    assert (c.get_condition(out.status.conditions, c.STALLED) is not None) == stalled
    # kstatus: a transient failure on a new spec is "in progress" (Reconciling).
    assert (c.get_condition(out.status.conditions, c.RECONCILING) is not None) == (not stalled)
    assert out.events[0].reason == reason


async def test_unavailable_keeps_ready_true_for_same_generation() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.fail_with = KapacitorUnavailable("connection refused")
    out = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert ready(out) == ("True", c.EXECUTING)
    synced = c.get_condition(out.status.conditions, c.SYNCED)
    assert synced is not None
    assert synced.status == "False"
    assert c.get_condition(out.status.conditions, c.RECONCILING) is None


FLUX = {"type": "flux", "flux": 'from(bucket: "b") |> range(start: -1m)', "every": "1m"}


async def test_flux_create_records_id_and_resync_reads_only_despite_reformat() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(FLUX))
    assert first.status.taskID is not None
    assert first.status.taskName == "ns.t"
    # Change something so Kapacitor rewrites the script, then resync twice.
    second = await sync(fake, make_task({**FLUX, "every": "5m"}, first.status.dump(), 2))
    assert fake.fluxes[second.status.taskID]["flux"].startswith("// reformatted")
    fake.calls.clear()
    third = await sync(fake, make_task({**FLUX, "every": "5m"}, second.status.dump(), 2))
    assert fake.writes == []
    assert third.status.serverHash == second.status.serverHash


async def test_flux_found_by_name_after_crash_is_not_duplicated() -> None:
    fake = FakeKapacitor()
    await sync(fake, make_task(FLUX))  # created, but pretend status was never written
    out = await sync(fake, make_task(FLUX))
    assert len(fake.fluxes) == 1
    assert out.status.taskID in fake.fluxes


async def test_flux_changed_behind_our_back_is_restored() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(FLUX))
    fake.fluxes[first.status.taskID]["flux"] = "hacked"
    out = await sync(fake, make_task(FLUX, first.status.dump()))
    assert "from(bucket" in fake.fluxes[out.status.taskID]["flux"]
    assert c.DRIFT_REPAIRED in [e.reason for e in out.events]


async def test_flux_syntax_error_on_patch_is_permanent() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(FLUX))
    fake.fail_with = KapacitorUnavailable(
        "failed to update task: error @1:5-1:6: got unexpected token",
        status=500,
        code="internal error",
    )
    # Reads must still work for the failure to come from the PATCH.
    original = fake._call

    def only_patch_fails(name: str, key: str) -> None:
        if name == "patch_flux_task":
            original(name, key)
        else:
            fake.calls.append((name, key))

    fake._call = only_patch_fails  # type: ignore[method-assign]
    out = await sync(fake, make_task({**FLUX, "flux": "from(("}, first.status.dump(), 2))
    assert out.retry == "permanent"
    assert ready(out) == ("False", c.REJECTED)


async def test_task_disabled_behind_our_back_is_reenabled_with_event() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.ticks["ns.t"]["status"] = "disabled"
    out = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert fake.ticks["ns.t"]["status"] == "enabled"
    assert [e.reason for e in out.events] == [c.DRIFT_REPAIRED]


async def test_spec_disable_is_not_reported_as_drift() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    out = await sync(fake, make_task(tick_spec(enabled=False), first.status.dump(), 2))
    assert out.events == []


def test_the_task_option_goes_after_the_imports() -> None:
    from kapacitor_operator.models.kapacitortask import KapacitorTaskSpec
    from kapacitor_operator.reconcile.desired import build_flux_script

    spec = KapacitorTaskSpec.model_validate(
        {
            "type": "flux",
            "every": "1h",
            "flux": '// rollup\nimport "array"\nimport "strings"\n\narray.from(rows: [{v: 1}])\n',
        }
    )
    assert build_flux_script(spec, "t") == (
        '// rollup\nimport "array"\nimport "strings"\n\noption task = {name: "t", every: 1h}\n\n'
        "array.from(rows: [{v: 1}])\n"
    )
    plain = KapacitorTaskSpec.model_validate({"type": "flux", "every": "1h", "flux": "x()"})
    assert build_flux_script(plain, "t") == 'option task = {name: "t", every: 1h}\n\nx()\n'


# --- the watchdog's call site (issue 16) ----------------------------------------------------


async def test_a_stopped_task_is_restarted_only_with_self_heal() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(tick_spec()))
    fake.ticks["ns.t"]["executing"] = False  # stopped behind our back
    fake.ticks["ns.t"]["error"] = "edge failed"
    fake.calls.clear()
    plain = await sync(fake, make_task(tick_spec(), first.status.dump()))
    assert fake.writes == []
    assert ready(plain) == ("False", c.NOT_EXECUTING)
    cond = c.get_condition(plain.status.conditions, c.READY)
    assert cond is not None
    assert cond.message == "edge failed"
    heal = {"selfHeal": {"enabled": True, "maxPerHour": 1}}
    healed = await sync(fake, make_task(tick_spec(**heal), first.status.dump()))
    assert [w[1] for w in fake.writes] == ["ns.t:status", "ns.t:status"]
    assert ready(healed) == ("True", c.EXECUTING)
    assert healed.status.selfHeal is not None
    assert healed.status.selfHeal.restarts == 1
    assert [e.reason for e in healed.events] == [c.SELF_HEALED]
    # Stopped again within the hour: the budget of one is spent.
    fake.ticks["ns.t"]["executing"] = False
    fake.calls.clear()
    limited = await sync(fake, make_task(tick_spec(**heal), healed.status.dump()))
    assert fake.writes == []
    assert ready(limited) == ("False", c.NOT_EXECUTING)
    assert c.SELF_HEAL_LIMIT in [e.reason for e in limited.events]


async def test_a_flux_task_without_recent_success_is_degraded() -> None:
    fake = FakeKapacitor()
    first = await sync(fake, make_task(FLUX))
    task_id = first.status.taskID
    assert task_id is not None
    fake.fluxes[task_id].update({"createdAt": "2025-12-31T00:00:00Z", "lastRunStatus": "failed"})
    out = await sync(fake, make_task(FLUX, first.status.dump()))
    cond = c.get_condition(out.status.conditions, c.DEGRADED)
    assert cond is not None
    assert (cond.status, cond.reason) == ("True", c.RUNS_OVERDUE)
    assert c.RUNS_OVERDUE in [e.reason for e in out.events]
    assert ready(out) == ("True", c.ACTIVE)  # defined as declared: Ready stays True
    fake.fluxes[task_id].update(
        {"lastRunStatus": "success", "latestCompleted": "2025-12-31T23:59:30Z"}
    )
    again = await sync(fake, make_task(FLUX, out.status.dump()))
    cond = c.get_condition(again.status.conditions, c.DEGRADED)
    assert cond is not None
    assert cond.status == "False"
