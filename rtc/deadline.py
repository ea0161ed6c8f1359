"""Awaiting with a time limit, without losing a cancel.

`within(awaitable, timeout)` is `asyncio.wait_for` written on `asyncio.timeout`, as Python
3.12 rewrote wait_for itself. Python 3.11's wait_for runs the awaitable in a task of its own
and, when its caller is cancelled in the same loop turn as that task completes, returns the
result and drops the cancel (CPython gh-86296, once bpo-42130). A read loop that does so goes on
reading: the cancel that was to end it is gone, and whoever awaits its end (a `close()`, the
event loop's shutdown at the end of a test) waits for ever. A clean-clone CI run hung that
way in BfcpClient's read loop (tests/test_deadline.py replays the turn). `asyncio.timeout`
runs the awaitable in the caller's own task and tells its own expiry from a cancel from
outside, so neither is lost. The project's ruff settings refuse `asyncio.wait_for` (TID251).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], timeout: float | None) -> T:
    """The awaitable's result, or TimeoutError after `timeout` seconds (None: no limit); the
    awaitable is cancelled on time-out, and a cancel of the caller always propagates."""
    async with asyncio.timeout(timeout):
        return await awaitable
