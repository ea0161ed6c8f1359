"""Fuzzing the SIP codec and a running user agent: RFC 4475's messages (tests/data/sip) and
random bytes, mutated (bytes flipped, inserted, deleted, lines duplicated or dropped, the
message cut short or padded), then parsed and sent over UDP.

Properties:
- the codec either returns a message or raises SipParseError with a status in 400-599; no
  other exception, whatever the bytes;
- a message it returns serializes to bytes it parses again to the same start line, headers
  (Content-Length aside) and body;
- the user agent, sent every mutated datagram, never stops answering: an OPTIONS sent after
  each batch gets its 200.
The hypothesis profile (tests/fuzz_profiles.py) sets the number of examples."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sip.errors import SipParseError
from sip.message import Request, Response, parse_datagram
from tests.sip_helpers import lenient, make_ua, request

SEEDS = [p.read_bytes() for p in sorted((Path(__file__).parent / "data" / "sip").glob("*.sip"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "dup-line", "drop-line",
                                     "cut", "pad"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "delete":
            del data[at: at + draw(st.integers(1, 20))]
        elif kind in ("dup-line", "drop-line"):
            lines = bytes(data).split(b"\r\n")
            index = draw(st.integers(0, len(lines) - 1))
            if kind == "dup-line":
                lines.insert(index, lines[index])
            else:
                del lines[index]
            data = bytearray(b"\r\n".join(lines))
        elif kind == "cut":
            del data[at:]
        else:
            data += b"x" * draw(st.integers(1, 3000))
    return bytes(data)


def check(data: bytes) -> Request | Response | None:
    try:
        message = parse_datagram(data)
    except SipParseError as error:
        assert 400 <= error.status <= 599 and error.reason
        return None
    again = parse_datagram(message.encode())
    assert type(again) is type(message) and again.start_line() == message.start_line()
    assert again.body == message.body
    assert [h for h in again.headers.items if h[0] != "Content-Length"] == [
        h for h in message.headers.items if h[0] != "Content-Length"]
    return message


@given(mutated())
def test_codec_never_fails_otherwise_on_mutated_torture_messages(data: bytes) -> None:
    check(data)


@given(st.binary(max_size=2000))
def test_codec_never_fails_otherwise_on_random_bytes(data: bytes) -> None:
    check(data)


@pytest.fixture(scope="module")
def agent_port() -> Iterator[int]:
    """A user agent on its own event loop in a thread, so the property test below (plain
    blocking sockets) can send it examples for as long as hypothesis draws them."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def answer(_r: Request) -> bytes:
        return b"v=0\r\n"

    ua = make_ua("u", on_invite=answer)
    asyncio.run_coroutine_threadsafe(ua.start(), loop).result(10)
    yield ua.transports.ports["UDP"]
    asyncio.run_coroutine_threadsafe(ua.close(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@given(st.lists(mutated(), min_size=1, max_size=10))
def test_user_agent_keeps_answering_mutated_datagrams(agent_port: int,
                                                      batch: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        for data in batch:
            sock.sendto(data[:60_000], ("127.0.0.1", agent_port))
        call_id = f"alive-{uuid.uuid4().hex}"
        sock.sendto(request(call_id=call_id, port=sock.getsockname()[1]),
                    ("127.0.0.1", agent_port))
        while True:  # answers to the batch may come first; a timeout fails the test
            answer = lenient(sock.recv(65_536))
            if answer.call_id == call_id:
                break
        assert answer.status == 200
