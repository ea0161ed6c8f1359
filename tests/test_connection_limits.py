"""Connection limits (docs/security.md): the signalling socket's outbox bound (a terminal
that never reads is cut off with 1008), its message rate, its largest message, and the HTTP
header and body read timeouts against slowloris, against a real running server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from app.process import running_server
from gateway.settings import SettingsError, load_settings
from gateway.signalling import (
    CLOSE_GRACE_S,
    MAX_MESSAGE_BYTES,
    OUTBOX_LIMIT,
    SIGNALLING,
    SLOW_READER_CLOSE_CODE,
)
from mcu.clock import ManualClock
from rtc.deadline import within
from tests.signalling_helpers import send_register

URI = "01010086"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator:
    settings = load_settings(port=0, data_dir=tmp_path, header_timeout_seconds=0.5,
                             body_timeout_seconds=0.5)
    async with running_server(settings, clock=ManualClock()) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def registered(http, server) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.url("/signalling"))
    await send_register(ws, {"type": "register", "uri": URI, "name": "ward"})
    while (await ws.receive_json(timeout=5))["type"] != "registered":
        pass
    return ws


async def test_a_terminal_that_never_reads_is_cut_off_and_its_outbox_stays_bounded(
    server, http
):
    hub = server.app[SIGNALLING]
    hub.rate_per_second, hub.rate_burst = 1e9, 10**9  # only the outbox is under test here
    ws = await registered(http, server)
    connection = hub.connections[URI]
    # the server's socket takes almost nothing more than the client reads, which is nothing
    sock = connection.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    ws._response.connection.transport.pause_reading()  # the client stops reading
    ping = json.dumps({"type": "ping", "seq": 1})

    async def flood() -> None:
        with contextlib.suppress(ConnectionError, aiohttp.ClientError, RuntimeError):
            for _ in range(10_000):
                await ws.send_str(ping)

    flooding = asyncio.create_task(flood())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_GRACE_S + 10
    high_water = 0
    while URI in hub.connections and loop.time() < deadline:
        high_water = max(high_water, connection._outbox.qsize())
        await asyncio.sleep(0.01)
    flooding.cancel()
    assert URI not in hub.connections, "the slow reader is still registered"
    assert hub.runtime.registry.lookup(URI) is None  # vanished, as the heartbeat's
    # the MCU stopped reading at half the outbox (backpressure), and it never overflowed
    assert OUTBOX_LIMIT // 2 <= high_water <= OUTBOX_LIMIT
    ws._response.connection.transport.resume_reading()
    while (await ws.receive(timeout=10)).type not in (
        aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING
    ):
        pass
    assert ws.close_code == SLOW_READER_CLOSE_CODE


async def test_messages_over_the_rate_are_refused_and_the_connection_stays(server, http):
    hub = server.app[SIGNALLING]
    hub.rate_per_second, hub.rate_burst = 1.0, 5
    ws = await registered(http, server)
    for seq in range(20):
        await ws.send_json({"type": "ping", "seq": seq})
    answers = [await ws.receive_json(timeout=5) for _ in range(20)]
    pongs = [a for a in answers if a["type"] == "pong"]
    refused = [a for a in answers if a["type"] == "error"]
    assert len(pongs) <= 5 and pongs  # the burst, and not one more
    assert len(refused) == 20 - len(pongs)
    assert all(a["code"] == "rate_limited" for a in refused)
    await asyncio.sleep(1.2)  # a token comes back each second
    await ws.send_json({"type": "ping", "seq": 99})
    assert await ws.receive_json(timeout=5) == {"type": "pong", "seq": 99}
    assert URI in hub.connections
    await ws.close()


async def test_a_message_over_the_largest_closes_with_1009(server, http):
    ws = await registered(http, server)
    await ws.send_str(json.dumps({"type": "ping", "seq": 1}) + " " * MAX_MESSAGE_BYTES)
    while (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
        pass
    assert ws.close_code == 1009
    assert URI not in server.app[SIGNALLING].connections


async def test_a_large_sdp_sized_message_is_still_taken(server, http):
    ws = await registered(http, server)
    await ws.send_str(json.dumps({"type": "ping", "seq": 7}) + " " * (64 * 1024))
    assert await ws.receive_json(timeout=5) == {"type": "pong", "seq": 7}
    await ws.close()


def _port(server) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """What the server sent until it closed the connection (fails if it does not)."""
    return await within(reader.read(), seconds)


async def test_half_a_request_line_is_closed_after_the_header_timeout(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    writer.write(b"POST /esdk/services/tpCommon HT")
    await writer.drain()
    start = asyncio.get_running_loop().time()
    assert await _closed_within(reader, 5) == b""
    assert asyncio.get_running_loop().time() - start < 3
    writer.close()


async def test_headers_trickled_forever_are_cut_at_the_header_timeout(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    writer.write(b"GET /esdk/services/tpCommon?wsdl HTTP/1.1\r\nHost: x\r\n")
    closed = asyncio.ensure_future(_closed_within(reader, 5))
    for number in range(40):  # a header line every 0.1 s never ends the headers
        if closed.done():
            break
        writer.write(b"X-%d: y\r\n" % number)
        await asyncio.sleep(0.1)
    assert await closed == b""
    writer.close()


async def test_a_body_that_never_comes_is_answered_408_and_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    writer.write(b"POST /esdk/services/tpCommon HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: text/xml; charset=utf-8\r\nContent-Length: 500\r\n\r\n<soap")
    await writer.drain()
    answer = await _closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"Client.Timeout" in answer
    writer.close()


async def test_an_unread_body_is_drained_for_the_body_timeout_then_closed(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    writer.write(b"GET /esdk/services/tpCommon?wsdl HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 500\r\n\r\n")
    await writer.drain()
    answer = await _closed_within(reader, 5)
    assert answer.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_a_normal_request_still_works(server, http):
    async with http.get(server.url("/esdk/services/tpCommon?wsdl")) as response:
        assert response.status == 200
        assert b"definitions" in await response.read()
    reader, writer = await asyncio.open_connection("127.0.0.1", _port(server))
    writer.write(b"GET /esdk/services/tpCommon?wsdl HTTP/1.1\r\nHost: x\r\n"
                 b"Connection: close\r\n\r\n")
    assert (await _closed_within(reader, 5)).startswith(b"HTTP/1.1 200 ")
    writer.close()


@pytest.mark.parametrize("key", ["header_timeout_seconds", "body_timeout_seconds"])
@pytest.mark.parametrize("value", [0, -1, 3601])
def test_timeouts_out_of_range_are_refused(tmp_path, key, value):
    with pytest.raises(SettingsError, match=key):
        load_settings(port=0, data_dir=tmp_path, **{key: value})
