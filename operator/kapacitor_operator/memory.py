"""Give memory the operator freed back to the system (glibc's allocator; elsewhere a no-op).

Python frees most of a list page or a watch flood once it is handled, but glibc keeps
freed heap pages mapped, and raises its mmap threshold as large buffers come and go, so
later ones land in the heap too: the resident size stays at the peak of the busiest
moment (a start over 10,000 objects) long after. Two remedies, both measured in bench/:
a fixed mmap threshold, so large buffers (response bodies, decoded pages) are mapped on
their own and unmapped when freed, and a periodic `malloc_trim`, which hands the free
pages inside the heap back.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3
"""mallopt() parameter (glibc's malloc.h)."""
MMAP_THRESHOLD = 128 * 1024
"""glibc's initial threshold, kept fixed instead of growing."""
TRIM_INTERVAL = 30.0
"""Seconds between two trims (one costs a few milliseconds at 300 MiB)."""


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


LIBC = _libc()


def fix_mmap_threshold() -> bool:
    """Keep large allocations out of the heap; False when the allocator is not glibc's."""
    return LIBC is not None and bool(LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def trim() -> bool:
    """Return free heap pages to the system; whether any were."""
    return LIBC is not None and bool(LIBC.malloc_trim(0))


async def trim_forever(interval: float = TRIM_INTERVAL) -> None:
    """trim() every `interval` seconds, until cancelled."""
    if LIBC is None:
        log.info("not glibc's allocator: freed memory is left to it")
        return
    while True:
        await asyncio.sleep(interval)
        trim()
