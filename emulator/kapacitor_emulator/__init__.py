"""A Kapacitor 1.8 HTTP API emulator for tests and the local playground.

It is a real HTTP server on loopback that answers as ``kapacitord`` v1.8.3 does (see
``docs/emulator.md`` and the shared ``kapacitor-api.md``): TICKscript tasks and templates,
the Flux task API with synchronous runs, auth, and Kapacitor's two error formats, plus an
``/emulator/v1`` control API for tests (request log, run outcomes, faults, outages).
Start it with ``python -m kapacitor_emulator`` or, from tests, with
:func:`kapacitor_emulator.process.running_emulator`.
"""

from kapacitor_emulator.core import Emulator, EmulatorConfig
from kapacitor_emulator.server import EmulatorServer, main

__all__ = ["Emulator", "EmulatorConfig", "EmulatorServer", "main"]
