"""Contract: PATCH of a Flux task (``/kapacitor/v1/api/v2/tasks/{id}``).

Every test runs against each kind of server (``api``: emulator and kapacitord). The
expected scripts are what kapacitord 1.8.3's Flux formatter writes. Two tests pin
Kapacitor bugs the operator lives with (see ``docs/kapacitord.md``).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.contract.helpers import (
    FLUX,
    RFC3339,
    YEARLY,
    assert_flux_error,
    create_flux,
    flux_script,
)


def patch(api: httpx.Client, task: dict[str, Any], body: dict[str, Any]) -> httpx.Response:
    return api.patch(f"{FLUX}/{task['id']}", json=body)


def test_flux_patch_every_rewrites_the_option(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"pe-{uid}")
    resp = patch(api, task, {"every": "2h"})
    assert resp.status_code == 200
    patched = resp.json()
    assert patched["every"] == "2h"
    assert patched["flux"] == task["flux"].replace("every: 1h", "every: 2h")
    assert RFC3339.match(patched["updatedAt"])


@pytest.mark.parametrize(
    ("flux", "formatted"),
    [
        (
            'option task = {name: "NAME",   every: 1h}\n\n\n\nfrom(bucket:"telegraf")'
            "|>range(start:-1h)\n  |> yield()",
            'option task = {name: "NAME", every: 2h}\n\nfrom(bucket: "telegraf")\n'
            "    |> range(start: -1h)\n    |> yield()\n",
        ),
        (
            'option task = {name: "NAME", every: 1h}\nfrom(bucket: "telegraf") |> range(start: '
            '-1h) |> filter(fn: (r) => r._measurement == "cpu") |> map(fn: (r) => ({r with '
            "_value: r._value * 2.0})) |> yield()",
            'option task = {name: "NAME", every: 2h}\n\nfrom(bucket: "telegraf")\n'
            "    |> range(start: -1h)\n"
            '    |> filter(fn: (r) => r._measurement == "cpu")\n'
            "    |> map(fn: (r) => ({r with _value: r._value * 2.0}))\n    |> yield()\n",
        ),
        (
            '// comment\nimport "array"\nimport "strings"\noption task = {name: "NAME", '
            "every: 1h, offset: 1m}\n// the data\nx = 1\ny = 2\n\nz = 3\n"
            "array.from(rows: [{_time: now(), _value: x}])\n    |> yield()",
            '// comment\nimport "array"\nimport "strings"\n\noption task = {name: "NAME", '
            "every: 2h, offset: 1m}\n\n// the data\nx = 1\ny = 2\n\nz = 3\n\n"
            "array.from(rows: [{_time: now(), _value: x}])\n    |> yield()\n",
        ),
        (
            'option task = {name: "NAME", every: 1h, offset: 10s, concurrency: 2, retry: 3}\n'
            'from(bucket: "b") |> range(start: -1h)',
            'option task = {\n    name: "NAME",\n    every: 2h,\n    offset: 10s,\n'
            '    concurrency: 2,\n    retry: 3,\n}\n\nfrom(bucket: "b") |> range(start: -1h)\n',
        ),
    ],
    ids=["spacing-and-multiline-pipe", "long-pipe", "imports-comments-statements", "big-record"],
)
def test_flux_patch_with_options_reformats_the_script(
    api: httpx.Client, uid: str, flux: str, formatted: str
) -> None:
    name = f"fmt-{uid}"
    task = create_flux(api, name, flux=flux.replace("NAME", name))
    assert task["flux"] == flux.replace("NAME", name)  # stored as sent
    patched = patch(api, task, {"every": "2h"}).json()
    assert patched["flux"] == formatted.replace("NAME", name)


def test_flux_patch_flux_alone_is_stored_as_sent(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"fa-{uid}")
    flux = f'option task = {{name: "fa-{uid}",   every: 3h}}\nfrom(bucket:"b")|>range(start:-1h)'
    patched = patch(api, task, {"flux": flux}).json()
    assert (patched["flux"], patched["every"]) == (flux, "3h")


def test_flux_patch_flux_and_options_rewrites_the_new_flux(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"fo-{uid}")
    flux = f'option task = {{name: "fo-{uid}", every: 1h}}\nfrom(bucket:"b")|>range(start:-1h)'
    patched = patch(api, task, {"flux": flux, "every": "3h"}).json()
    expected = f'option task = {{name: "fo-{uid}", every: 3h}}\n\n'
    assert patched["flux"] == expected + 'from(bucket: "b") |> range(start: -1h)\n'


def test_flux_patch_cron_replaces_every_in_place(api: httpx.Client, uid: str) -> None:
    flux = flux_script(f"pc-{uid}", extra=", offset: 10s")
    task = create_flux(api, f"pc-{uid}", flux=flux)
    patched = patch(api, task, {"cron": "*/5 * * * *"}).json()
    assert patched["cron"] == "*/5 * * * *"
    assert "every" not in patched
    record = f'option task = {{name: "pc-{uid}", cron: "*/5 * * * *", offset: 10s}}'
    assert patched["flux"].startswith(record + "\n")
    back = patch(api, task, {"every": "1h"}).json()
    assert back["flux"].startswith(f'option task = {{name: "pc-{uid}", every: 1h, offset: 10s}}')


def test_flux_patch_name_and_offset(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"pn-{uid}")
    patched = patch(api, task, {"name": f"renamed-{uid}", "offset": "10s"}).json()
    assert (patched["name"], patched["offset"]) == (f"renamed-{uid}", "10s")
    cleared = patch(api, task, {"offset": "0s", "name": f"renamed-{uid}"}).json()
    assert "offset" not in cleared
    assert "offset" not in cleared["flux"]


def test_flux_patch_zero_offset_with_status_removes_nothing(api: httpx.Client, uid: str) -> None:
    # A zero offset is not an option change, so the script is not rewritten at all.
    task = create_flux(api, f"zo-{uid}", flux=flux_script(f"zo-{uid}", extra=", offset: 10s"))
    patched = patch(api, task, {"offset": "0s", "status": "inactive"}).json()
    assert (patched["offset"], patched["flux"], patched["status"]) == (
        "10s",
        task["flux"],
        "inactive",
    )


def test_flux_patch_description_needs_other_content(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"de-{uid}")
    alone = patch(api, task, {"description": "d"})
    message = "failed to decode request: cannot update task without content"
    assert_flux_error(alone, 400, "invalid", message)
    with_status = patch(api, task, {"description": "d", "status": "active"}).json()
    assert with_status["description"] == "d"
    assert RFC3339.match(with_status["updatedAt"])  # the description alone changed


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"every": "1h", "cron": "* * * * *"}, "cannot specify both every and cron"),
        ({}, "cannot update task without content"),
        ({"offset": "0s"}, "cannot update task without content"),
        ({"every": "0s"}, "cannot update task without content"),
        ({"name": ""}, "cannot update task without content"),
        ({"description": "d"}, "cannot update task without content"),
        ({"offset": "0s", "description": "d"}, "cannot update task without content"),
        ({"status": "paused"}, 'invalid task status: "paused"'),
        ({"every": "banana"}, "invalid duration banana"),
    ],
)
def test_flux_patch_validation(
    api: httpx.Client, uid: str, body: dict[str, Any], message: str
) -> None:
    task = create_flux(api, f"pv-{uid}")
    assert_flux_error(
        patch(api, task, body), 400, "invalid", f"failed to decode request: {message}"
    )


def test_kapacitor_bug_status_is_not_checked_after_every(api: httpx.Client, uid: str) -> None:
    # TaskUpdate.Validate is a switch: a non-zero every (or offset) skips the status check,
    # and the status is stored as given.
    task = create_flux(api, f"bug-{uid}")
    resp = patch(api, task, {"every": "1h", "status": "paused"})
    assert (resp.status_code, resp.json()["status"]) == (200, "paused")
    assert api.get(f"{FLUX}/{task['id']}").json()["status"] == "paused"


@pytest.mark.parametrize("body", [{"retry": 3}, {"concurrency": 2, "status": "inactive"}])
def test_kapacitor_bug_concurrency_or_retry_alone_panics(
    api: httpx.Client, uid: str, body: dict[str, Any]
) -> None:
    # Options that are only concurrency/retry leave UpdateFlux nothing to write, and
    # updateTask then dereferences the missing script.
    task = create_flux(api, f"panic-{uid}", flux=flux_script(f"panic-{uid}", YEARLY))
    path = f"{FLUX}/{task['id']}"
    message = (
        f"a panic has occurred: {path}: "
        "runtime error: invalid memory address or nil pointer dereference"
    )
    assert_flux_error(patch(api, task, body), 500, "internal error", message)
    assert api.get(path).json() == task  # nothing changed


def test_flux_patch_missing_task(api: httpx.Client) -> None:
    resp = api.patch(f"{FLUX}/00000000000000fe", json={"status": "active"})
    assert_flux_error(resp, 404, "not found", "failed to update task: task not found")


def test_flux_patch_flux_without_options(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"po-{uid}")
    resp = patch(api, task, {"flux": 'from(bucket: "b")'})
    message = "failed to update task: invalid options: no task options defined"
    assert_flux_error(resp, 400, "invalid", message)


def test_flux_patch_syntax_error_is_500(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"ps-{uid}")
    resp = patch(api, task, {"flux": 'option task = {name: "x", every: 1h'})
    assert resp.status_code == 500
    assert resp.headers["X-Platform-Error-Code"] == "internal error"
    assert resp.json()["message"].startswith("failed to update task: ")


def test_flux_patch_status_round_trip(api: httpx.Client, uid: str) -> None:
    task = create_flux(api, f"st-{uid}")
    inactive = patch(api, task, {"status": "inactive"}).json()
    assert inactive["status"] == "inactive"
    assert inactive["flux"] == task["flux"]  # a status change leaves the script alone
    active = patch(api, task, {"status": "active"}).json()
    assert active["status"] == "active"
    assert active["latestCompleted"] >= task["latestCompleted"]
    assert active["latestCompleted"] == active["updatedAt"]
