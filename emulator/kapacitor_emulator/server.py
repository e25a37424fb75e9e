"""Listeners and the command line: ``python -m kapacitor_emulator``.

Two aiohttp low-level servers share one :class:`Emulator`: the Kapacitor API listener
(which ``/emulator/v1/down`` closes, refusing new connections and dropping open ones,
and ``up`` reopens on the same port) and the control listener, which always stays up.
Handler cancellation is on, so a client that disconnects during a synchronous Flux run
cancels the handler and, through it, the run. At startup one JSON line with both URLs
is printed on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
from typing import Any, cast

from aiohttp import web

from kapacitor_emulator.clock import Clock
from kapacitor_emulator.control import PREFIX, handle_control
from kapacitor_emulator.core import Emulator, EmulatorConfig
from kapacitor_emulator.dispatch import handle_api
from kapacitor_emulator.runner import scheduler_loop
from kapacitor_emulator.state import RunStorage
from kapacitor_emulator.tick_validate import STARTUP_WARNING

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT = 0.5
"""Seconds in-flight requests get when a listener closes (``down`` or exit)."""


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("", "0.0.0.0") else ("::1" if host == "::" else host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _bound_port(runner: web.BaseRunner) -> int:
    address = runner.addresses[0]
    return int(cast(tuple[Any, ...], address)[1])


class EmulatorServer:
    """The emulator's two listeners around one :class:`Emulator`."""

    def __init__(self, config: EmulatorConfig, clock: Clock | None = None) -> None:
        self.emulator = Emulator(config, clock)
        self._api: web.ServerRunner | None = None
        self._control: web.ServerRunner | None = None
        self._api_port = config.port
        self._control_port = config.control_port
        self._scheduler: asyncio.Task[None] | None = None

    @property
    def api_url(self) -> str:
        """Base URL of the Kapacitor API."""
        return _url(self.emulator.config.host, self._api_port)

    @property
    def control_url(self) -> str:
        """Base URL of the control listener."""
        return _url(self.emulator.config.host, self._control_port)

    @property
    def api_up(self) -> bool:
        """Whether the Kapacitor API listener is open."""
        return self._api is not None

    async def _api_handler(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            return await handle_control(self.emulator, self, request, on_control_port=False)
        return await handle_api(self.emulator, request)

    async def _control_handler(self, request: web.BaseRequest) -> web.StreamResponse:
        if request.path == PREFIX or request.path.startswith(PREFIX + "/"):
            return await handle_control(self.emulator, self, request, on_control_port=True)
        return web.json_response({"error": "not a control route"}, status=404)

    async def _listen(self, handler: Any, port: int) -> tuple[web.ServerRunner, int]:
        server = web.Server(handler, handler_cancellation=True)
        runner = web.ServerRunner(server, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.emulator.config.host, port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner, _bound_port(runner)

    async def start(self) -> None:
        """Open both listeners (and the scheduler when enabled).

        Raises:
            OSError: a port is taken.
        """
        self._control, self._control_port = await self._listen(
            self._control_handler, self._control_port
        )
        await self.up()
        if self.emulator.config.scheduler:
            self._scheduler = asyncio.get_running_loop().create_task(scheduler_loop(self.emulator))

    async def up(self) -> None:
        """(Re)open the API listener on its port."""
        if self._api is None:
            self._api, self._api_port = await self._listen(self._api_handler, self._api_port)

    async def down(self) -> None:
        """Close the API listener: new connections are refused, open ones dropped."""
        runner, self._api = self._api, None
        if runner is not None:
            await runner.cleanup()

    async def stop(self) -> None:
        """Close everything and cancel in-flight runs."""
        if self._scheduler is not None:
            self._scheduler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler
        await self.down()
        if self._control is not None:
            await self._control.cleanup()
            self._control = None
        for task in list(self.emulator.background):
            task.cancel()
        if self.emulator.background:
            await asyncio.gather(*self.emulator.background, return_exceptions=True)


def build_parser() -> argparse.ArgumentParser:
    """The command-line flags."""
    parser = argparse.ArgumentParser(
        prog="kapacitor-emulator",
        description="A Kapacitor 1.8 HTTP API emulator for tests and local playgrounds.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=9092, help="API port; 0 picks a free one")
    parser.add_argument(
        "--control-port", type=int, default=0, help="control API port; 0 (default) picks one"
    )
    parser.add_argument(
        "--run-storage",
        choices=("none", "memory"),
        default="memory",
        help="like [fluxtask] task-run-influxdb: 'none' makes finished runs vanish",
    )
    parser.add_argument("--version", default="1.8.3-emulator", help="X-Kapacitor-Version value")
    parser.add_argument("--username", help="turn auth on with this one user (needs --password)")
    parser.add_argument("--password", help="password of --username")
    parser.add_argument("--shared-secret", help="turn auth on and accept HS256 JWTs signed with it")
    parser.add_argument(
        "--scheduler",
        choices=("on", "off"),
        default="off",
        help="run active Flux tasks with 'every' on schedule (default off)",
    )
    parser.add_argument(
        "--default-run-ms", type=int, default=10, help="run length when no outcome is queued"
    )
    parser.add_argument("--log-level", default="WARNING", help="Python log level (stderr)")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """Translate parsed flags into an :class:`EmulatorConfig`."""
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        run_storage=cast(RunStorage, args.run_storage),
        version=args.version,
        username=args.username,
        password=args.password,
        shared_secret=args.shared_secret,
        scheduler=args.scheduler == "on",
        default_run_ms=args.default_run_ms,
    )


async def serve(config: EmulatorConfig) -> None:
    """Run until SIGTERM/SIGINT, after printing the listener URLs as one JSON line."""
    server = EmulatorServer(config)
    await server.start()
    print(json.dumps({"api": server.api_url, "control": server.control_url}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.username) != bool(args.password):
        parser.error("--username and --password go together")
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    print(STARTUP_WARNING, file=sys.stderr, flush=True)
    try:
        asyncio.run(serve(config_from_args(args)))
    except OSError as exc:
        print(f"emulator: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
