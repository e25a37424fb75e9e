"""KapacitorClient against the emulator: every client method and documented error path.

Tests that need only the Kapacitor API take ``kapacitor_server`` (a URL) and unique IDs,
so they could run against a real ``kapacitord``. Tests that steer the server (run
outcomes, faults, outages) take ``emulator``, whose state is reset before each test.
Clients come from a ``ClientPool``, as in the operator.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_operator.kapacitor.client import KapacitorClient
from kapacitor_operator.kapacitor.errors import (
    KapacitorAuthError,
    KapacitorNotFound,
    KapacitorRejected,
    KapacitorRunFailed,
    KapacitorUnavailable,
)
from kapacitor_operator.kapacitor.pool import ClientPool, Connection
from kapacitor_operator.kapacitor.schemas import FluxRun

if TYPE_CHECKING:
    from tests.integration.conftest import AuthServer

T = TypeVar("T")

STREAM = "stream|from().measurement('cpu')"
FORMATTED = "stream\n    |from()\n        .measurement('cpu')\n"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
FLUX_ID = re.compile(r"^[0-9a-f]{16}$")
MISSING_FLUX_ID = "00000000000000ab"
OUT_OF_BOUNDS = "failed to decode request: run limit is out of bounds, must be between 1 and 500"


# --- fixtures and helpers -----------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_emulator(request: pytest.FixtureRequest) -> None:
    if "emulator" in request.fixturenames:
        handle: EmulatorHandle = request.getfixturevalue("emulator")
        handle.reset()


@pytest.fixture
async def pool() -> AsyncIterator[ClientPool]:
    clients = ClientPool(read_timeout=10.0)
    yield clients
    await clients.aclose()


@pytest.fixture
def client(pool: ClientPool, kapacitor_server: str) -> KapacitorClient:
    return pool.get(Connection(kapacitor_server))


@pytest.fixture
def emu(pool: ClientPool, emulator: EmulatorHandle) -> KapacitorClient:
    """A client for the ``emulator`` handle's server."""
    return pool.get(Connection(emulator.base_url))


def tick(task_id: str, script: str = STREAM, **extra: Any) -> dict[str, Any]:
    return {"id": task_id, "script": script, "dbrps": DBRPS, **extra}


def flux_script(name: str, schedule: str = "every: 1h") -> str:
    return (
        f'option task = {{name: "{name}",   {schedule}}}\n'
        'from(bucket: "telegraf")   |> range(start: -1h) |> yield()'
    )


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def hs256_jwt(secret: str, claims: dict[str, Any]) -> str:
    """A JWT signed with HMAC-SHA256, built with the standard library only."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within}s (last value: {result!r})")
        await asyncio.sleep(0.02)


async def in_flight(client: KapacitorClient, task_id: str, status: str = "started") -> FluxRun:
    async def check() -> FluxRun | None:
        runs = [r for r in await client.list_runs(task_id) if r.status == status]
        return runs[0] if runs else None

    run: FluxRun = await eventually(check)
    return run


# --- ping -----------------------------------------------------------------------------------


async def test_ping_returns_the_version(emulator: EmulatorHandle, emu: KapacitorClient) -> None:
    version = await emu.ping()
    assert version == emulator.info()["version"]
    assert version == "1.8.3-emulator"


# --- TICKscript tasks -----------------------------------------------------------------------


async def test_create_returns_the_formatted_task(client: KapacitorClient, uid: str) -> None:
    created = await client.create_task(tick(f"cpu_{uid}"))
    assert created.id == f"cpu_{uid}"
    assert created.script == FORMATTED
    assert (created.type, created.status, created.executing) == ("stream", "disabled", False)
    assert [(d.db, d.rp) for d in created.dbrps] == [("telegraf", "autogen")]
    assert created.template_id == ""


async def test_get_raw_and_formatted(client: KapacitorClient, uid: str) -> None:
    await client.create_task(tick(f"cpu_{uid}"))
    raw = await client.get_task(f"cpu_{uid}")
    formatted = await client.get_task(f"cpu_{uid}", script_format="formatted")
    assert raw is not None
    assert formatted is not None
    assert raw.script == STREAM
    assert formatted.script == FORMATTED


async def test_get_missing_task_is_none(client: KapacitorClient, uid: str) -> None:
    assert await client.get_task(f"missing_{uid}") is None


async def test_patch_enable_and_disable(client: KapacitorClient, uid: str) -> None:
    task_id = f"cpu_{uid}"
    await client.create_task(tick(task_id))
    enabled = await client.patch_task(task_id, {"status": "enabled"})
    assert (enabled.status, enabled.executing, enabled.enabled) == ("enabled", True, True)
    assert not enabled.last_enabled.startswith("0001-")
    disabled = await client.patch_task(task_id, {"status": "disabled"})
    assert (disabled.status, disabled.executing) == ("disabled", False)
    assert disabled.last_enabled == enabled.last_enabled


async def test_patch_script_dbrps_and_vars(client: KapacitorClient, uid: str) -> None:
    task_id = f"cpu_{uid}"
    await client.create_task(tick(task_id))
    new_script = "var field = 'usage'\nstream|from().measurement('mem')"
    patched = await client.patch_task(
        task_id,
        {
            "script": new_script,
            "dbrps": [{"db": "other", "rp": "weekly"}],
            "vars": {"field": {"type": "string", "value": "idle"}},
        },
    )
    assert [(d.db, d.rp) for d in patched.dbrps] == [("other", "weekly")]
    assert patched.vars["field"]["value"] == "idle"
    stored = await client.get_task(task_id)
    assert stored is not None
    assert stored.script == new_script
    assert stored.modified != stored.created


async def test_patch_missing_task_is_not_found(client: KapacitorClient, uid: str) -> None:
    with pytest.raises(KapacitorNotFound) as caught:
        await client.patch_task(f"missing_{uid}", {"status": "enabled"})
    assert caught.value.status == 404
    assert caught.value.message == "task does not exist, cannot update"


async def test_delete_is_idempotent(client: KapacitorClient, uid: str) -> None:
    await client.create_task(tick(f"cpu_{uid}"))
    await client.delete_task(f"cpu_{uid}")
    await client.delete_task(f"cpu_{uid}")
    assert await client.get_task(f"cpu_{uid}") is None


async def test_list_with_pattern_offset_and_limit(client: KapacitorClient, uid: str) -> None:
    for suffix in ("c", "a", "b"):
        await client.create_task(tick(f"lst_{uid}_{suffix}"))
    await client.create_task(tick(f"other_{uid}"))
    pattern = f"lst_{uid}_*"
    listed = await client.list_tasks(pattern=pattern)
    assert [t.id for t in listed] == [f"lst_{uid}_a", f"lst_{uid}_b", f"lst_{uid}_c"]
    assert {t.script for t in listed} == {STREAM}  # raw, not formatted
    limited = await client.list_tasks(pattern=pattern, limit=2)
    assert [t.id for t in limited] == [f"lst_{uid}_a", f"lst_{uid}_b"]
    paged = await client.list_tasks(pattern=pattern, offset=2, limit=2)
    assert [t.id for t in paged] == [f"lst_{uid}_c"]


async def test_list_with_fields(client: KapacitorClient, uid: str) -> None:
    await client.create_task(tick(f"fld_{uid}", status="enabled"))
    (task,) = await client.list_tasks(pattern=f"fld_{uid}", fields=["status"])
    assert (task.id, task.status, task.script) == (f"fld_{uid}", "enabled", "")


async def test_task_from_template(
    client: KapacitorClient,
    kapacitor_server: str,
    client_for: Callable[[str], httpx.Client],
    uid: str,
) -> None:
    template = (
        "// the field to average\nvar field string\nstream|from().measurement('cpu')|mean(field)"
    )
    resp = client_for(kapacitor_server).post(
        "/kapacitor/v1/templates", json={"id": f"tpl_{uid}", "script": template}
    )
    assert resp.status_code == 200, resp.text
    created = await client.create_task(
        {
            "id": f"from_tpl_{uid}",
            "template-id": f"tpl_{uid}",
            "vars": {"field": {"type": "string", "value": "usage"}},
            "dbrps": DBRPS,
        }
    )
    assert created.template_id == f"tpl_{uid}"
    assert created.type == "stream"
    assert created.vars["field"]["value"] == "usage"
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task(
            {"id": f"no_var_{uid}", "template-id": f"tpl_{uid}", "dbrps": DBRPS}
        )
    assert caught.value.message == 'invalid TICKscript: missing value for var "field".'


async def test_unknown_template_is_rejected(client: KapacitorClient, uid: str) -> None:
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task({"id": f"t_{uid}", "template-id": f"nope_{uid}", "dbrps": DBRPS})
    assert caught.value.message == f"unknown template nope_{uid}: err: no template exists"


async def test_bad_tickscript_is_rejected(client: KapacitorClient, uid: str) -> None:
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task(tick(f"bad_{uid}", script="stream|from("))
    assert type(caught.value) is KapacitorRejected
    assert caught.value.status == 400
    assert caught.value.message.startswith("invalid TICKscript: ")
    assert await client.get_task(f"bad_{uid}") is None


async def test_duplicate_create_is_rejected(client: KapacitorClient, uid: str) -> None:
    await client.create_task(tick(f"dup_{uid}"))
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task(tick(f"dup_{uid}"))
    assert caught.value.message == f"task dup_{uid} already exists"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"script": ""}, "must provide TICKscript"),
        ({"script": "var x = 1"}, "invalid task type: invalid"),
        ({"dbrps": []}, "must specify dbrp"),
    ],
    ids=["empty script", "no source", "no dbrp"],
)
async def test_other_create_errors(
    client: KapacitorClient, uid: str, body: dict[str, Any], message: str
) -> None:
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task({**tick(f"err_{uid}"), **body})
    assert caught.value.message == message


async def test_invalid_task_id_is_rejected(client: KapacitorClient, uid: str) -> None:
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_task(tick(f"bad id {uid}"))
    assert caught.value.message.startswith("task ID must contain only letters")


async def test_enabled_task_that_fails_to_start_is_kept(client: KapacitorClient, uid: str) -> None:
    script = 'batch|query(\'SELECT mean(usage) FROM "unknowndb"."unknownrp".cpu\').every(1m)'
    with pytest.raises(KapacitorUnavailable) as caught:
        await client.create_task(tick(f"batch_{uid}", script=script, status="enabled"))
    expected = 'batch query is not allowed to request data from "unknowndb"."unknownrp"'
    assert (caught.value.status, caught.value.message) == (500, expected)
    stored = await client.get_task(f"batch_{uid}")
    assert stored is not None
    assert (stored.status, stored.executing, stored.error) == ("enabled", False, expected)


# --- Flux tasks -----------------------------------------------------------------------------


async def test_create_and_get_flux_task(client: KapacitorClient, uid: str) -> None:
    created = await client.create_flux_task(flux_script(f"n_{uid}"), description="hourly cpu")
    assert FLUX_ID.match(created.id)
    assert (created.name, created.every, created.cron) == (f"n_{uid}", "1h", "")
    assert (created.status, created.active, created.description) == ("active", True, "hourly cpu")
    assert created.owner_id == "ADMIN_USER"
    assert created.flux == flux_script(f"n_{uid}")
    fetched = await client.get_flux_task(created.id)
    assert fetched == created


async def test_create_inactive_cron_task(client: KapacitorClient, uid: str) -> None:
    created = await client.create_flux_task(
        flux_script(f"n_{uid}", 'cron: "0 * * * *"'), active=False
    )
    assert (created.status, created.cron, created.every) == ("inactive", "0 * * * *", "")


async def test_get_missing_flux_task_is_none(client: KapacitorClient) -> None:
    assert await client.get_flux_task(MISSING_FLUX_ID) is None


async def test_flux_options_errors_are_rejected(client: KapacitorClient) -> None:
    with pytest.raises(KapacitorRejected) as caught:
        await client.create_flux_task('from(bucket: "b") |> range(start: -1h)')
    assert (caught.value.status, caught.value.code) == (400, "invalid")
    assert caught.value.message == "invalid options: no task options defined"


async def test_list_flux_tasks_by_name_and_status(client: KapacitorClient, uid: str) -> None:
    active = await client.create_flux_task(flux_script(f"n_{uid}"))
    inactive = await client.create_flux_task(flux_script(f"n_{uid}"), active=False)
    await client.create_flux_task(flux_script(f"other_{uid}"))
    page = await client.list_flux_tasks(name=f"n_{uid}")
    assert [t.id for t in page.tasks] == sorted([active.id, inactive.id])
    assert page.next_after is None
    only_inactive = await client.list_flux_tasks(name=f"n_{uid}", status="inactive")
    assert [t.id for t in only_inactive.tasks] == [inactive.id]


async def test_list_flux_tasks_pages(client: KapacitorClient, uid: str) -> None:
    ids = sorted([(await client.create_flux_task(flux_script(f"p_{uid}"))).id for _ in range(3)])
    first = await client.list_flux_tasks(name=f"p_{uid}", limit=2)
    assert [t.id for t in first.tasks] == ids[:2]
    assert first.next_after == ids[1]
    second = await client.list_flux_tasks(name=f"p_{uid}", after=first.next_after, limit=2)
    assert [t.id for t in second.tasks] == ids[2:]
    assert second.next_after is None


async def test_find_flux_tasks_by_exact_name(client: KapacitorClient, uid: str) -> None:
    first = await client.create_flux_task(flux_script(f"f_{uid}"))
    second = await client.create_flux_task(flux_script(f"f_{uid}"), active=False)
    await client.create_flux_task(flux_script(f"f_{uid}_x"))
    found = await client.find_flux_tasks(f"f_{uid}")
    assert [t.id for t in found] == sorted([first.id, second.id])
    assert await client.find_flux_tasks(f"none_{uid}") == []


async def test_find_flux_tasks_across_pages(
    pool: ClientPool, fresh_kapacitor_server: str, uid: str
) -> None:
    client = pool.get(Connection(fresh_kapacitor_server))
    slots = asyncio.Semaphore(20)

    async def create() -> str:
        async with slots:
            return (await client.create_flux_task(flux_script(f"many_{uid}"))).id

    created = await asyncio.gather(*(create() for _ in range(502)))  # find asks 500 a page
    await client.create_flux_task(flux_script(f"many_{uid}_not"))
    found = await client.find_flux_tasks(f"many_{uid}")
    assert [t.id for t in found] == sorted(created)


async def test_patch_flux_task_writes_options(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    patched = await client.patch_flux_task(task.id, {"every": "2h", "offset": "5m"})
    assert (patched.every, patched.offset) == ("2h", "5m")
    # The real kapacitord and the emulator agree on this layout (tests/integration/contract).
    assert patched.flux == (
        f'option task = {{name: "n_{uid}", every: 2h, offset: 5m}}\n\n'
        'from(bucket: "telegraf") |> range(start: -1h) |> yield()\n'
    )
    assert patched.updated_at
    fetched = await client.get_flux_task(task.id)
    assert fetched is not None
    assert fetched.flux == patched.flux


async def test_patch_flux_task_status_and_description(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    patched = await client.patch_flux_task(task.id, {"status": "inactive", "description": "off"})
    assert (patched.status, patched.active, patched.description) == ("inactive", False, "off")
    assert (patched.name, patched.every) == (f"n_{uid}", "1h")
    fetched = await client.get_flux_task(task.id)
    assert fetched is not None
    assert (fetched.status, fetched.description) == ("inactive", "off")


async def test_patch_flux_task_errors(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    with pytest.raises(KapacitorRejected) as caught:
        await client.patch_flux_task(task.id, {"every": "1h", "cron": "* * * * *"})
    assert caught.value.message == "failed to decode request: cannot specify both every and cron"
    with pytest.raises(KapacitorUnavailable) as unavailable:  # Kapacitor: syntax error is a 500
        await client.patch_flux_task(task.id, {"flux": 'option task = {name: "x", every: 1h'})
    assert unavailable.value.status == 500
    assert unavailable.value.message.startswith("failed to update task: ")
    with pytest.raises(KapacitorNotFound) as missing:
        await client.patch_flux_task(MISSING_FLUX_ID, {"every": "2h"})
    assert missing.value.message == "failed to update task: task not found"


async def test_delete_flux_task_twice(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    assert await client.delete_flux_task(task.id) is True
    assert await client.delete_flux_task(task.id) is False
    assert await client.get_flux_task(task.id) is None


# --- runs -----------------------------------------------------------------------------------


async def test_start_run_succeeds(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    run = await client.start_run(task.id)
    assert FLUX_ID.match(run.id)
    assert (run.task_id, run.status) == (task.id, "scheduled")
    assert run.requested_at
    assert run.started_at == ""
    stored = await client.get_run(task.id, run.id)
    assert stored is not None
    assert (stored.status, stored.scheduled_for) == ("success", run.scheduled_for)
    after = await client.get_flux_task(task.id)
    assert after is not None
    assert after.last_run_status == "success"


async def test_start_run_with_scheduled_for(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    when = iso(datetime.now(UTC) - timedelta(hours=1))
    run = await client.start_run(task.id, scheduled_for=when)
    assert run.scheduled_for == when


async def test_start_run_of_missing_task(client: KapacitorClient) -> None:
    with pytest.raises(KapacitorNotFound) as caught:
        await client.start_run(MISSING_FLUX_ID)
    assert caught.value.message == "failed to force run: task not found"


async def test_run_logs_and_task_logs(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    run = await client.start_run(task.id)
    events = await client.run_logs(task.id, run.id)
    assert events is not None
    messages = [e.message for e in events]
    assert messages[0].startswith("Started task from script: ")
    assert messages[-1] == "Completed(success)"
    assert {e.run_id for e in events} == {run.id}
    task_events = await client.task_logs(task.id)
    assert [e.message for e in task_events] == messages
    assert await client.run_logs(task.id, MISSING_FLUX_ID) is None


async def test_retry_of_a_stored_run(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    when = iso(datetime.now(UTC) - timedelta(minutes=30))
    original = await client.start_run(task.id, scheduled_for=when)
    retried = await client.retry_run(task.id, original.id)
    assert retried.id != original.id
    assert FLUX_ID.match(retried.id)
    assert (retried.scheduled_for, retried.status) == (when, "scheduled")
    assert retried.requested_at  # the original came from storage
    runs = await client.list_runs(task.id)
    assert {r.id for r in runs} == {original.id, retried.id}


async def test_retry_of_unknown_run(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    with pytest.raises(KapacitorNotFound) as caught:
        await client.retry_run(task.id, MISSING_FLUX_ID)
    assert caught.value.message == "failed to retry run: run not found"


async def test_get_missing_run_is_none(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    assert await client.get_run(task.id, MISSING_FLUX_ID) is None


async def test_list_runs_filters(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    now = datetime.now(UTC).replace(microsecond=0)
    hours = {
        h: await client.start_run(task.id, scheduled_for=iso(now - timedelta(hours=h)))
        for h in (3, 2, 1)
    }
    newest_first = [hours[1].id, hours[2].id, hours[3].id]
    assert [r.id for r in await client.list_runs(task.id)] == newest_first
    after = iso(now - timedelta(minutes=150))
    before = iso(now - timedelta(minutes=90))
    assert [r.id for r in await client.list_runs(task.id, after_time=after)] == newest_first[:2]
    assert [r.id for r in await client.list_runs(task.id, before_time=before)] == newest_first[1:]
    both = await client.list_runs(task.id, after_time=after, before_time=before)
    assert [r.id for r in both] == [hours[2].id]
    # Both bounds are exclusive.
    exact = await client.list_runs(task.id, after_time=hours[2].scheduled_for)
    assert [r.id for r in exact] == [hours[1].id]
    assert [r.id for r in await client.list_runs(task.id, limit=1)] == [hours[1].id]


@pytest.mark.parametrize("limit", [0, 501, -1])
async def test_list_runs_limit_out_of_bounds(client: KapacitorClient, uid: str, limit: int) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    with pytest.raises(KapacitorRejected) as caught:
        await client.list_runs(task.id, limit=limit)
    assert (caught.value.status, caught.value.message) == (400, OUT_OF_BOUNDS)


async def test_list_runs_time_errors(client: KapacitorClient, uid: str) -> None:
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    moment = iso(datetime.now(UTC) - timedelta(hours=1))
    with pytest.raises(KapacitorRejected) as caught:
        await client.list_runs(task.id, after_time=moment, before_time=moment)
    assert (
        caught.value.message == "failed to decode request: beforeTime must be later than afterTime"
    )
    with pytest.raises(KapacitorRejected) as bad_time:
        await client.list_runs(task.id, after_time="yesterday")
    assert bad_time.value.message.startswith("failed to decode request: parsing time ")


async def test_list_runs_of_unknown_task_is_empty(client: KapacitorClient) -> None:
    assert await client.list_runs(MISSING_FLUX_ID) == []


async def test_failed_run(emulator: EmulatorHandle, emu: KapacitorClient, uid: str) -> None:
    task = await emu.create_flux_task(flux_script(f"n_{uid}"))
    emulator.queue_outcomes(task.id, [{"status": "failed", "message": "boom"}])
    with pytest.raises(KapacitorRunFailed) as caught:
        await emu.start_run(task.id)
    assert caught.value.message == "failed to force run: unexpected error from queryd: boom"
    assert (caught.value.status, caught.value.code) == (500, "internal error")
    (run,) = await emu.list_runs(task.id)
    assert run.status == "failed"
    events = await emu.run_logs(task.id, run.id)
    assert events is not None
    assert events[-1].message == "unexpected error from queryd: boom"
    after = await emu.get_flux_task(task.id)
    assert after is not None
    assert (after.last_run_status, after.last_run_error) == ("failed", "Completed(failed)")


async def test_failed_retry(emulator: EmulatorHandle, emu: KapacitorClient, uid: str) -> None:
    task = await emu.create_flux_task(flux_script(f"n_{uid}"))
    run = await emu.start_run(task.id)
    emulator.queue_outcomes(task.id, [{"status": "failed", "message": "again"}])
    with pytest.raises(KapacitorRunFailed) as caught:
        await emu.retry_run(task.id, run.id)
    assert caught.value.message == "failed to retry run: unexpected error from queryd: again"


async def test_cancel_in_flight_run(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    task = await emu.create_flux_task(flux_script(f"n_{uid}"))
    emulator.queue_outcomes(task.id, [{"durationMs": 30_000}])
    pending = asyncio.create_task(emu.start_run(task.id))
    try:
        run = await in_flight(emu, task.id)
        assert await emu.cancel_run(task.id, run.id) is True
        with pytest.raises(KapacitorRunFailed) as caught:
            await asyncio.wait_for(pending, timeout=10)
    finally:
        pending.cancel()
    expected = "failed to force run: unexpected error from queryd: context canceled"
    assert caught.value.message == expected
    stored = await emu.get_run(task.id, run.id)
    assert stored is not None
    assert stored.status == "canceled"
    assert await emu.cancel_run(task.id, run.id) is False  # no longer in flight


async def test_duplicate_queued_run_is_rejected(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    task = await emu.create_flux_task(flux_script(f"n_{uid}"))
    emulator.queue_outcomes(task.id, [{"queuedMs": 1000}])
    when = iso(datetime.now(UTC) - timedelta(minutes=5))
    pending = asyncio.create_task(emu.start_run(task.id, scheduled_for=when))
    try:
        await in_flight(emu, task.id, status="scheduled")
        with pytest.raises(KapacitorRejected) as caught:
            await emu.start_run(task.id, scheduled_for=when)
        first = await asyncio.wait_for(pending, timeout=10)
    finally:
        pending.cancel()
    assert (caught.value.status, caught.value.message) == (
        422,
        "failed to force run: run already queued",
    )
    assert first.scheduled_for == when


async def test_none_storage_forgets_finished_runs(
    pool: ClientPool, kapacitor_server_none: str, uid: str
) -> None:
    client = pool.get(Connection(kapacitor_server_none))
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    run = await client.start_run(task.id)
    assert await client.get_run(task.id, run.id) is None
    assert await client.list_runs(task.id) == []
    assert await client.run_logs(task.id, run.id) is None
    with pytest.raises(KapacitorNotFound) as caught:
        await client.retry_run(task.id, run.id)
    assert caught.value.message == "failed to retry run: run not found"
    after = await client.get_flux_task(task.id)
    assert after is not None
    assert after.last_run_status == "success"


# --- authentication -------------------------------------------------------------------------


async def test_wrong_password_is_an_auth_error(
    pool: ClientPool, kapacitor_auth_server: AuthServer
) -> None:
    wrong = "not-the-password-" + kapacitor_auth_server.password
    client = pool.get(
        Connection(
            kapacitor_auth_server.url, username=kapacitor_auth_server.username, password=wrong
        )
    )
    with pytest.raises(KapacitorAuthError) as caught:
        await client.ping()
    assert (caught.value.status, caught.value.message) == (401, "authorization failed")
    assert wrong not in str(caught.value)


async def test_no_credentials_is_an_auth_error(
    pool: ClientPool, kapacitor_auth_server: AuthServer
) -> None:
    client = pool.get(Connection(kapacitor_auth_server.url))
    with pytest.raises(KapacitorAuthError) as caught:
        await client.create_flux_task(flux_script("x"))
    assert caught.value.message == "unable to parse authentication credentials"


async def test_right_password_works(
    pool: ClientPool, kapacitor_auth_server: AuthServer, uid: str
) -> None:
    server = kapacitor_auth_server
    client = pool.get(Connection(server.url, username=server.username, password=server.password))
    assert await client.ping() == "1.8.3-emulator"
    task = await client.create_flux_task(flux_script(f"n_{uid}"))
    assert task.owner_id == server.username
    assert (await client.start_run(task.id)).task_id == task.id


async def test_bearer_token_works(
    pool: ClientPool, kapacitor_auth_server: AuthServer, uid: str
) -> None:
    server = kapacitor_auth_server
    exp = int(time.time()) + 3600
    token = hs256_jwt(server.shared_secret, {"username": server.username, "exp": exp})
    client = pool.get(Connection(server.url, token=token))
    await client.ping()
    created = await client.create_task(tick(f"jwt_{uid}"))
    assert created.id == f"jwt_{uid}"
    flux = await client.create_flux_task(flux_script(f"n_{uid}"))
    assert flux.owner_id == server.username


@pytest.mark.parametrize(
    ("secret_suffix", "exp_offset", "message"),
    [
        ("-wrong", 3600, "invalid token: signature is invalid"),
        ("", -3600, "invalid token: Token is expired"),
    ],
    ids=["bad signature", "expired"],
)
async def test_bad_bearer_token_is_an_auth_error(
    pool: ClientPool,
    kapacitor_auth_server: AuthServer,
    secret_suffix: str,
    exp_offset: int,
    message: str,
) -> None:
    server = kapacitor_auth_server
    claims = {"username": server.username, "exp": int(time.time()) + exp_offset}
    token = hs256_jwt(server.shared_secret + secret_suffix, claims)
    client = pool.get(Connection(server.url, token=token))
    with pytest.raises(KapacitorAuthError) as caught:
        await client.ping()
    assert caught.value.message == message
    assert token not in str(caught.value)


# --- outages and faults ---------------------------------------------------------------------


async def test_down_is_unavailable_and_never_sent(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    await emu.ping()
    emulator.down()
    try:
        with pytest.raises(KapacitorUnavailable) as read:
            await emu.ping()
        assert read.value.never_sent is True
        with pytest.raises(KapacitorUnavailable) as write:
            await emu.create_task(tick(f"down_{uid}"))
        assert write.value.never_sent is True
        assert write.value.status is None
    finally:
        emulator.up()
    assert await emu.ping() == "1.8.3-emulator"  # the same pooled client recovers
    assert await emu.get_task(f"down_{uid}") is None


async def test_503_fault_is_unavailable_after_quick_retries(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    emulator.set_faults(error_rate=1.0, error_status=503)
    try:
        with pytest.raises(KapacitorUnavailable) as caught:
            await emu.get_task(f"t_{uid}")
        read_log = emulator.requests()
        emulator.clear_requests()
        with pytest.raises(KapacitorUnavailable) as write:
            await emu.create_task(tick(f"t_{uid}"))
        write_log = emulator.requests()
    finally:
        emulator.clear_faults()
    assert (caught.value.status, caught.value.message) == (503, "emulated fault")
    assert caught.value.never_sent is False
    assert [(r["method"], r["path"], r["status"]) for r in read_log] == [
        ("GET", f"/kapacitor/v1/tasks/t_{uid}", 503)
    ] * 3
    assert [(r["method"], r["status"]) for r in write_log] == [("POST", 503)]
    assert write.value.status == 503


async def test_500_fault_is_not_retried(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    emulator.set_faults(error_rate=1.0, error_status=500)
    try:
        with pytest.raises(KapacitorUnavailable) as caught:
            await emu.list_tasks()
        log = emulator.requests()
    finally:
        emulator.clear_faults()
    assert caught.value.status == 500
    assert len(log) == 1


async def test_fault_on_a_run_call_is_not_a_failed_run(
    emulator: EmulatorHandle, emu: KapacitorClient, uid: str
) -> None:
    task = await emu.create_flux_task(flux_script(f"n_{uid}"))
    emulator.set_faults(error_rate=1.0, error_status=503, paths=r".*/runs$")
    try:
        with pytest.raises(KapacitorUnavailable) as caught:
            await emu.start_run(task.id)
    finally:
        emulator.clear_faults()
    assert not isinstance(caught.value, KapacitorRunFailed)
    assert caught.value.status == 503
    assert await emu.list_runs(task.id) == []
