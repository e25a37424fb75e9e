"""The playground's Kapacitor: the real kapacitord (default) or the emulator (``--emulator``),
and what each one cannot do with examples/.

Both listen on the node IP, so the operator on the host and Pods on the node reach them.
Each kind says which examples it skips and why, rather than applying them to fail: an
offline kapacitord has no InfluxDB, so it keeps no finished Flux runs
(``task-run-influxdb = "none"``) and cannot query for a batch task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kapacitor_emulator.process import running_emulator
from kapacitor_testkit.kapacitord import running_kapacitord
from kapacitor_testkit.node.layout import NODE_IP

AUTH_EXAMPLE = "09-kapacitor-with-auth.yaml"
RETRY_OF_EXAMPLE = "07-taskrun-retry-of.yaml"
SKIP_AUTH = "points at a Kapacitor with authentication (kapacitor-secure.monitoring), not this one"


@dataclass
class PlaygroundKapacitor:
    """A running Kapacitor of the playground, and how it limits the examples."""

    base_url: str
    description: str
    exited: Callable[[], str | None]
    """None while the server runs, else why it stopped."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Examples not applied, with the reason printed."""
    notes: dict[str, str] = field(default_factory=dict)
    """Examples applied, with what they cannot do here."""
    extra_lines: str = ""
    """Banner lines (each ending in a newline) about this server."""


@contextmanager
def running_kapacitor(*, emulator: bool, workdir: Path) -> Iterator[PlaygroundKapacitor]:
    """Start the playground's Kapacitor on the node IP; stop it on exit.

    Raises:
        KapacitordNotFoundError: no kapacitord built (the message names the script).
        KapacitordStartError, EmulatorStartError: the server did not come up.
    """
    if emulator:
        with running_emulator("memory", ["--scheduler", "on"], host=NODE_IP) as emu:

            def emulator_exited() -> str | None:
                code = emu.process.poll()
                return None if code is None else f"the Kapacitor emulator exited ({code})"

            yield PlaygroundKapacitor(
                base_url=emu.base_url,
                description="the Kapacitor emulator (partial validation, Flux never runs; "
                "docs/emulator.md)",
                exited=emulator_exited,
                skipped={
                    RETRY_OF_EXAMPLE: "needs the ID of a failed run of hourly-rollup",
                    AUTH_EXAMPLE: SKIP_AUTH,
                },
                extra_lines=f"             control API: {emu.control_url}/emulator/v1/state\n",
            )
        return
    with running_kapacitord(workdir=workdir / "kapacitord", host=NODE_IP) as kd:

        def kapacitord_exited() -> str | None:
            code = kd.process.poll()
            if code is None:
                return None
            return f"kapacitord exited ({code}); see {kd.log_path}\n{kd.log_tail(20)}"

        yield PlaygroundKapacitor(
            base_url=kd.base_url,
            description="kapacitord 1.8.3 (Flux tasks on, no InfluxDB)",
            exited=kapacitord_exited,
            skipped={
                RETRY_OF_EXAMPLE: "retries a given failed run, and this Kapacitor keeps no "
                'finished runs (task-run-influxdb = "none": there is no InfluxDB)',
                AUTH_EXAMPLE: SKIP_AUTH,
            },
            notes={
                "02-batch-task.yaml": "created disabled; enabled, its query would fail, "
                "as there is no InfluxDB to query",
                "05-flux-cron-retry.yaml": "its runs succeed; after the first one, AutoRetry "
                "turns False (RunHistoryUnavailable): finished runs vanish without run "
                "storage, so a failed one cannot be retried",
            },
            extra_lines=f"             log {kd.log_path} (every request is logged)\n",
        )
