"""rtc/datagram_drain.py: a readable UDP socket is read in batches, not one datagram per
loop pass, and every ICE socket of the process is."""

from __future__ import annotations

import asyncio
import asyncio.selector_events
import socket
from typing import Any

import aioice

from rtc import datagram_drain


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.errors: list[Exception] = []

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.append(data)

    def error_received(self, exc: Exception) -> None:
        self.errors.append(exc)


async def _endpoint() -> tuple[Any, _Collect, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        _Collect, local_addr=("127.0.0.1", 0))
    return transport, protocol, transport.get_extra_info("sockname")


def _queue(addr: tuple[str, int], count: int) -> None:
    """`count` datagrams in the socket's kernel queue (loopback delivers at sendto)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(count):
            sender.sendto(i.to_bytes(4, "big"), addr)


def _reader(transport: Any) -> Any:
    """The callback the loop's selector calls when the transport's socket is readable."""
    key = transport._loop._selector.get_key(transport._sock_fd)
    return key.data[0]._callback


def test_asyncio_private_state_the_drain_reads_still_exists():
    assert (asyncio.selector_events._SelectorDatagramTransport
            is datagram_drain._SELECTOR_DATAGRAM_TRANSPORT)
    for name in ("_read_ready", "_fatal_error", "max_size"):
        assert hasattr(asyncio.selector_events._SelectorDatagramTransport, name), name
    assert hasattr(asyncio.selector_events.BaseSelectorEventLoop, "_add_reader")


async def test_asyncio_alone_reads_one_datagram_per_readiness_the_drain_up_to_its_cap():
    transport, protocol, addr = await _endpoint()
    try:
        _queue(addr, 100)
        transport._read_ready()  # asyncio's own reader
        assert len(protocol.received) == 1

        assert datagram_drain.drain_when_readable(transport)
        assert _reader(transport) is datagram_drain.read_ready
        datagram_drain.read_ready(transport)
        assert len(protocol.received) == 1 + datagram_drain.DATAGRAMS_PER_WAKEUP
        datagram_drain.read_ready(transport)  # the rest, then EAGAIN ends the batch
        assert len(protocol.received) == 100
        assert [int.from_bytes(d, "big") for d in protocol.received] == list(range(100))
        datagram_drain.read_ready(transport)  # nothing queued: returns, reads nothing
        assert len(protocol.received) == 100 and not protocol.errors
    finally:
        transport.close()


async def test_the_loop_delivers_a_queued_burst_in_one_pass():
    transport, protocol, addr = await _endpoint()
    try:
        await asyncio.sleep(0)  # the transport's reader is registered
        assert datagram_drain.drain_when_readable(transport)
        _queue(addr, 50)
        for _ in range(3):  # the selector reports it readable within a pass or two
            await asyncio.sleep(0)
            if protocol.received:
                break
        assert len(protocol.received) == 50
    finally:
        transport.close()


async def test_a_closed_transport_is_left_alone_and_read_no_more():
    transport, protocol, addr = await _endpoint()
    _queue(addr, 3)
    transport.close()
    assert not datagram_drain.drain_when_readable(transport)
    datagram_drain.read_ready(transport)
    assert protocol.received == []
    await asyncio.sleep(0)


class _FlakySocket:
    """A socket whose reads return the queued results in turn (an exception is raised)."""

    def __init__(self, *results: Any) -> None:
        self.results = list(results)

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result, ("127.0.0.1", 9)


class _StubTransport:
    def __init__(self, sock: _FlakySocket) -> None:
        self._sock = sock
        self._protocol = _Collect()
        self._conn_lost = 0
        self.max_size = 256 * 1024
        self.fatal: list[BaseException] = []

    def _fatal_error(self, exc: BaseException, message: str) -> None:
        self.fatal.append(exc)


def test_a_socket_error_goes_to_error_received_and_ends_the_batch():
    transport = _StubTransport(_FlakySocket(b"a", ConnectionRefusedError(), b"b",
                                            BlockingIOError()))
    datagram_drain.read_ready(transport)
    assert transport._protocol.received == [b"a"]
    assert [type(e) for e in transport._protocol.errors] == [ConnectionRefusedError]
    datagram_drain.read_ready(transport)  # the next readiness reads on
    assert transport._protocol.received == [b"a", b"b"] and not transport.fatal


def test_any_other_read_failure_is_the_transports_fatal_error():
    failure = RuntimeError("broken")
    transport = _StubTransport(_FlakySocket(failure, b"never"))
    datagram_drain.read_ready(transport)
    assert transport.fatal == [failure] and transport._protocol.received == []


def test_other_transports_are_not_changed():
    class Other(asyncio.DatagramTransport):
        pass

    assert not datagram_drain.drain_when_readable(Other())


async def test_every_ice_socket_is_drained():
    connection = aioice.Connection(ice_controlling=True, components=2)
    try:
        await connection.gather_candidates()
        assert len(connection._protocols) == 2
        for protocol in connection._protocols:
            assert _reader(protocol.transport) is datagram_drain.read_ready
    finally:
        await connection.close()
