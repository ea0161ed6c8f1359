"""BFCP over TCP (rtc/bfcp/transport.py) with real loopback sockets: framing, the answers to
bad input, and that one bad connection leaves the server serving the others."""

from __future__ import annotations

import asyncio
import datetime
import os
import ssl
import struct
import tempfile
from collections.abc import AsyncIterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from rtc.bfcp import messages
from rtc.bfcp.codec import Attribute, ErrorCodeValue, Message, encode
from rtc.bfcp.tables import AttributeType, ErrorCode, Primitive, RequestStatus
from rtc.bfcp.transport import (
    BfcpClient,
    BfcpConnection,
    BfcpServer,
    ConnectionClosed,
    read_message,
)
from rtc.deadline import within

CONFERENCE = 7
USERS = {1, 2, 3}


class Harness:
    def __init__(self) -> None:
        self.closed: list[tuple[int | None, int | None]] = []
        self.server = BfcpServer(
            lambda conference: USERS if conference == CONFERENCE else None,
            self.handle,
            on_close=self.on_close,
            message_timeout=0.3,
        )
        self.port = 0

    async def handle(self, connection: BfcpConnection, message: Message) -> None:
        if message.primitive is Primitive.FLOOR_QUERY:
            raise RuntimeError("a handler bug")
        if message.primitive is Primitive.FLOOR_REQUEST:
            await connection.send(
                messages.floor_request_status(
                    message.conference_id,
                    message.transaction_id,
                    message.user_id,
                    40 + message.user_id,
                    message.first(AttributeType.FLOOR_ID),
                    RequestStatus.GRANTED,
                )
            )

    async def on_close(self, connection: BfcpConnection) -> None:
        self.closed.append((connection.conference_id, connection.user_id))

    async def client(self, user: int = 1) -> BfcpClient:
        return await BfcpClient.connect("127.0.0.1", self.port, CONFERENCE, user)

    async def raw(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness()
    _, h.port = await h.server.start()
    yield h
    await h.server.close()


def hello(conference: int = CONFERENCE, user: int = 1, transaction: int = 5) -> bytes:
    return encode(Message(Primitive.HELLO, conference, transaction, user))


async def answer(reader: asyncio.StreamReader) -> Message:
    message = await within(read_message(reader), 5)
    assert message is not None
    return message


def error_code(message: Message) -> int:
    assert message.primitive is Primitive.ERROR
    value = message.first(AttributeType.ERROR_CODE)
    assert isinstance(value, ErrorCodeValue)
    return value.code


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    return await within(reader.read(1), 5) == b""


async def still_serves(h: Harness) -> None:
    client = await h.client(user=3)
    try:
        ack = await client.request(Primitive.HELLO)
        assert ack.primitive is Primitive.HELLO_ACK
    finally:
        await client.close()


async def test_hello_request_and_server_notice(harness: Harness) -> None:
    client = await harness.client(user=2)
    ack = await client.request(Primitive.HELLO)
    assert ack.primitive is Primitive.HELLO_ACK
    assert Primitive.FLOOR_REQUEST in ack.first(AttributeType.SUPPORTED_PRIMITIVES)
    assert AttributeType.FLOOR_REQUEST_INFORMATION in ack.first(
        AttributeType.SUPPORTED_ATTRIBUTES
    )
    status = await client.request(
        Primitive.FLOOR_REQUEST, Attribute(AttributeType.FLOOR_ID, 1, True)
    )
    assert messages.request_status_of(status) == (42, RequestStatus.GRANTED)
    # A server-initiated notice (transaction 0) reaches the bound user's connection.
    connection = harness.server.connection_of(CONFERENCE, 2)
    assert connection is not None
    await connection.send(messages.floor_request_status(CONFERENCE, 0, 2, 42, 1, RequestStatus.REVOKED))
    notice = await within(client.notices.get(), 5)
    assert messages.request_status_of(notice) == (42, RequestStatus.REVOKED)
    await client.close()


async def test_truncated_header_then_close(harness: Harness) -> None:
    reader, writer = await harness.raw()
    writer.write(hello()[:7])
    await writer.drain()
    writer.close()
    await asyncio.sleep(0.05)
    await still_serves(harness)
    assert harness.closed == []  # never bound: nobody's floor to release


async def test_stalled_message_is_cut_off(harness: Harness) -> None:
    reader, writer = await harness.raw()
    writer.write(hello()[:5])
    await writer.drain()
    assert await closed_by_server(reader)  # after the 0.3 s message timeout
    writer.close()
    await still_serves(harness)


@pytest.mark.parametrize("version", [0, 3, 7])
async def test_wrong_version_gets_error_12_and_close(harness: Harness, version: int) -> None:
    reader, writer = await harness.raw()
    data = bytearray(hello())
    data[0] = (version << 5) | (data[0] & 0x1F)
    writer.write(bytes(data))
    await writer.drain()
    error = await answer(reader)
    assert error_code(error) == ErrorCode.UNSUPPORTED_VERSION
    assert (error.conference_id, error.transaction_id, error.user_id) == (CONFERENCE, 5, 1)
    assert await closed_by_server(reader)
    writer.close()
    await still_serves(harness)


async def test_oversize_length_gets_error_13_and_close(harness: Harness) -> None:
    reader, writer = await harness.raw()
    data = bytearray(hello())
    struct.pack_into("!H", data, 2, 0xFFFF)  # 256 KiB announced, past the 64 KiB bound
    writer.write(bytes(data))
    await writer.drain()
    assert error_code(await answer(reader)) == ErrorCode.INCORRECT_MESSAGE_LENGTH
    assert await closed_by_server(reader)
    writer.close()
    await still_serves(harness)


async def test_fragment_bit_on_tcp_gets_error_and_close(harness: Harness) -> None:
    reader, writer = await harness.raw()
    data = bytearray(hello())
    data[0] |= 0x08
    writer.write(bytes(data))
    await writer.drain()
    assert error_code(await answer(reader)) == ErrorCode.UNABLE_TO_PARSE_MESSAGE
    assert await closed_by_server(reader)
    writer.close()


async def test_unknown_primitive_gets_error_3_and_the_connection_goes_on(
    harness: Harness,
) -> None:
    reader, writer = await harness.raw()
    data = bytearray(hello())
    data[1] = 99
    writer.write(bytes(data) + hello(transaction=6))
    await writer.drain()
    error = await answer(reader)
    assert error_code(error) == ErrorCode.UNKNOWN_PRIMITIVE
    assert error.transaction_id == 5
    ack = await answer(reader)  # the next message on the same connection is served
    assert (ack.primitive, ack.transaction_id) == (Primitive.HELLO_ACK, 6)
    writer.close()


async def test_unknown_mandatory_attribute_gets_error_4_listing_it(harness: Harness) -> None:
    reader, writer = await harness.raw()
    floor_id = bytes([(2 << 1) | 1, 4, 0, 1])
    unknown = bytes([(100 << 1) | 1, 4, 0, 0])
    header = bytes([0x20, 1, 0, 2]) + struct.pack("!IHH", CONFERENCE, 9, 1)
    writer.write(header + floor_id + unknown)
    await writer.drain()
    error = await answer(reader)
    assert error_code(error) == ErrorCode.UNKNOWN_MANDATORY_ATTRIBUTE
    assert error.first(AttributeType.ERROR_CODE).details == bytes([100 << 1])
    writer.close()


async def test_other_conference_or_user_gets_error_1_or_2(harness: Harness) -> None:
    reader, writer = await harness.raw()
    writer.write(hello(conference=8))
    await writer.drain()
    assert error_code(await answer(reader)) == ErrorCode.CONFERENCE_DOES_NOT_EXIST
    writer.write(hello(user=9))
    await writer.drain()
    assert error_code(await answer(reader)) == ErrorCode.USER_DOES_NOT_EXIST
    writer.write(hello(user=1))  # binds the connection to user 1
    await writer.drain()
    assert (await answer(reader)).primitive is Primitive.HELLO_ACK
    writer.write(hello(user=2))  # a real user of the conference, but not this connection's
    await writer.drain()
    assert error_code(await answer(reader)) == ErrorCode.USER_DOES_NOT_EXIST
    writer.close()
    await still_serves(harness)


async def test_handler_failure_gets_error_14_and_the_connection_goes_on(
    harness: Harness,
) -> None:
    client = await harness.client()
    failed = await client.request(Primitive.FLOOR_QUERY)
    assert error_code(failed) == ErrorCode.GENERIC_ERROR
    assert (await client.request(Primitive.HELLO)).primitive is Primitive.HELLO_ACK
    await client.close()


async def test_goodbye_closes_and_reports_the_bound_user(harness: Harness) -> None:
    client = await harness.client(user=3)
    ack = await client.request(Primitive.GOODBYE)
    assert ack.primitive is Primitive.GOODBYE_ACK
    await within(client.closed.wait(), 5)
    with pytest.raises(ConnectionClosed):
        await client.request(Primitive.HELLO)
    await client.close()
    for _ in range(50):
        if harness.closed:
            break
        await asyncio.sleep(0.02)
    assert harness.closed == [(CONFERENCE, 3)]


async def test_vanished_participant_is_reported(harness: Harness) -> None:
    client = await harness.client(user=2)
    await client.request(Primitive.HELLO)
    await client.close()  # no Goodbye: the TCP connection just ends
    for _ in range(50):
        if harness.closed:
            break
        await asyncio.sleep(0.02)
    assert harness.closed == [(CONFERENCE, 2)]


def _tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory() as folder:
        cert_path, key_path = os.path.join(folder, "c.pem"), os.path.join(folder, "k.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(key_path, "wb") as f:
            f.write(key_pem)
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


async def test_over_tls() -> None:
    server_tls, client_tls = _tls_contexts()
    server = BfcpServer(lambda conference: USERS, Harness().handle)
    _, port = await server.start(ssl_context=server_tls)
    try:
        client = await BfcpClient.connect(
            "localhost", port, CONFERENCE, 1, ssl_context=client_tls
        )
        status = await client.request(
            Primitive.FLOOR_REQUEST, Attribute(AttributeType.FLOOR_ID, 1, True)
        )
        assert messages.request_status_of(status) == (41, RequestStatus.GRANTED)
        await client.close()
    finally:
        await server.close()


async def test_a_plain_or_silent_client_on_the_tls_port_is_closed_and_tls_goes_on() -> None:
    server_tls, client_tls = _tls_contexts()
    server = BfcpServer(lambda conference: USERS, Harness().handle, message_timeout=0.5)
    _, port = await server.start(ssl_context=server_tls)
    try:
        hello = encode(Message(Primitive.HELLO, CONFERENCE, 1, 1, ()))
        for data in (hello, b""):  # a BFCP Hello in clear; nothing at all
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(data)
            await writer.drain()
            try:
                answer = await within(reader.read(), timeout=5)
            except ConnectionResetError:
                answer = b""
            writer.close()
            assert answer == b"" or answer[0] == 0x15  # closed, at most a TLS alert record
        client = await BfcpClient.connect("localhost", port, CONFERENCE, 1,
                                          ssl_context=client_tls)
        assert (await client.request(Primitive.HELLO)).primitive is Primitive.HELLO_ACK
        await client.close()
    finally:
        await server.close()
