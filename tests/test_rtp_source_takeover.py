"""A session that replaces another on the same sockets (a re-offer changed the codec: rtp/
session.py `replaced_source`, set by mcu/media/sip_call_media.py SipCallMedia.replace): the
peer's old stream may still arrive before the peer applies the answer, and must not hold the
session against the peer's new SSRC. Datagrams from a plain UDP socket on loopback, the
session's counters read back.

- replacing: the old SSRC's late packets are taken first, the new SSRC then takes over (its
  packets are received, the old one's late stragglers are dropped from then on);
- a peer that keeps its SSRC across the re-offer goes on as one source;
- a session that replaced nothing keeps its one source (a second SSRC is dropped), as before.
"""

from __future__ import annotations

import asyncio
import socket
import time

from aiortc.rtp import RtpPacket

from mcu.model import MediaEncryptType as Encryption
from rtp import sdp
from rtp.encryption_policy import SdesRule
from rtp.negotiation import accept_answer
from rtp.session import MediaSockets, RtpSession
from tests.test_rtp_interop import BARESIP_ANSWER, _mcu_offer

OLD, NEW = 1111, 2222


async def _video_session(replaced_source: int | None) -> RtpSession:
    plans = accept_answer(_mcu_offer(Encryption.NONE),
                          sdp.parse(BARESIP_ANSWER.replace("\n", "\r\n")),
                          SdesRule(Encryption.NONE))
    video = next(plan for plan in plans if plan.kind == "video")
    session = RtpSession(await MediaSockets.bind("127.0.0.1"), video)
    session.replaced_source = replaced_source
    session.start()
    return session


async def _send(session: RtpSession, ssrcs: list[int]) -> None:
    """One H.264 packet per entry, from that SSRC (sequence numbers per source), and wait
    until the session counted them all (received or dropped)."""
    before = session.stats.packets_received + session.stats.malformed
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for number, ssrc in enumerate(ssrcs):
            packet = RtpPacket(payload_type=96, marker=1, sequence_number=ssrc % 1000 + number,
                               timestamp=3000 * number, ssrc=ssrc, payload=b"\x65\x88\x84")
            sender.sendto(packet.serialize(), ("127.0.0.1", session.sockets.port))
            await asyncio.sleep(0.01)  # in order
        deadline = time.monotonic() + 5
        while session.stats.packets_received + session.stats.malformed < before + len(ssrcs):
            assert time.monotonic() < deadline, "the datagrams did not arrive"
            await asyncio.sleep(0.02)
    finally:
        sender.close()


async def test_the_new_ssrc_takes_over_from_the_replaced_sessions_stream() -> None:
    session = await _video_session(replaced_source=OLD)
    try:
        await _send(session, [OLD, OLD, OLD])  # the old stream, still draining in
        assert session.remote_ssrc == OLD and session.stats.packets_received == 3
        await _send(session, [NEW, NEW, OLD, NEW])  # the new one, one late straggler
        assert session.remote_ssrc == NEW
        assert session.stats.packets_received == 6  # 3 old, then the 3 new ones
        assert session.stats.malformed == 1  # the straggler after the take-over
        await _send(session, [OLD])  # the old source cannot take it back
        assert session.remote_ssrc == NEW and session.stats.malformed == 2
    finally:
        await session.close()


async def test_a_peer_keeping_its_ssrc_goes_on_as_one_source() -> None:
    session = await _video_session(replaced_source=OLD)
    try:
        await _send(session, [OLD] * 5)
        assert session.remote_ssrc == OLD
        assert session.stats.packets_received == 5 and session.stats.malformed == 0
    finally:
        await session.close()


async def test_a_session_that_replaced_nothing_keeps_its_one_source() -> None:
    session = await _video_session(replaced_source=None)
    try:
        await _send(session, [OLD, OLD, NEW, NEW])
        assert session.remote_ssrc == OLD
        assert session.stats.packets_received == 2 and session.stats.malformed == 2
    finally:
        await session.close()
