"""rtc/receive_path.py: the private state it names still exists, the one-step RTP handler
does exactly what aiortc's handler and the counting hook did (same frames, same RTCP, same
counts and statistics, packet for packet), the demultiplexer hands STUN to aioice and
everything else to the connection, and real peer connections with the batched receive in
place still connect, carry media, recover a lost packet by NACK and close."""

from __future__ import annotations

import asyncio
import inspect

import aioice.ice
import aioice.stun
import pytest
from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCRtpSender
from aiortc.rtp import RtpPacket

from rtc import aiortc_hooks, receive_path
from rtc.deadline import within
from rtc.jitter_buffer import release_frames_at_marker
from rtc.rtp_counts import RtpCounts
from tests.rtc_stubs import RecordingTransport
from tests.test_aiortc_hooks import (
    MEDIA_SSRC,
    RTX,
    RTX_SSRC,
    RecordingQueue,
    started_receiver,
    vp8_packet,
)

RECEIVER_NAMES = ("_ACTIVE_SSRC", "_CODECS", "_DECODER_ERROR", "_DECODER_QUEUE",
                  "_DECODER_THREAD", "_JITTER_BUFFER", "_KIND", "_NACK_GENERATOR",
                  "_REMOTE_BITRATE_ESTIMATOR", "_REMOTE_STREAMS", "_RTX_SSRC",
                  "_TIMESTAMP_MAPPER")


# -- the private names, as aiortc and aioice define them ------------------------------------


@pytest.mark.parametrize("kind", ["audio", "video"])
async def test_every_receiver_attribute_the_handler_reads_exists(kind):
    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver(kind).receiver
        for name in RECEIVER_NAMES:
            attribute = getattr(receive_path, name)
            assert hasattr(receiver, attribute), f"{attribute} ({name})"
    finally:
        await pc.close()


def test_the_transport_and_connection_state_the_batched_receive_reads_exists():
    source = inspect.getsource(RTCDtlsTransport)
    for name in ("self.__handshake_done", "self.__rx_bytes", "self.__rx_packets",
                 "self._rx_srtp", "self._ssl", "self._data_receiver",
                 "data = await self.transport._recv()", "await self._handle_rtp_data(",
                 "await self._handle_rtcp_data(data)", "async def _write_ssl"):
        assert name in source, name
    connection_source = inspect.getsource(aioice.ice.Connection)
    for name in ("self._queue.put_nowait((data, component))", "result = await self._queue.get()",
                 "if not len(self._nominated):"):
        assert name in connection_source, name
    protocol_source = inspect.getsource(receive_path.AIOICE_DATAGRAM_RECEIVED)
    assert "self.receiver.data_received(data, self.local_candidate.component)" in protocol_source
    # the handler's steps are aiortc's: the same calls, in this order
    handler = inspect.getsource(RTCRtpReceiver._handle_rtp_packet)
    steps = ["if not self._enabled", "self.__remote_bitrate_estimator is not None",
             "self.__active_ssrc[packet.ssrc]", "self.__codecs.get(packet.payload_type)",
             "self.__remote_streams[packet.ssrc].add(packet)", "if is_rtx(codec)",
             "unwrap_rtx(", "self.__nack_generator.add(packet)", "depayload(codec",
             "self.__jitter_buffer.add(packet)", "self.__decoder_error.is_set()",
             "await self._send_rtcp_pli(packet.ssrc)", "self.__timestamp_mapper.map(",
             "self.__decoder_queue.put((codec, encoded_frame))"]
    positions = [handler.index(step) for step in steps]
    assert positions == sorted(positions)


def test_install_is_in_place_for_every_test():
    assert receive_path.installed()  # aiortc_hooks.install(), tests/conftest.py
    assert aiortc_hooks.installed()


# -- the one-step handler against aiortc's --------------------------------------------------


def _script() -> list[RtpPacket]:
    """Frames of 3 packets (marker on the last), a packet lost (NACKed) then recovered by
    RTX, an out-of-order pair, a padding-only packet, a packet of an unknown payload type, an
    RTX packet of an unknown SSRC, an empty RTX packet."""
    packets: list[RtpPacket] = []
    sequence = 100
    for frame in range(8):
        for part in range(3):
            packets.append(vp8_packet(sequence, frame * 3000, marker=int(part == 2),
                                      payload=bytes([0x10 if part == 0 else 0x00,
                                                     frame, part, sequence & 0xFF])))
            sequence += 1
    lost = packets.pop(7)  # frame 2's middle packet: a gap, NACKed
    rtx = RtpPacket(payload_type=RTX.payloadType, sequence_number=9000,
                    timestamp=lost.timestamp, ssrc=RTX_SSRC, marker=lost.marker,
                    payload=lost.sequence_number.to_bytes(2, "big") + lost.payload)
    packets.insert(12, rtx)
    packets[15], packets[16] = packets[16], packets[15]  # reordered
    packets.append(vp8_packet(sequence, 8 * 3000, payload=b""))  # padding only
    packets.append(RtpPacket(payload_type=111, sequence_number=sequence + 1, timestamp=0,
                             ssrc=MEDIA_SSRC, payload=bytes(40)))
    packets.append(RtpPacket(payload_type=RTX.payloadType, sequence_number=9001,
                             timestamp=0, ssrc=999, payload=bytes(10)))
    packets.append(RtpPacket(payload_type=RTX.payloadType, sequence_number=9002,
                             timestamp=0, ssrc=RTX_SSRC, payload=b"\x00"))
    return packets


async def _run(one_step: bool, decoder_error_at: int | None = None, marker_buffer=False):
    transport = RecordingTransport()
    frames = RecordingQueue()
    counts = RtpCounts()
    sender = RTCRtpSender("video", RecordingTransport())

    def before(receiver: RTCRtpReceiver) -> None:
        aiortc_hooks.count_rtp_and_feedback(receiver, sender, counts)
        if one_step:
            receive_path.handle_rtp_in_one_step(receiver, counts)
        aiortc_hooks.replace_decoder_queue(receiver, frames)
        aiortc_hooks.disable_remote_bitrate_estimator(receiver)  # as the MCU's (no REMB)
        if marker_buffer:
            release_frames_at_marker(receiver)

    receiver = await started_receiver(transport, before)
    try:
        for index, packet in enumerate(_script()):
            if index == decoder_error_at:
                aiortc_hooks.decoder_error_flag(receiver).set()
            await receiver._handle_rtp_packet(packet, arrival_time_ms=index * 10)
        streams = receiver._RTCRtpReceiver__remote_streams
        stats = {ssrc: (s.base_seq, s.max_seq, s.cycles, s.packets_received)
                 for ssrc, s in streams.items()}
        return ([(codec.name, frame.data, frame.timestamp) for codec, frame in frames.frames],
                transport.sent, counts, stats,
                sorted(receiver._RTCRtpReceiver__active_ssrc))
    finally:
        await receiver.stop()


@pytest.mark.parametrize("marker_buffer", [False, True], ids=["aiortc buffer", "marker buffer"])
async def test_the_one_step_handler_does_what_aiortcs_and_the_counting_hook_did(marker_buffer):
    aiortcs = await _run(one_step=False, decoder_error_at=20, marker_buffer=marker_buffer)
    one_step = await _run(one_step=True, decoder_error_at=20, marker_buffer=marker_buffer)
    frames, rtcp, counts, stats, ssrcs = one_step
    assert len(frames) >= 6  # frames were released, the recovered one included
    assert frames == aiortcs[0]
    assert rtcp == aiortcs[1]  # the NACK for the lost packet, the PLI for the decoder error
    assert len(rtcp) >= 2
    assert counts == aiortcs[2] and counts.nack_sent >= 1 and counts.pli_sent == 1
    assert counts.payload_bytes_received > 0
    assert stats == aiortcs[3] and set(stats) == {MEDIA_SSRC, RTX_SSRC, 999}
    assert ssrcs == aiortcs[4]


async def test_a_disabled_or_unstarted_receiver_counts_nothing_with_the_one_step_handler():
    counts = RtpCounts()
    sender = RTCRtpSender("video", RecordingTransport())

    def before(receiver: RTCRtpReceiver) -> None:
        aiortc_hooks.count_rtp_and_feedback(receiver, sender, counts)
        receive_path.handle_rtp_in_one_step(receiver, counts)

    receiver = await started_receiver(RecordingTransport(), before)
    try:
        receiver._enabled = False
        await receiver._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)
        assert aiortc_hooks.receiver_rtp_packets(receiver) == 0
    finally:
        await receiver.stop()
    unstarted = RTCRtpReceiver("video", RecordingTransport())
    before(unstarted)
    await unstarted._handle_rtp_packet(vp8_packet(1, 0), arrival_time_ms=0)  # no codecs yet
    assert counts == RtpCounts()


async def test_a_receiver_that_estimates_bandwidth_keeps_aiortcs_handler_and_is_counted():
    counts = RtpCounts()
    sender = RTCRtpSender("video", RecordingTransport())
    frames = RecordingQueue()

    def before(receiver: RTCRtpReceiver) -> None:
        aiortc_hooks.count_rtp_and_feedback(receiver, sender, counts)
        receive_path.handle_rtp_in_one_step(receiver, counts)
        aiortc_hooks.replace_decoder_queue(receiver, frames)

    receiver = await started_receiver(RecordingTransport(), before)
    try:
        assert receiver._RTCRtpReceiver__remote_bitrate_estimator is not None
        await receiver._handle_rtp_packet(vp8_packet(1, 0, payload=b"\x10" + bytes(9)), 0)
        await receiver._handle_rtp_packet(vp8_packet(2, 3000), 33)
        assert counts.payload_bytes_received == 14
        assert [frame.data for _, frame in frames.frames] == [bytes(9)]
    finally:
        await receiver.stop()


# -- the demultiplexer ----------------------------------------------------------------------


class _Connection:
    def __init__(self) -> None:
        self.data: list[bytes] = []
        self.requests: list[aioice.stun.Message] = []

    def data_received(self, data: bytes, component: int) -> None:
        self.data.append(data)

    def request_received(self, message, addr, protocol) -> None:
        self.requests.append(message)


def _protocol() -> tuple[aioice.ice.StunProtocol, _Connection]:
    connection = _Connection()
    protocol = aioice.ice.StunProtocol(connection)  # type: ignore[arg-type]
    protocol.local_candidate = aioice.Candidate(
        foundation="1", component=1, transport="udp", priority=1, host="127.0.0.1",
        port=9, type="host")
    return protocol, connection


async def test_a_stun_request_goes_to_aioice_and_media_straight_to_the_connection():
    protocol, connection = _protocol()
    request = aioice.stun.Message(message_method=aioice.stun.Method.BINDING,
                                  message_class=aioice.stun.Class.REQUEST)
    receive_path.demux_datagram_received(protocol, bytes(request), ("127.0.0.1", 5))
    assert [m.transaction_id for m in connection.requests] == [request.transaction_id]
    rtp = vp8_packet(1, 0).serialize()
    dtls = b"\x16\xfe\xfd" + bytes(30)
    for data in (rtp, dtls):
        receive_path.demux_datagram_received(protocol, data, ("127.0.0.1", 5))
    assert connection.data == [rtp, dtls]


async def test_an_rtp_packet_that_parses_as_stun_is_media():
    """20 bytes, payload type 1, bytes 2-3 zero: aioice's parser takes it for a STUN binding
    request (and would not pass it on); RFC 7983 says its first byte makes it RTP."""
    data = b"\x80\x01\x00\x00" + bytes(16)
    assert aioice.stun.parse_message(data).message_method == aioice.stun.Method.BINDING
    protocol, connection = _protocol()
    receive_path.demux_datagram_received(protocol, data, ("127.0.0.1", 5))
    assert connection.data == [data] and connection.requests == []


# -- real peer connections ------------------------------------------------------------------


async def _connected_pair(track, tune_callee):
    caller, callee = RTCPeerConnection(), RTCPeerConnection()
    caller.addTrack(track)
    received: list = []
    callee.on("track", received.append)
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    tune_callee(callee.getTransceivers()[0])  # before its receiver starts
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)
    return caller, callee, received


async def test_real_peer_connections_carry_video_recover_a_loss_and_close():
    """aiortc's own video track (VP8 frames it encodes) to a receiver set up as the MCU's
    (one-step handler, marker jitter buffer), the batched receive in place; the 50th RTP
    packet dropped on arrival: the receiver NACKs it, the retransmission fills the gap and
    the frames go on; closing the caller ends the callee's DTLS transport."""
    from aiortc.mediastreams import VideoStreamTrack

    assert receive_path.installed()
    rtp_seen = [0]
    dropped: list[int] = []

    def received(data: bytes) -> bool:
        if len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
            rtp_seen[0] += 1
            if rtp_seen[0] == 50:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return False
        return True

    counts = RtpCounts()

    def tune(transceiver) -> None:
        aiortc_hooks.count_rtp_and_feedback(transceiver.receiver, transceiver.sender, counts)
        receive_path.handle_rtp_in_one_step(transceiver.receiver, counts)
        release_frames_at_marker(transceiver.receiver)

    restore = aiortc_hooks.filter_datagrams(received, lambda data: True)
    caller, callee, tracks = await _connected_pair(VideoStreamTrack(), tune)
    try:
        await within(_until(lambda: tracks), 10)
        for _ in range(90):
            await within(tracks[0].recv(), 10)
        assert dropped, "no video packet was dropped"
        assert counts.nack_sent >= 1  # the receiver asked for it
        # every packet that got through, the retransmission's included, in the statistics
        # of the RTCP receiver reports
        receiver = callee.getTransceivers()[0].receiver
        assert 50 <= aiortc_hooks.receiver_rtp_packets(receiver) <= rtp_seen[0] - 1
        assert counts.payload_bytes_received > 0
    finally:
        restore()
        await caller.close()
    transport = callee.getTransceivers()[0].receiver.transport
    await within(_until(lambda: transport.state == "closed"), 10)
    await callee.close()


async def _until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.05)


# -- Opus decoded to mono -------------------------------------------------------------------


def test_mono_opus_decoding_gives_the_samples_the_stereo_decode_and_downmix_gave():
    """A mono Opus stream (the terminals', a browser microphone's): libopus asked for mono
    gives, bit for bit, what aiortc's stereo decoder gave after the mixer's downmix."""
    import numpy as np
    from aiortc.codecs.opus import OpusDecoder
    from aiortc.jitterbuffer import JitterFrame

    from mcu.media.audio_mixer import AudioInput
    from rtc.opus_packets import MonoOpusDecoder, OpusPacketEncoder

    t = np.arange(960 * 50) / 48_000
    voice = (8000 * np.sin(2 * np.pi * 220 * t) + 3000 * np.sin(2 * np.pi * 1330 * t))
    encoder = OpusPacketEncoder()
    packets = [bytes(packet) for i in range(50)
               for packet in encoder.encode(voice[i * 960:(i + 1) * 960].astype(np.int16),
                                            i * 960)]
    stereo, mono = AudioInput(), AudioInput()
    stereo_decoder, mono_decoder = OpusDecoder(), MonoOpusDecoder()
    for index, data in enumerate(packets):
        for frame in stereo_decoder.decode(JitterFrame(data, index * 960)):
            assert frame.layout.name == "stereo"
            stereo.add(frame)
        for frame in mono_decoder.decode(JitterFrame(data, index * 960)):
            assert (frame.layout.name, frame.samples, frame.pts) == ("mono", 960, index * 960)
            mono.add(frame)
    assert len(mono.fifo) == len(stereo.fifo) == 9600  # full: the last 200 ms of the 50 frames
    assert np.array_equal(mono.fifo._ring, stereo.fifo._ring)
    assert np.abs(mono.fifo._ring).max() > 5000  # the voice, not silence
