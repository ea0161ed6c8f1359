"""The RTP media plane for SIP room systems (rtp/): two of our RTP sessions on loopback,
negotiated through SDP, plain and SDES-SRTP; every video codec both ways with the decoded
pictures' markers read, every audio codec both ways with the tone's frequency measured;
SRTP authentication failure, NACK retransmission, PLI/FIR keyframes and RFC 4733 digits."""

from __future__ import annotations

import asyncio

import pytest

from mcu.model import MediaEncryptType as Encryption
from rtc.deadline import within
from rtp.negotiation import CodecOffer
from rtp.tracks import IncomingTrack, RtpSender
from tests.rtp_pairs import (
    MarkerSource,
    ToneSource,
    dominant_frequency,
    marker_sites,
    negotiated_pair,
)

VIDEO = {
    "H261": (CodecOffer("H261", {"CIF": "1"}), (352, 288)),
    "H263": (CodecOffer("H263", {"CIF": "1"}), (352, 288)),
    "H263-1998": (CodecOffer("H263-1998", {"CIF": "1"}), (640, 480)),
    "H264-mode0-cb": (CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "0"}), (640, 360)),
    "H264-mode1-high": (CodecOffer("H264", {"profile-level-id": "640028", "packetization-mode": "1"}), (640, 360)),
    "H264-mode1-main": (CodecOffer("H264", {"profile-level-id": "4d0028", "packetization-mode": "1"}), (352, 288)),
    "VP8": (CodecOffer("VP8"), (640, 360)),
    "VP9": (CodecOffer("VP9"), (640, 360)),
}
AUDIO = ("PCMU", "PCMA", "G722", "opus")
ENCRYPTION = {"plain": Encryption.NONE, "srtp": Encryption.FORCE}


@pytest.mark.parametrize("security", ENCRYPTION)
@pytest.mark.parametrize("codec", VIDEO)
async def test_video_both_ways(codec: str, security: str) -> None:
    offered, size = VIDEO[codec]
    pair = await negotiated_pair("video", (offered,), ENCRYPTION[security])
    try:
        assert pair.a.plan.encrypted == pair.b.plan.encrypted == (security == "srtp")
        assert pair.a.codec.name == offered.name
        senders = [RtpSender(pair.a, MarkerSource(5, *size), size),
                   RtpSender(pair.b, MarkerSource(9, *size), size)]
        into_b, into_a = IncomingTrack(pair.b), IncomingTrack(pair.a)
        for sender in senders:
            sender.start()
        seen_by_b, seen_by_a = await asyncio.gather(marker_sites(into_b, 4), marker_sites(into_a, 4))
        assert seen_by_b == [5, 5, 5, 5] and seen_by_a == [9, 9, 9, 9]
        # several packets a frame: the payload format's fragmentation was exercised
        assert pair.a.stats.packets_sent > 2 * senders[0].frames_sent
        for session in (pair.a, pair.b):
            assert session.stats.srtp_auth_failures == 0 and session.stats.decode_errors == 0
        for sender in senders:
            await sender.stop()
    finally:
        await pair.close()


@pytest.mark.parametrize("security", ENCRYPTION)
@pytest.mark.parametrize("codec", AUDIO)
async def test_audio_both_ways(codec: str, security: str) -> None:
    pair = await negotiated_pair("audio", (CodecOffer(codec),), ENCRYPTION[security])
    try:
        assert pair.b.codec.name == codec
        senders = [RtpSender(pair.a, ToneSource(440.0)), RtpSender(pair.b, ToneSource(1000.0))]
        for sender in senders:
            sender.start()
        heard_by_b, heard_by_a = await asyncio.gather(
            dominant_frequency(IncomingTrack(pair.b)), dominant_frequency(IncomingTrack(pair.a)))
        assert heard_by_b == pytest.approx(440.0, abs=8)
        assert heard_by_a == pytest.approx(1000.0, abs=8)
        for sender in senders:
            await sender.stop()
    finally:
        await pair.close()


async def test_g722_uses_the_8000_hz_rtp_clock_for_16_khz_audio() -> None:
    pair = await negotiated_pair("audio", (CodecOffer("G722"),))
    try:
        stamps: list[int] = []
        session_b_target = pair.b.sockets.target

        def spy(data: bytes, addr: object, rtcp: bool) -> None:
            if not rtcp and data[1] & 0x7F == 9:
                stamps.append(int.from_bytes(data[4:8], "big"))
            session_b_target(data, addr, rtcp)

        pair.b.sockets.target = spy
        sender = RtpSender(pair.a, ToneSource(440.0))
        sender.start()
        frames = await within(_decoded_audio(IncomingTrack(pair.b), 10), 20)
        await sender.stop()
        assert {b - a for a, b in zip(stamps, stamps[1:], strict=False)} == {160}
        assert frames[0].sample_rate == 16000 and frames[0].samples == 320
    finally:
        await pair.close()


async def _decoded_audio(track: IncomingTrack, count: int) -> list:
    return [await track.recv() for _ in range(count)]


class _Tamper:
    """A man in the middle on the sender's RTP socket: alters or drops its `nth` RTP
    datagram (the sender's history keeps the good copy for a retransmission)."""

    def __init__(self, session, nth: int, drop: bool) -> None:
        self.transport = session.sockets.rtp.transport
        self.nth, self.drop, self.count = nth, drop, 0
        self.done = False
        session.sockets.rtp.transport = self

    def sendto(self, data: bytes, addr) -> None:  # RTCP has its own socket (no rtcp-mux)
        self.count += 1
        if self.count == self.nth and not self.done:
            self.done = True
            if self.drop:
                return
            data = data[:20] + bytes([data[20] ^ 0xFF]) + data[21:]
        self.transport.sendto(data, addr)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


async def test_tampered_srtp_packet_is_dropped_counted_and_recovered_by_nack() -> None:
    offered, size = VIDEO["VP8"]
    pair = await negotiated_pair("video", (offered,), Encryption.FORCE)
    try:
        assert "nack" in pair.a.codec.feedback
        tamper = _Tamper(pair.a, nth=25, drop=False)
        sender = RtpSender(pair.a, MarkerSource(3, *size), size)
        sender.start()
        into_b = IncomingTrack(pair.b)
        await marker_sites(into_b, 12)
        assert tamper.done
        assert pair.b.stats.srtp_auth_failures == 1  # dropped and counted
        assert pair.b.stats.nacks_sent >= 1 and pair.a.stats.retransmitted >= 1
        assert pair.b.stats.packets_lost == 0  # the retransmission filled the hole
        await sender.stop()
    finally:
        await pair.close()


async def test_nack_retransmits_a_dropped_packet_in_plain_rtp() -> None:
    offered, size = VIDEO["H264-mode1-high"]
    pair = await negotiated_pair("video", (offered,), Encryption.NONE)
    try:
        tamper = _Tamper(pair.a, nth=30, drop=True)
        sender = RtpSender(pair.a, MarkerSource(4, *size), size)
        sender.start()
        sites = await marker_sites(IncomingTrack(pair.b), 12)
        assert tamper.done and set(sites) == {4}
        assert pair.b.stats.nacks_sent >= 1 and pair.a.stats.nacks_received >= 1
        assert pair.a.stats.retransmitted >= 1 and pair.b.stats.packets_lost == 0
        assert pair.b.stats.decode_errors == 0
        await sender.stop()
    finally:
        await pair.close()


@pytest.mark.parametrize("feedback", ["nack pli", "ccm fir"])
async def test_keyframe_request_produces_a_keyframe(feedback: str, monkeypatch) -> None:
    from rtp import negotiation

    monkeypatch.setattr(negotiation, "FEEDBACK", frozenset({feedback}))
    offered, size = VIDEO["VP8"]
    pair = await negotiated_pair("video", (offered,), Encryption.AUTO)
    try:
        assert pair.b.codec.feedback == {feedback}
        sender = RtpSender(pair.a, MarkerSource(2, *size), size)
        sender.start()
        await marker_sites(IncomingTrack(pair.b), 3)
        before = sender.keyframes_sent
        assert before == 1  # the first frame only: a long GOP
        pair.b.request_keyframe()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if sender.keyframes_sent > before:
                break
        assert sender.keyframes_sent == before + 1
        assert pair.a.stats.keyframe_requests_received == 1
        assert (pair.b.stats.plis_sent, pair.b.stats.firs_sent) == ((1, 0) if feedback == "nack pli" else (0, 1))
        await sender.stop()
    finally:
        await pair.close()


async def test_telephone_events_both_ways() -> None:
    pair = await negotiated_pair("audio", (CodecOffer("PCMU"),), Encryption.FORCE)
    try:
        assert pair.a.plan.dtmf_payload_type is not None
        received: list[str] = []
        pair.b.on_digit = received.append
        await pair.a.send_digits("1234#*")
        await pair.b.send_digits("9A")
        await asyncio.sleep(0.2)
        assert received == list("1234#*")
        assert pair.a.stats.digits_received == list("9A")
    finally:
        await pair.close()


async def test_rtcp_sender_and_receiver_reports_flow() -> None:
    pair = await negotiated_pair("audio", (CodecOffer("PCMA"),), Encryption.FORCE, rtcp_interval=0.2)
    try:
        sender = RtpSender(pair.a, ToneSource(440.0))
        sender.start()
        for _ in range(200):  # a few report intervals, however late a starved loop runs
            await asyncio.sleep(0.05)
            if pair.b.stats.sender_reports_received >= 3 and pair.a.stats.receiver_reports_received >= 3:
                break
        await sender.stop()
        assert pair.b.stats.sender_reports_received >= 3  # a sends: SR on the RTCP port
        assert pair.a.stats.receiver_reports_received >= 3  # b only receives: RR
        assert pair.b.stats.packets_received > 0
        for _ in range(100):  # b's next report, after the last packet reached it
            await asyncio.sleep(0.05)
            report = pair.a.stats
            if (report.remote_highest_sequence - pair.a._seq + 1) % (1 << 16) == 0:
                break
        # b's report block about a: a's last sequence number, nothing lost, a round trip
        assert (report.remote_highest_sequence - pair.a._seq + 1) % (1 << 16) == 0
        assert report.remote_packets_lost == 0 and report.remote_fraction_lost == 0
        assert report.round_trip is not None and 0 <= report.round_trip < 1.0
    finally:
        await pair.close()


async def test_garbage_datagrams_are_counted_and_the_media_goes_on() -> None:
    import socket

    offered, size = VIDEO["H263"]
    pair = await negotiated_pair("video", (offered,), Encryption.NONE)
    try:
        sender = RtpSender(pair.a, MarkerSource(6, *size), size)
        sender.start()
        into_b = IncomingTrack(pair.b)
        await marker_sites(into_b, 2)
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        port = pair.b.sockets.port
        junk = [b"", b"\x80", b"\x80\x22" + b"\0" * 5, b"\x81\xc9\x00\x07" + b"\xff" * 6,  # short RTP, bad RR
                b"\x80\x60\x00\x01" + b"\0" * 8 + b"x",  # an RTP payload type not negotiated
                b"\xbf\xcd\x00\x01" + b"\0" * 8]  # an RTPFB with a bad length
        for datagram in junk:
            attacker.sendto(datagram, ("127.0.0.1", port))
            attacker.sendto(datagram, ("127.0.0.1", port + 1))
        attacker.close()
        await asyncio.sleep(0.3)
        assert pair.b.stats.malformed >= 6
        assert set(await marker_sites(into_b, 4)) == {6}  # still decoding a's pictures
        await sender.stop()
    finally:
        await pair.close()


async def test_the_incoming_track_ends_when_the_session_closes() -> None:
    from aiortc.mediastreams import MediaStreamError

    pair = await negotiated_pair("video", (VIDEO["VP8"][0],))
    track = IncomingTrack(pair.b)
    waiting = asyncio.ensure_future(track.recv())
    await pair.close()
    with pytest.raises(MediaStreamError):
        await within(waiting, 5)
    assert track.readyState == "ended"


@pytest.mark.parametrize("security", ENCRYPTION)
async def test_mutated_and_random_datagrams_never_raise(security: str) -> None:
    """Thousands of datagrams (random bytes; real RTP and RTCP packets with bits flipped or
    cut short) into both ports: each is dropped and counted or taken, none raises."""
    import random

    offered, size = VIDEO["H264-mode1-high"]
    pair = await negotiated_pair("video", (offered,), ENCRYPTION[security], rtcp_interval=0.05)
    try:
        sent: list[bytes] = []
        transport = pair.a.sockets.rtp.transport
        rtcp_transport = pair.a.sockets.rtcp.transport
        original, original_rtcp = transport.sendto, rtcp_transport.sendto
        transport.sendto = lambda data, addr: (sent.append(data), original(data, addr))
        rtcp_transport.sendto = lambda data, addr: (sent.append(data), original_rtcp(data, addr))
        sender = RtpSender(pair.a, MarkerSource(1, *size), size)
        sender.start()
        await marker_sites(IncomingTrack(pair.b), 2)
        await sender.stop()
        rng = random.Random(7)
        for n in range(4000):
            if n % 4 == 0:
                datagram = rng.randbytes(rng.randrange(0, 80))
            else:
                base = bytearray(rng.choice(sent))
                for _ in range(rng.randrange(1, 4)):
                    base[rng.randrange(len(base))] ^= 1 << rng.randrange(8)
                datagram = bytes(base[: rng.randrange(1, len(base) + 1)] if n % 3 == 0 else base)
            pair.b._on_datagram(datagram, ("127.0.0.1", 9), bool(n % 2))
        await asyncio.sleep(0.3)  # the jitter buffer and decoder get what was taken
        stats = pair.b.stats
        dropped = stats.malformed + stats.srtp_auth_failures + stats.srtp_replays
        assert dropped > 1000
    finally:
        await pair.close()
