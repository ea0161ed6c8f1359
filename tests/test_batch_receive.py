"""rtc/batch_receive.c and the receive path that uses it (rtc/receive_path.py `read_media`):
a socket's waiting datagrams read at once, SRTP media unprotected with the DTLS transport's
own libsrtp session and handed on in order, everything else to the Python path as before;
and real peer connections whose media is read this way still carry it, recover a loss by
NACK and close."""

from __future__ import annotations

import asyncio
import socket

import pylibsrtp
import pytest
from aiortc.rtp import RtpPacket

from rtc import aiortc_hooks, batch_receive, datagram_drain, receive_path, srtp_addresses
from rtc.deadline import within
from rtc.jitter_buffer import release_frames_at_marker
from rtc.rtp_counts import RtpCounts
from tests.test_datagram_drain import _reader
from tests.test_receive_path import _connected_pair, _until

KEY = bytes(range(30))  # AES-CM-128 key and salt


def _sessions() -> tuple[pylibsrtp.Session, pylibsrtp.Session]:
    """A sending and a receiving SRTP session of one key, any SSRC (as aiortc's)."""
    sessions = []
    for kind in (pylibsrtp.Policy.SSRC_ANY_OUTBOUND, pylibsrtp.Policy.SSRC_ANY_INBOUND):
        sessions.append(pylibsrtp.Session(pylibsrtp.Policy(key=KEY, ssrc_type=kind)))
    return sessions[0], sessions[1]


def _rtp(sequence: int, payload: bytes) -> bytes:
    return RtpPacket(payload_type=96, sequence_number=sequence, timestamp=3000 * sequence,
                     ssrc=0x1234, payload=payload).serialize()


def _pair() -> tuple[socket.socket, socket.socket]:
    receiving = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiving.bind(("127.0.0.1", 0))
    receiving.setblocking(False)
    sending = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sending.bind(("127.0.0.1", 0))
    sending.connect(receiving.getsockname())
    return receiving, sending


def _drain(sock: socket.socket, session: pylibsrtp.Session | None, limit: int = 64):
    address = 0 if session is None else srtp_addresses.session_address(session)
    unprotect = 0 if session is None else srtp_addresses.SRTP_UNPROTECT
    return batch_receive.drain(sock.fileno(), limit, unprotect, address)


def test_media_is_unprotected_in_order_and_the_rest_handed_on_with_its_address():
    protect, unprotect = _sessions()
    receiving, sending = _pair()
    try:
        plain = [_rtp(n, bytes([n]) * (100 + n)) for n in range(3)]
        protected = [protect.protect(packet) for packet in plain]
        tampered = bytearray(protect.protect(_rtp(3, b"x" * 50)))
        tampered[-1] ^= 1  # its authentication tag no longer matches
        rtcp = protect.protect_rtcp(bytes.fromhex("80c80006") + bytes(24))  # a sender report
        stun = b"\x00\x01\x00\x00" + bytes(16)
        dtls = b"\x16\xfe\xfd" + bytes(20)
        for datagram in (protected[0], stun, protected[1], bytes(tampered), rtcp,
                         protected[2], dtls):
            sending.send(datagram)
        others, media, media_bytes, refused = _drain(receiving, unprotect)
        assert media == plain  # unprotected, in the order received
        assert refused == 1
        assert media_bytes == sum(map(len, protected)) + len(tampered)
        address = sending.getsockname()
        assert others == [(stun, address), (rtcp, address), (dtls, address)]
        assert _drain(receiving, unprotect) == ([], [], 0, 0)  # empty: nothing, no error
        # a replayed packet is refused, as libsrtp refuses it to pylibsrtp
        sending.send(protected[1])
        assert _drain(receiving, unprotect)[1:] == ([], len(protected[1]), 1)
    finally:
        receiving.close()
        sending.close()


def test_at_most_limit_datagrams_a_call_and_without_a_session_all_are_handed_on():
    receiving, sending = _pair()
    try:
        datagrams = [_rtp(n, b"p") for n in range(5)]
        for datagram in datagrams:
            sending.send(datagram)
        first = _drain(receiving, None, limit=2)
        rest = _drain(receiving, None)
        assert [data for data, _ in first[0]] == datagrams[:2]
        assert [data for data, _ in rest[0]] == datagrams[2:]
        assert first[1:] == rest[1:] == ([], 0, 0)
    finally:
        receiving.close()
        sending.close()


def test_bad_arguments_and_socket_errors_are_python_errors():
    receiving, sending = _pair()
    receiving.close()
    sending.close()
    for limit in (0, batch_receive.MAX_BATCH + 1):
        with pytest.raises(ValueError):
            batch_receive.drain(0, limit, 0, 0)
    with pytest.raises(ValueError):
        batch_receive.drain(0, 1, 0, 1)  # a session without its function
    with pytest.raises(OSError):
        batch_receive.drain(receiving.fileno(), 8, 0, 0)  # closed: EBADF


async def test_real_peer_connections_read_their_media_in_batches_and_recover_a_loss(
        monkeypatch):
    """aiortc's own video track to a receiver set up as the MCU's; the callee's socket is
    read by rtc/batch_receive.c once DTLS is done; the sender drops its 50th RTP packet:
    the callee NACKs it from the batch path, the retransmission (RTX) comes in through it
    and fills the gap, the frames go on, the DTLS transport counts what it received;
    closing the caller ends it, and the receiver is freed with its peer connection."""
    import gc
    import weakref

    from aiortc.mediastreams import VideoStreamTrack

    assert receive_path.installed()
    rtp_sent = [0]
    dropped: list[int] = []

    def sent(data: bytes) -> bool:  # protected RTP: the header is in the clear
        if len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
            rtp_sent[0] += 1
            if rtp_sent[0] == 50:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return False
        return True

    batches = [0]
    handle_media = receive_path.handle_media

    def counted(dtls, media) -> None:
        batches[0] += 1
        handle_media(dtls, media)

    monkeypatch.setattr(receive_path, "handle_media", counted)
    counts = RtpCounts()
    seen: list[RtpPacket] = []

    def tune(transceiver) -> None:
        aiortc_hooks.count_rtp_and_feedback(transceiver.receiver, transceiver.sender, counts)
        receive_path.handle_rtp_in_one_step(transceiver.receiver, counts)
        receive_path.watch_rtp(transceiver.receiver, seen.append)
        release_frames_at_marker(transceiver.receiver)

    restore = aiortc_hooks.filter_datagrams(None, sent)  # the caller's sends only
    caller, callee, tracks = await _connected_pair(VideoStreamTrack(), tune)
    try:
        await within(_until(lambda: tracks), 10)
        for _ in range(90):
            await within(tracks[0].recv(), 10)
        receiver = callee.getTransceivers()[0].receiver
        transport = receiver.transport
        pair = transport.transport._connection._nominated[1]
        assert _reader(pair.protocol.transport) is datagram_drain.batch_ready
        assert batches[0] >= 10  # the media came in through the batch path
        assert dropped, "no video packet was dropped"
        assert counts.nack_sent >= 1  # asked for from the batch path
        media_ssrc = next(p.ssrc for p in seen if p.sequence_number != dropped[0])
        retransmitted = [p for p in seen if p.ssrc != media_ssrc
                         and p.payload[:2] == dropped[0].to_bytes(2, "big")]
        assert retransmitted, "the dropped packet did not come back as RTX"
        assert 50 <= aiortc_hooks.receiver_rtp_packets(receiver) <= rtp_sent[0] - 1
        assert transport._RTCDtlsTransport__rx_packets >= 89
    finally:
        restore()
        await caller.close()
    await within(_until(lambda: transport.state == "closed"), 10)
    await callee.close()
    freed = weakref.ref(receiver)
    tracks.clear()
    seen.clear()
    retransmitted.clear()
    receiver = transport = pair = callee = caller = None  # only `freed` refers to it now
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.05)
    assert freed() is None, "the receiver outlived its peer connection"


async def test_a_packet_whose_handling_fails_is_logged_and_the_others_go_on(caplog):
    """handle_media: a handler (here aiortc's kind, awaited in the batch's task) that fails
    on one packet costs that packet only; the failure is logged."""
    from types import SimpleNamespace

    from aiortc.rtp import HeaderExtensionsMap

    handled: list[int] = []

    class Receiver:
        async def _handle_rtp_packet(self, packet: RtpPacket, arrival_time_ms: int) -> None:
            if packet.sequence_number == 1:
                raise RuntimeError("a broken handler")
            handled.append(packet.sequence_number)

    receiver = Receiver()
    dtls = SimpleNamespace(_rtp_header_extensions_map=HeaderExtensionsMap(),
                           _rtp_router=SimpleNamespace(route_rtp=lambda packet: receiver))
    receive_path.handle_media(dtls, [_rtp(n, b"p") for n in range(3)])
    await within(_until(lambda: len(handled) == 2), 5)
    assert handled == [0, 2]
    assert "a broken handler" in caplog.text
