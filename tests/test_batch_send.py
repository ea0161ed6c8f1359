"""rtc/batch_send.c: a batch of RTP packets protected with the DTLS transport's own libsrtp
session, byte for byte as pylibsrtp protects them, and sent in order with one sendmmsg;
what it declines is left undone for the Python path. (The direct send path's tests,
tests/test_direct_send.py, carry real calls through it.)"""

from __future__ import annotations

import asyncio
import errno
import socket
from types import SimpleNamespace

import pylibsrtp
import pytest
from aiortc.rtcdtlstransport import State as DtlsState

from rtc import aiortc_hooks, aiortc_send_hooks, batch_send, datagram_drain
from rtc.deadline import within
from rtc.srtp_addresses import SRTP_PROTECT, session_address
from tests.test_batch_receive import KEY, _rtp


def _session(kind: int) -> pylibsrtp.Session:
    return pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=kind))


def _sockets() -> tuple[socket.socket, socket.socket]:
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.settimeout(5)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.setblocking(False)
    return receiving, sending


def _send(sending: socket.socket, to: tuple[str, int], packets: list[bytes],
          session: pylibsrtp.Session):
    return batch_send.send(sending.fileno(), to[0], to[1], packets, SRTP_PROTECT,
                           session_address(session))


def test_packets_are_protected_as_pylibsrtp_protects_them_and_sent_in_order():
    sender = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    twin = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)  # the same key: the same bytes
    inbound = _session(pylibsrtp.Policy.SSRC_ANY_INBOUND)
    receiving, sending = _sockets()
    try:
        packets = [_rtp(n, bytes([n]) * (40 + 100 * n)) for n in range(12)]
        size, unsent, error = _send(sending, receiving.getsockname(), packets, sender)
        expected = [twin.protect(packet) for packet in packets]
        assert unsent == [] and error == 0
        assert size == sum(map(len, expected))
        received = [receiving.recv(2048) for _ in packets]
        assert received == expected
        assert [inbound.unprotect(datagram) for datagram in received] == packets
    finally:
        receiving.close()
        sending.close()


def test_what_it_declines_it_leaves_undone():
    sender = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    twin = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    receiving, sending = _sockets()
    receiving.setblocking(False)
    try:
        to = receiving.getsockname()
        large = _rtp(0, bytes(batch_send.MAX_PACKET))
        assert _send(sending, to, [_rtp(0, b"a"), large], sender) is None
        assert _send(sending, ("localhost", to[1]), [_rtp(0, b"a")], sender) is None
        with pytest.raises(BlockingIOError):
            receiving.recv(2048)  # nothing was sent
        # nor protected: the session is where the twin is
        first = _rtp(0, b"first")
        assert _send(sending, to, [first], sender) == (len(twin.protect(first)), [], 0)
    finally:
        receiving.close()
        sending.close()


def test_bad_arguments_and_socket_errors_are_python_errors():
    sender = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    receiving, sending = _sockets()
    to = receiving.getsockname()
    try:
        with pytest.raises(ValueError):
            _send(sending, to, [b"x"] * (batch_send.MAX_BATCH + 1), sender)
        with pytest.raises(TypeError):
            _send(sending, to, ["text"], sender)  # type: ignore[list-item]
        with pytest.raises(ValueError):
            batch_send.send(sending.fileno(), to[0], to[1], [], 0, 0)
        with pytest.raises(ValueError):
            _send(sending, (to[0], 70000), [], sender)
    finally:
        receiving.close()
        sending.close()
    # a closed socket refuses each datagram: reported, not raised, as asyncio reports it
    assert _send(sending, to, [_rtp(0, b"a")], sender)[1:] == ([], errno.EBADF)


class _Receiving(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.datagrams: list[bytes] = []

    def datagram_received(self, data: bytes, addr) -> None:
        self.datagrams.append(data)


async def test_the_direct_send_path_sends_through_it_and_through_python_under_a_filter():
    """SrtpSendPath on a connected transport (stand-ins for aiortc's DTLS transport and
    aioice's nominated pair around a real asyncio socket): the packets arrive as pylibsrtp
    would have protected them and the transport counts them; with a loss filter in place
    they go the Python way, and the filter drops what it refuses."""
    loop = asyncio.get_running_loop()
    receiving_transport, receiving = await loop.create_datagram_endpoint(
        _Receiving, local_addr=("127.0.0.1", 0))
    udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                 local_addr=("127.0.0.1", 0))
    pair = SimpleNamespace(protocol=SimpleNamespace(transport=udp),
                           remote_addr=receiving_transport.get_extra_info("sockname"))
    dtls = SimpleNamespace(_state=DtlsState.CONNECTED,
                           _tx_srtp=_session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND),
                           transport=SimpleNamespace(
                               _connection=SimpleNamespace(_nominated={1: pair})))
    setattr(dtls, aiortc_send_hooks._TX_BYTES, 0)
    setattr(dtls, aiortc_send_hooks._TX_PACKETS, 0)
    twin = _session(pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    path = aiortc_send_hooks.SrtpSendPath(dtls)  # type: ignore[arg-type]
    python_way = aiortc_send_hooks._send_each
    try:
        packets = [_rtp(n, bytes([n]) * 300) for n in range(6)]
        aiortc_send_hooks._send_each = _not_expected  # type: ignore[assignment]
        try:
            path.send(packets[:3])  # through batch_send
        finally:
            aiortc_send_hooks._send_each = python_way
        expected = [twin.protect(packet) for packet in packets]
        await within(_until(lambda: len(receiving.datagrams) == 3), 5)
        assert receiving.datagrams == expected[:3]
        assert getattr(dtls, aiortc_send_hooks._TX_PACKETS) == 3
        assert getattr(dtls, aiortc_send_hooks._TX_BYTES) == sum(map(len, expected[:3]))
        restore = aiortc_hooks.filter_datagrams(None, lambda data: data != expected[4])
        try:
            path.send(packets[3:])
        finally:
            restore()
        await within(_until(lambda: len(receiving.datagrams) == 5), 5)
        assert receiving.datagrams == expected[:4] + expected[5:]
        assert getattr(dtls, aiortc_send_hooks._TX_PACKETS) == 6
    finally:
        udp.close()
        receiving_transport.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def _not_expected(*args) -> int:
    raise AssertionError("the packets went the Python way")


async def test_the_asyncio_transport_state_the_path_reads_exists():
    """SrtpSendPath reads the selector transport's queue of datagrams waiting for the
    socket (`_buffer`: it goes the Python way behind them), `_conn_lost` and `_sock_fd`."""
    loop = asyncio.get_running_loop()
    udp, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                 local_addr=("127.0.0.1", 0))
    try:
        assert datagram_drain.open_selector_transport(udp) is udp
        assert not udp._buffer and udp._conn_lost == 0  # type: ignore[attr-defined]
        assert udp._sock_fd == udp.get_extra_info("socket").fileno()  # type: ignore[attr-defined]
    finally:
        udp.close()
