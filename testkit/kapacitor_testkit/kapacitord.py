"""Run a real ``kapacitord`` (built by ``hack/provision-kapacitord.sh``) for tests.

:func:`running_kapacitord` starts the server on a free port (of loopback unless given a
``host``) with a TOML config written into a temporary directory: the Flux task API on with
``task-run-influxdb = "none"``, no InfluxDB (``[[influxdb]] enabled = false``), usage
reporting off, every data directory (BoltDB, tasks, replays, load) and the log file inside
the temporary directory. ``shared_secret=`` turns HTTP authentication on (see
:func:`render_config`). It waits until ``GET /kapacitor/v1/ping`` answers 204, yields a
:class:`KapacitordHandle`, and on exit sends SIGTERM, then SIGKILL after a grace period.

A missing binary is an error that names the provisioning script, never a reason to skip.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from .kapacitord_log import HttpRequest, read_http_requests
from .processes import die_with_parent, free_port

#: The Kapacitor version ``hack/provision-kapacitord.sh`` builds.
KAPACITOR_VERSION = "v1.8.3"

#: Names an explicit kapacitord binary; an explicit choice is final (no fallback).
BIN_ENV = "KAPACITORD_BIN"

#: Overrides the cache root, as in the provisioning scripts.
CACHE_ENV = "KAPACITOR_OPERATOR_CACHE"

DEFAULT_CACHE_ROOT = Path("~/.cache/kapacitor-operator")

PROVISION_HINT = "run hack/provision-kapacitord.sh (builds and caches kapacitord, ~10 min cold)"

#: Seconds to wait for ping → 204 after the process starts.
START_TIMEOUT = 60.0

#: Seconds between SIGTERM and SIGKILL.
STOP_GRACE = 15.0

#: Attempts when the server exits during start-up (usually a lost race for the port).
START_ATTEMPTS = 3

#: From <linux/prctl.h>.


class KapacitordNotFoundError(RuntimeError):
    """No kapacitord binary: not built yet, or ``KAPACITORD_BIN`` names nothing usable."""


class KapacitordStartError(RuntimeError):
    """kapacitord did not answer ping in time, or kept exiting during start-up."""


def _cache_root(environ: Mapping[str, str]) -> Path:
    return Path(environ.get(CACHE_ENV) or DEFAULT_CACHE_ROOT).expanduser()


def find_kapacitord(env: Mapping[str, str] | None = None) -> Path:
    """Locate the kapacitord binary.

    Order: ``$KAPACITORD_BIN`` (final if set), then the newest
    ``<cache>/kapacitord-v1.8.3-<go version>/kapacitord`` whose build finished (has a
    ``.stamp``), where ``<cache>`` is ``$KAPACITOR_OPERATOR_CACHE`` or
    ``~/.cache/kapacitor-operator``.

    Raises:
        KapacitordNotFoundError: with a message naming ``hack/provision-kapacitord.sh``.
    """
    environ = os.environ if env is None else env
    explicit = environ.get(BIN_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path.resolve()
        raise KapacitordNotFoundError(
            f"${BIN_ENV}={explicit!r} is not an executable file; unset it or {PROVISION_HINT}"
        )
    root = _cache_root(environ)
    candidates = [
        d / "kapacitord"
        for d in root.glob(f"kapacitord-{KAPACITOR_VERSION}-*")
        if d.is_dir()
        and not d.name.endswith((".tmp", ".work"))
        and (d / ".stamp").is_file()
        and os.access(d / "kapacitord", os.X_OK)
    ]
    if not candidates:
        raise KapacitordNotFoundError(
            f"no kapacitord {KAPACITOR_VERSION} found (looked for ${BIN_ENV} and "
            f"{root}/kapacitord-{KAPACITOR_VERSION}-*/kapacitord): {PROVISION_HINT}"
        )
    return max(candidates, key=lambda p: p.stat().st_mtime)


def _toml_str(value: str | Path) -> str:
    # A JSON string is a valid TOML basic string for everything a path can hold here.
    return json.dumps(str(value))


#: Basic credentials for the readiness ping when auth is on (the noauth user service
#: accepts any user and password).
PING_AUTH = ("kapacitor-operator-ping", "ping")


def render_config(
    workdir: Path,
    port: int,
    *,
    log_level: str = "INFO",
    shared_secret: str | None = None,
    host: str = "127.0.0.1",
) -> str:
    """The kapacitord TOML config used by :func:`running_kapacitord`.

    With ``shared_secret``, ``[http] auth-enabled = true`` and JWTs signed with it are
    accepted, while ``[auth] enabled = false`` keeps the ``noauth`` user service: every
    request needs credentials, but any Basic user/password passes. (Real users need
    ``[auth] enabled = true``, whose user store is an InfluxDB Enterprise meta node.)
    """
    data = workdir / "data"
    q = _toml_str
    auth = f"true\n  shared-secret = {q(shared_secret)}" if shared_secret else "false"
    return f"""\
# Written by kapacitor_testkit.kapacitord for a test run.
hostname = {q(host)}
data_dir = {q(data)}

[http]
  bind-address = {q(f"{host}:{port}")}
  log-enabled = true
  auth-enabled = {auth}
  shutdown-timeout = "2s"

[auth]
  enabled = false

[replay]
  dir = {q(data / "replay")}

[storage]
  boltdb = {q(data / "kapacitor.db")}

[task]
  dir = {q(data / "tasks")}

[load]
  enabled = false
  dir = {q(data / "load")}

[fluxtask]
  enabled = true
  # Finished runs are not written anywhere (and vanish from the API).
  task-run-influxdb = "none"

# The built-in default is an enabled InfluxDB at localhost:8086, which would hold up
# start-up for the 5 minute startup-timeout.
[[influxdb]]
  enabled = false
  name = "default"
  urls = ["http://127.0.0.1:8086"]

[logging]
  file = {q(workdir / "kapacitord.log")}
  level = {q(log_level)}

[reporting]
  enabled = false
"""


def _child_env(workdir: Path) -> dict[str, str]:
    # kapacitord reads KAPACITOR_* variables as config overrides: drop them so the
    # config file is the whole story. HOME points into the temp dir so nothing can land
    # in the real ~/.kapacitor.
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAPACITOR_")}
    env["HOME"] = str(workdir)
    return env


@dataclass
class KapacitordHandle:
    """A running kapacitord and where its files are."""

    base_url: str
    """``http://<host>:<port>`` (the API is under ``/kapacitor/v1``)."""
    port: int
    binary: Path
    workdir: Path
    config_path: Path
    log_path: Path
    """kapacitord's own log (``[logging] file``)."""
    stdout_path: Path
    """stdout and stderr of the process (banner, config errors, panics)."""
    process: subprocess.Popen[bytes]

    def http_requests(self) -> list[HttpRequest]:
        """Every request the server has answered so far, from its own log (the config sets
        ``[http] log-enabled = true``); see :mod:`kapacitor_testkit.kapacitord_log`."""
        return read_http_requests(self.log_path)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log and of its stdout/stderr."""
        parts = []
        for path in (self.stdout_path, self.log_path):
            try:
                text = path.read_text(errors="replace")
            except OSError as exc:
                text = f"<cannot read: {exc}>"
            parts.append(f"--- {path}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(parts)


def _ping(base_url: str) -> int | None:
    try:
        return httpx.get(f"{base_url}/kapacitor/v1/ping", auth=PING_AUTH, timeout=2.0).status_code
    except httpx.TransportError:
        return None


def _stop(process: subprocess.Popen[bytes], grace: float) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    if process.poll() is None:
        # Not reaped yet, so the process group id cannot have been reused: kill it all.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


def _start_once(
    binary: Path, workdir: Path, timeout: float, shared_secret: str | None, host: str
) -> KapacitordHandle:
    port = free_port(host)
    config_path = workdir / "kapacitord.conf"
    config_path.write_text(render_config(workdir, port, shared_secret=shared_secret, host=host))
    log_path = workdir / "kapacitord.log"
    stdout_path = workdir / "kapacitord.out"
    with stdout_path.open("ab") as out:
        process = subprocess.Popen(
            [str(binary), "-config", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=_child_env(workdir),
            start_new_session=True,
            # Fork-unsafe in general; this one only calls prctl.
            preexec_fn=die_with_parent,
        )
    handle = KapacitordHandle(
        base_url=f"http://{host}:{port}",
        port=port,
        binary=binary,
        workdir=workdir,
        config_path=config_path,
        log_path=log_path,
        stdout_path=stdout_path,
        process=process,
    )
    deadline = time.monotonic() + timeout
    status: int | None = None
    while process.poll() is None and time.monotonic() < deadline:
        status = _ping(handle.base_url)
        if status == 204:
            return handle
        time.sleep(0.1)
    code = process.poll()
    _stop(process, grace=5.0)
    if code is None:
        raise KapacitordStartError(
            f"kapacitord did not answer GET /kapacitor/v1/ping with 204 within {timeout}s "
            f"(last status {status}):\n{handle.log_tail()}"
        )
    raise _ExitedDuringStart(f"kapacitord exited with code {code}:\n{handle.log_tail()}")


class _ExitedDuringStart(KapacitordStartError):
    pass


@contextmanager
def running_kapacitord(
    binary: str | None = None,
    *,
    workdir: str | Path | None = None,
    start_timeout: float = START_TIMEOUT,
    shared_secret: str | None = None,
    host: str = "127.0.0.1",
) -> Iterator[KapacitordHandle]:
    """Start kapacitord on a free port of ``host``; stop it (SIGTERM, then kill) on exit.

    Args:
        binary: the kapacitord to run; default :func:`find_kapacitord`.
        workdir: where config, data and logs go. Default: a new temporary directory,
            removed afterwards (a given ``workdir`` is kept).
        start_timeout: seconds to wait for ping → 204.
        shared_secret: turn HTTP auth on with this JWT secret and the ``noauth`` user
            service (any Basic user/password is accepted); see :func:`render_config`.
        host: the address to bind; the test node's Pods reach a kapacitord bound to the
            node IP (``kapacitor_testkit.node.layout.NODE_IP``), not one on loopback.

    Raises:
        KapacitordNotFoundError: no binary (the message names the provisioning script).
        KapacitordStartError: not ready in time, or exited during start-up
            :data:`START_ATTEMPTS` times; the message carries the log tails.
    """
    exe = Path(binary).expanduser().resolve() if binary else find_kapacitord()
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        raise KapacitordNotFoundError(f"{exe} is not an executable file; {PROVISION_HINT}")
    own_dir = workdir is None
    base = Path(tempfile.mkdtemp(prefix="kapacitord-")) if workdir is None else Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    try:
        failures: list[str] = []
        handle: KapacitordHandle | None = None
        for attempt in range(1, START_ATTEMPTS + 1):
            attempt_dir = base if attempt == 1 else base / f"attempt-{attempt}"
            attempt_dir.mkdir(parents=True, exist_ok=True)
            try:
                handle = _start_once(exe, attempt_dir, start_timeout, shared_secret, host)
                break
            except _ExitedDuringStart as exc:
                failures.append(f"attempt {attempt}: {exc}")
        if handle is None:
            raise KapacitordStartError(
                f"kapacitord exited during start-up {START_ATTEMPTS} times:\n"
                + "\n---\n".join(failures)
            )
        try:
            yield handle
        finally:
            _stop(handle.process, grace=STOP_GRACE)
    finally:
        if own_dir:
            shutil.rmtree(base, ignore_errors=True)
