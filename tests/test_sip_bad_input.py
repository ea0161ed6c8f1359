"""Bad input sent raw to a running SIP user agent, over UDP and over TCP: a malformed start
line, missing mandatory headers, huge headers, an unknown method, a Require it does not
support, a non-SIP Request-URI, a body type it does not take, a body shorter or longer than
Content-Length, CANCEL/BYE for nothing. Each is answered with the status RFC 3261 gives (and
the reason phrase naming the fault), never a crash or a hang, and the UA goes on answering."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from rtc.deadline import within
from sip.grammar import Limits
from sip.transport import TransportSettings
from sip.useragent import SipUserAgent, UaSettings
from tests.sip_helpers import FAST, RawUdp, read_stream_response, request


async def answer_invite(_request: object) -> bytes:
    return b"answer"


@pytest.fixture
async def ua() -> AsyncIterator[SipUserAgent]:
    transports = TransportSettings(udp_port=0, tcp_port=0, read_timeout=1.0,
                                   limits=Limits(max_header_bytes=8192, max_headers=60,
                                                 max_header_line=2048, max_body=4096))
    agent = SipUserAgent(UaSettings(user="u", transports=transports, timers=FAST),
                         on_invite=answer_invite)
    async with agent:
        yield agent


BAD_START = b"OPTIONS  sip:u@127.0.0.1 SIP/2.0\r\n"  # two spaces
CASES: list[tuple[str, bytes, int, str]] = [
    ("malformed start line", request().replace(b"OPTIONS sip:u@127.0.0.1 SIP/2.0\r\n",
                                               BAD_START), 400, "Bad Request-Line"),
    ("garbage start line", b"HELLO\r\n" + request().split(b"\r\n", 1)[1], 400,
     "Bad Request-Line"),
    ("no Call-ID", request().replace(b"Call-ID: raw-1\r\n", b""), 400, "Missing Call-ID"),
    ("no From", request().replace(b"From: <sip:raw@127.0.0.1>;tag=r1\r\n", b""), 400,
     "Missing From"),
    ("huge header", request(extra="X-Huge: " + "a" * 3000 + "\r\n"), 513,
     "Message Too Large"),
    ("too many headers", request(extra="".join(f"X-{i}: v\r\n" for i in range(80))), 513,
     "Message Too Large"),
    ("unknown method", request("FROBNICATE"), 501, "Not Implemented"),
    ("unsupported Require", request(extra="Require: 100rel, foo\r\n"), 420, "Bad Extension"),
    ("non-SIP Request-URI", request().replace(b"OPTIONS sip:u@127.0.0.1",
                                              b"OPTIONS tel:+15551234"), 416,
     "Unsupported URI Scheme"),
    ("CSeq method mismatch", request(cseq_method="INVITE"), 400, "CSeq Method Mismatch"),
    ("body too big", request(extra="Content-Type: text/plain\r\n", body=b"x" * 5000), 413,
     "Request Entity Too Large"),
    ("INVITE with a non-SDP body", request("INVITE", extra=(
        "Contact: <sip:raw@127.0.0.1:5999>\r\nContent-Type: text/plain\r\n"), body=b"hi"),
     415, "Unsupported Media Type"),
    ("CANCEL for nothing", request("CANCEL"), 481, "Call/Transaction Does Not Exist"),
    ("BYE outside a dialog", request("BYE"), 481, "Call/Transaction Does Not Exist"),
    ("in-dialog request for an unknown dialog", request("BYE").replace(
        b"To: <sip:u@127.0.0.1>", b"To: <sip:u@127.0.0.1>;tag=nope"), 481,
     "Call/Transaction Does Not Exist"),
    ("SIP/3.0", request().replace(b" SIP/2.0\r\n", b" SIP/3.0\r\n", 1), 505,
     "Version Not Supported"),
]


@pytest.mark.parametrize(("name", "data", "status", "reason"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_input_over_udp(ua: SipUserAgent, name: str, data: bytes, status: int,
                                  reason: str) -> None:
    raw = await RawUdp.open()
    try:
        raw.send(data, ua.transports.ports["UDP"])
        answer = await raw.answer()
        assert (answer.status, answer.reason) == (status, reason)
        # the UA goes on answering
        raw.send(request(call_id="after"), ua.transports.ports["UDP"])
        assert (await raw.answer()).status == 200
    finally:
        raw.close()


@pytest.mark.parametrize(("name", "data", "status", "reason"), CASES,
                         ids=[c[0] for c in CASES])
async def test_bad_input_over_tcp(ua: SipUserAgent, name: str, data: bytes, status: int,
                                  reason: str) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    try:
        writer.write(data.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"))
        answer = await read_stream_response(reader)
        assert (answer.status, answer.reason) == (status, reason)
    finally:
        writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    writer.write(request(transport="TCP", call_id="after"))
    assert (await read_stream_response(reader)).status == 200
    writer.close()


async def test_body_shorter_than_content_length(ua: SipUserAgent) -> None:
    """UDP: 400 (RFC 4475 3.1.2.2). TCP: the rest is awaited, then the connection closes
    at the read timeout without a crash."""
    raw = await RawUdp.open()
    raw.send(request(extra="Content-Type: text/plain\r\n", body=b"abc", content_length=50),
             ua.transports.ports["UDP"])
    answer = await raw.answer()
    assert (answer.status, answer.reason) == (400, "Bad Content-Length")
    raw.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    writer.write(request(transport="TCP", extra="Content-Type: text/plain\r\n", body=b"abc",
                         content_length=50))
    assert await within(reader.read(), 5) == b""  # closed after read_timeout
    writer.close()


async def test_body_longer_than_content_length(ua: SipUserAgent) -> None:
    """UDP: the octets past Content-Length are discarded and the request served (18.3).
    TCP: they are the next message; here garbage, answered 400 and the connection closed."""
    raw = await RawUdp.open()
    raw.send(request(extra="Content-Type: text/plain\r\n", body=b"abcdef-and-more",
                     content_length=6), ua.transports.ports["UDP"])
    assert (await raw.answer()).status == 200
    raw.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    writer.write(request(transport="TCP", extra="Content-Type: text/plain\r\n", call_id="tcp",
                         body=b"abcdef" + b"not a sip message\r\n\r\n", content_length=6))
    assert (await read_stream_response(reader)).status == 200
    second = await read_stream_response(reader)
    assert (second.status, second.reason) == (400, "Bad Request-Line")
    assert await within(reader.read(), 3) == b""
    writer.close()


async def test_stream_without_content_length_and_endless_headers(ua: SipUserAgent) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    writer.write(request(transport="TCP").replace(b"Content-Length: 0\r\n", b""))
    answer = await read_stream_response(reader)
    assert (answer.status, answer.reason) == (400, "Missing Content-Length")
    writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", ua.transports.ports["TCP"])
    writer.write(request(transport="TCP").split(b"\r\n\r\n")[0] + b"\r\n")
    for _ in range(20):  # headers that never end
        writer.write(b"X-More: " + b"m" * 500 + b"\r\n")
    answer = await read_stream_response(reader)
    assert answer.status == 513
    writer.close()


async def test_responses_that_match_nothing_and_bad_responses_are_dropped(
        ua: SipUserAgent) -> None:
    raw = await RawUdp.open()
    port = ua.transports.ports["UDP"]
    raw.send(b"SIP/2.0 200 OK\r\n" + request().split(b"\r\n", 1)[1], port)
    raw.send(b"SIP/2.0 2000 Huge\r\n" + request().split(b"\r\n", 1)[1], port)
    raw.send(b"\x00\x01\x02 binary noise", port)
    raw.send(request(call_id="alive"), port)
    noise = await raw.answer()  # the noise is not a response: a request with a bad start line
    assert noise.status == 400
    answer = await raw.answer()  # the two responses were dropped without an answer
    assert answer.status == 200 and answer.call_id == "alive"
    assert raw.received.empty()
    raw.close()
