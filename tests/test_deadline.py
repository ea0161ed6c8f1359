"""`within` (rtc/deadline.py): a time limit that never drops its caller's cancel.

The turn replayed here is the one that hung a clean-clone CI run: a read loop is cancelled
in the same loop turn as the bytes that complete the message it is reading arrive. Python
3.11's `asyncio.wait_for` returned the message and dropped the cancel; the loop read on, and
the event loop's shutdown at the end of the test waited for it for ever."""

from __future__ import annotations

import asyncio

import pytest

from rtc.bfcp.codec import Message, encode
from rtc.bfcp.tables import Primitive
from rtc.bfcp.transport import BfcpClient
from rtc.deadline import within


class Writer:
    """The client's side of a connection whose written octets go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


async def turns(count: int = 3) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def test_a_read_loop_cancelled_as_its_message_completes_ends() -> None:
    reader = asyncio.StreamReader()
    client = BfcpClient(reader, Writer(), 1, 1)  # type: ignore[arg-type]
    octets = encode(Message(Primitive.HELLO, 1, 0, 1, ()))
    reader.feed_data(octets[:1])  # the loop now awaits the rest of the header, timed
    await turns()
    reader.feed_data(octets[1:])  # the rest arrives ...
    client._reading.cancel()  # ... in the turn the loop is cancelled
    done, _ = await asyncio.wait([client._reading], timeout=2)
    assert done, "the read loop went on reading after its cancel"
    assert client._reading.cancelled() and client.closed.is_set()


async def test_a_cancel_in_the_turn_the_awaited_completes_is_kept() -> None:
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    inner = asyncio.ensure_future(ready)
    after: list[str] = []

    async def caller() -> None:
        after.append(await within(inner, 5))
        await asyncio.sleep(10)  # a swallowed cancel would wait here
        after.append("went on")

    task = asyncio.create_task(caller())
    await turns()
    ready.set_result("answer")
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done and task.cancelled(), "the caller went on after its cancel"
    assert "went on" not in after


async def test_the_result_or_a_time_out_that_cancels_the_awaited() -> None:
    assert await within(asyncio.sleep(0, "done"), 1) == "done"
    assert await within(asyncio.sleep(0, "no limit"), None) == "no limit"
    slow: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await within(slow, 0.05)
    assert slow.cancelled()
