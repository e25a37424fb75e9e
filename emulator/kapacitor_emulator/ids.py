"""Identifier rules of the two task APIs.

TICKscript task and template IDs follow ``^[-\\._\\p{L}0-9]+$`` (Unicode letters, ASCII
digits) and default to a random UUID; Flux task and run IDs are 16 lowercase hex digits
(InfluxDB's ``platform.ID``), never zero.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Container

_ASCII_DIGITS = frozenset("0123456789")
_PUNCT = frozenset("-._")
_HEX = frozenset("0123456789abcdefABCDEF")


def is_valid_tick_id(value: str) -> bool:
    """Whether a TICKscript task/template ID matches Kapacitor's regexp."""
    if not value:
        return False
    return all(ch in _ASCII_DIGITS or ch in _PUNCT or ch.isalpha() for ch in value)


def tick_id_error(kind: str, value: str) -> str:
    """The 400 message for an invalid TICKscript task or template ID."""
    return f"{kind} ID must contain only letters, numbers, '-', '.' and '_'. \"{value}\""


def new_uuid() -> str:
    """A random UUID, as Kapacitor assigns to tasks created without an ID."""
    return str(uuid.uuid4())


class FluxIDError(ValueError):
    """A string that is not a valid platform ID; the message is InfluxDB's."""


def decode_flux_id(value: str) -> str:
    """Validate a platform ID and return its canonical lowercase form.

    Raises:
        FluxIDError: ``id must have a length of 16 bytes`` or ``invalid ID``.
    """
    if len(value.encode("utf-8")) != 16:
        raise FluxIDError("id must have a length of 16 bytes")
    if not all(ch in _HEX for ch in value) or int(value, 16) == 0:
        raise FluxIDError("invalid ID")
    return value.lower()


def new_flux_id(taken: Container[str]) -> str:
    """A random, non-zero 16-hex ID not in ``taken``."""
    while True:
        candidate = secrets.token_hex(8)
        if int(candidate, 16) != 0 and candidate not in taken:
            return candidate
