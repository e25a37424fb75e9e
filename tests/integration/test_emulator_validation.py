"""Emulator-only: the emulator says its script validation is partial (issue 13).

Task and template writes (POST and PATCH, TICKscript and Flux) carry
``X-Emulator-Validation: partial``, other requests do not, and the command line prints a
warning on stderr at startup. A real kapacitord has neither, so these tests run against
the emulator alone; what is validated is checked against both servers by
``contract/test_tick_invalid.py``, ``contract/test_tick_valid.py`` and
``contract/test_flux_invalid.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from kapacitor_emulator.process import EmulatorHandle
from kapacitor_emulator.tick_validate import STARTUP_WARNING, is_script_write

HEADER = "X-Emulator-Validation"
STREAM = "stream|from().measurement('cpu')|log()"
DBRPS = [{"db": "telegraf", "rp": "autogen"}]
FLUX = "/kapacitor/v1/api/v2/tasks"
FLUX_SCRIPT = 'option task = {name: "v", every: 1h}\nfrom(bucket: "b") |> range(start: -1h)\n'


@pytest.fixture
def api(emulator: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=30.0) as client:
        yield client


def test_tickscript_writes_carry_the_validation_header(api: httpx.Client, uid: str) -> None:
    created = api.post("/kapacitor/v1/tasks", json={"id": uid, "script": STREAM, "dbrps": DBRPS})
    rejected = api.post(
        "/kapacitor/v1/tasks", json={"id": "x", "script": "stream|", "dbrps": DBRPS}
    )
    patched = api.patch(f"/kapacitor/v1/tasks/{uid}", json={"script": STREAM})
    template = api.post("/kapacitor/v1/templates", json={"id": uid, "script": STREAM})
    assert [r.status_code for r in (created, rejected, patched, template)] == [200, 400, 200, 200]
    for resp in (created, rejected, patched, template):
        assert resp.headers[HEADER] == "partial"


def test_flux_writes_carry_the_validation_header(api: httpx.Client) -> None:
    created = api.post(FLUX, json={"flux": FLUX_SCRIPT})
    assert created.status_code == 201
    patched = api.patch(f"{FLUX}/{created.json()['id']}", json={"flux": FLUX_SCRIPT})
    assert created.headers[HEADER] == patched.headers[HEADER] == "partial"


def test_reads_and_other_writes_do_not_carry_it(api: httpx.Client, uid: str) -> None:
    api.post("/kapacitor/v1/tasks", json={"id": uid, "script": STREAM, "dbrps": DBRPS})
    for resp in (
        api.get(f"/kapacitor/v1/tasks/{uid}"),
        api.get("/kapacitor/v1/tasks"),
        api.delete(f"/kapacitor/v1/tasks/{uid}"),
        api.get("/kapacitor/v1/ping"),
    ):
        assert HEADER not in resp.headers


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/kapacitor/v1/tasks", True),
        ("PATCH", "/kapacitor/v1/tasks/t1", True),
        ("POST", "/kapacitor/v1/templates", True),
        ("PATCH", "/kapacitor/v1/templates/t1", True),
        ("POST", FLUX, True),
        ("PATCH", f"{FLUX}/0000000000000001", True),
        ("POST", f"{FLUX}/0000000000000001/runs", False),
        ("PATCH", "/kapacitor/v1/tasks/", False),
        ("GET", "/kapacitor/v1/tasks", False),
        ("DELETE", "/kapacitor/v1/tasks/t1", False),
    ],
)
def test_which_requests_are_script_writes(method: str, path: str, expected: bool) -> None:
    assert is_script_write(method, path) is expected


def test_command_line_warns_on_stderr_at_startup() -> None:
    cmd = [sys.executable, "-m", "kapacitor_emulator", "--port", "0", "--control-port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith('{"api": ')
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=10)
    assert STARTUP_WARNING in stderr
    assert "partial" in STARTUP_WARNING
