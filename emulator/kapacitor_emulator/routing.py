"""The per-request object handlers receive, and the handler type.

The dispatcher cleans and decodes the path, authenticates, and hands each handler a
:class:`Call` with path parameters already extracted, so handlers never look at raw URLs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import MultiMapping

from kapacitor_emulator.core import Emulator
from kapacitor_emulator.state import RequestRecord

RECORD_KEY = "kapacitor_emulator.record"  # the request's RequestRecord, when it is logged


@dataclass
class Call:
    """One routed request."""

    request: web.BaseRequest
    path: str
    query: MultiMapping[str]
    user: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def method(self) -> str:
        """The HTTP method."""
        return self.request.method

    async def body(self) -> bytes:
        """The whole request body."""
        return await self.request.read()

    def started_run(self, run_id: str) -> None:
        """Note in the request log that this request started the Flux run ``run_id``."""
        record = self.request.get(RECORD_KEY)
        if isinstance(record, RequestRecord):
            record.run_id = run_id


Handler = Callable[[Emulator, Call], Awaitable[web.StreamResponse]]
