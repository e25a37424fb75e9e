"""Giving freed memory back (memory.py), on this machine's glibc."""

from __future__ import annotations

import asyncio

import pytest

from kapacitor_operator import memory


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_this_machine_has_glibc() -> None:
    assert memory.LIBC is not None
    assert memory.fix_mmap_threshold()


def test_trim_returns_freed_heap_pages() -> None:
    # Many small blocks (below the mmap threshold, so on the heap), then freed but the
    # last, which pins the heap's top: only a trim hands the pages below back.
    blocks = [bytearray(4096) for _ in range(50_000)]  # about 200 MiB
    pin = bytearray(4096)
    for block in blocks:
        block[0] = 1  # touched: resident
    del blocks
    before = rss_kib()
    assert memory.trim()
    after = rss_kib()
    assert before - after > 100 * 1024, (before, after)
    del pin


async def test_trim_forever_runs_until_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    trims = 0
    third = asyncio.Event()

    def counted() -> bool:
        nonlocal trims
        trims += 1
        if trims == 3:
            third.set()
        return True

    monkeypatch.setattr(memory, "trim", counted)
    task = asyncio.create_task(memory.trim_forever(interval=0.01))
    await asyncio.wait_for(third.wait(), timeout=5.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
