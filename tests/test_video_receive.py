"""rtc/video_receive.c does, packet for packet, what the Python receive path does for an
H.264 video receiver: the same NACKs, PLIs and frames in the same order, the same stream
statistics, NACK state, payload bytes and keyframe skips. The reference is the Python path
itself (`handle_rtp_in_one_step` on a real aiortc receiver with a MarkerJitterBuffer) fed
the same bytes: random streams with loss, reordering, duplicates, RTX, jumps, padding,
malformed packets and header extensions."""

from __future__ import annotations

import asyncio
import queue
import random
import struct
from typing import Any

import pytest
from aiortc import RTCRtpCodecParameters, RTCRtpReceiver
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from rtc.jitter_buffer import MarkerJitterBuffer, release_frames_at_marker
from rtc.receive_path import _one_step_of, handle_rtp_in_one_step
from rtc.rtp_counts import RtpCounts
from rtc.rtp_parse import parse_rtp
from rtc.video_receive import FRAME, NACK, PLI, VideoReceive

H264, RTX, OTHER = 102, 103, 111
SSRC, RTX_SSRC = 0x11223344, 0x55667788
EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
    RTCRtpHeaderExtensionParameters(
        id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
]


class _Transport:
    state = "new"


class _Identity:
    def map(self, timestamp: int) -> int:
        return timestamp


def python_receiver() -> tuple[RTCRtpReceiver, RtpCounts, queue.Queue[Any]]:
    receiver = RTCRtpReceiver("video", _Transport())  # type: ignore[arg-type]
    codecs = {
        H264: RTCRtpCodecParameters(mimeType="video/H264", clockRate=90000, payloadType=H264),
        RTX: RTCRtpCodecParameters(mimeType="video/rtx", clockRate=90000, payloadType=RTX,
                                   parameters={"apt": H264}),
    }
    receiver._RTCRtpReceiver__codecs.update(codecs)  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__rtx_ssrc[RTX_SSRC] = SSRC  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__remote_bitrate_estimator = None  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__decoder_thread = True  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__timestamp_mapper = _Identity()  # type: ignore[attr-defined]
    release_frames_at_marker(receiver)
    counts = RtpCounts()
    handle_rtp_in_one_step(receiver, counts)
    return receiver, counts, receiver._RTCRtpReceiver__decoder_queue  # type: ignore


def extensions_map() -> HeaderExtensionsMap:
    extensions = HeaderExtensionsMap()
    extensions.configure(RTCRtpParameters(headerExtensions=EXTENSIONS))
    return extensions


def extension_ids(extensions: HeaderExtensionsMap) -> tuple[int | None, ...]:
    ids = extensions._HeaderExtensionsMap__ids  # type: ignore[attr-defined]
    return (ids.mid, ids.repaired_rtp_stream_id, ids.rtp_stream_id, ids.abs_send_time,
            ids.transmission_offset, ids.audio_level, ids.transport_sequence_number)


def c_receiver(extensions: HeaderExtensionsMap) -> VideoReceive:
    receive = VideoReceive()
    receive.configure({H264: (90000, -1), RTX: (90000, H264)}, {RTX_SSRC: SSRC},
                      extension_ids(extensions))
    return receive


# ---- random H.264 streams ----

def nal(nal_type: int, size: int, rng: random.Random) -> bytes:
    return bytes([0x60 | nal_type]) + rng.randbytes(size)


def frame_payloads(keyframe: bool, rng: random.Random) -> list[bytes]:
    """The RTP payloads of one frame: a keyframe as STAP-A (SPS, PPS) or single NAL units
    then an IDR slice, a delta frame as one slice; a slice over 900 bytes as FU-A."""
    payloads: list[bytes] = []
    if keyframe:
        sps, pps = nal(7, rng.randint(5, 20), rng), nal(8, rng.randint(2, 6), rng)
        if rng.random() < 0.5:
            payloads.append(bytes([0x78]) + b"".join(
                struct.pack("!H", len(unit)) + unit for unit in (sps, pps)))
        else:
            payloads += [sps, pps]
    unit = nal(5 if keyframe else 1, rng.choice([30, 400, 1500, 4000]), rng)
    if len(unit) <= 900:
        payloads.append(unit)
    else:
        body = unit[1:]
        pieces = [body[i:i + 900] for i in range(0, len(body), 900)]
        for index, piece in enumerate(pieces):
            header = (0x80 if index == 0 else 0) | (0x40 if index == len(pieces) - 1 else 0)
            payloads.append(bytes([0x60 | 28, header | (unit[0] & 0x1F)]) + piece)
    return payloads


def serialize(packet: RtpPacket, extensions: HeaderExtensionsMap) -> bytes:
    return packet.serialize(extensions)


def rtx_of(packet: RtpPacket, rtx_seq: int) -> RtpPacket:
    rtx = RtpPacket(payload_type=RTX, marker=packet.marker, sequence_number=rtx_seq,
                    timestamp=packet.timestamp, ssrc=RTX_SSRC,
                    payload=struct.pack("!H", packet.sequence_number) + packet.payload)
    rtx.extensions = packet.extensions
    return rtx


def malformed(rng: random.Random, good: bytes) -> bytes:
    """One way or another a packet the parse or the depayload refuses (or takes)."""
    choice = rng.randrange(9)
    data = bytearray(good)
    if choice == 0:
        return bytes(data[:rng.randrange(12)])  # too short
    if choice == 1:
        data[0] = (data[0] & 0x3F) | 0x40  # version 1
        return bytes(data)
    if choice == 2:
        data[0] |= 0x20  # padding, its length byte random
        data[-1] = rng.choice([0, 1, 3, 255])
        return bytes(data)
    if choice == 3:
        data[0] = (data[0] & 0xF0) | 15  # CSRCs past the end
        return bytes(data[:40])
    if choice == 4:  # an element truncated / an abs-send-time of the wrong size
        header = bytes([0x90, data[1]]) + bytes(data[2:12])
        element = rng.choice([b"\x23\x01\x02\x03\x04", b"\x22\x01\x02", b"\x4f\x01",
                              b"\x40\xff", b"\x10\x81\x00\x00", b"\x00\x00\x11\x05"])
        element += bytes(-len(element) % 4)
        return header + struct.pack("!HH", 0xBEDE, len(element) // 4) + element + \
            bytes(data[12:])
    if choice == 5:  # two-byte profile, possibly truncated
        header = bytes([0x90, data[1]]) + bytes(data[2:12])
        element = rng.choice([b"\x04\x02ab", b"\x04\x09a", b"\x02\x03\x01\x02\x03",
                              b"\x00\x04", b"\x04\x02\xff\xfe"])
        element += bytes(-len(element) % 4)
        return header + struct.pack("!HH", 0x1000, len(element) // 4) + element + \
            bytes(data[12:])
    if choice == 6:
        payload_start = len(good) - rng.randrange(1, 4)
        return bytes(data[:12]) + bytes([rng.choice([0, 30, 31, 25])]) + bytes(
            data[payload_start:])  # a NAL type aiortc refuses
    if choice == 7:
        return bytes(data[:12]) + bytes([0x78, 0x00])  # STAP-A truncated
    data[1] = (data[1] & 0x80) | OTHER  # a payload type the receiver does not take
    return bytes(data)


def random_stream(rng: random.Random, frames: int) -> list[bytes]:
    extensions = extensions_map()
    seq = rng.randrange(65536)
    rtx_seq = rng.randrange(65536)
    timestamp = rng.randrange(1 << 32)
    sent: list[RtpPacket] = []
    for index in range(frames):
        keyframe = index == 0 or rng.random() < 0.08
        payloads = frame_payloads(keyframe, rng)
        for position, payload in enumerate(payloads):
            packet = RtpPacket(payload_type=H264, marker=int(position == len(payloads) - 1),
                               sequence_number=seq, timestamp=timestamp, ssrc=SSRC,
                               payload=payload)
            packet.extensions.mid = rng.choice(["0", "1", "video"])
            if rng.random() < 0.5:
                packet.extensions.abs_send_time = rng.randrange(1 << 24)
            sent.append(packet)
            seq = (seq + 1) & 0xFFFF
        if rng.random() < 0.03:  # a padding-only packet after the frame
            padding = RtpPacket(payload_type=H264, sequence_number=seq, timestamp=timestamp,
                                ssrc=SSRC, payload=b"")
            sent.append(padding)
            seq = (seq + 1) & 0xFFFF
        timestamp = (timestamp + 3000) & 0xFFFFFFFF
        if rng.random() < 0.01:
            seq = (seq + rng.choice([150, 600, 40000])) & 0xFFFF  # a jump
    wire: list[bytes] = []
    lost: list[RtpPacket] = []
    for packet in sent:
        draw = rng.random()
        if draw < 0.06:
            lost.append(packet)
            continue
        data = serialize(packet, extensions)
        if draw < 0.09:
            wire.append(malformed(rng, data))
            continue
        if draw < 0.11 and wire:
            wire.insert(len(wire) - rng.randrange(min(len(wire), 6)), data)  # reordered
            continue
        wire.append(data)
        if draw > 0.98:
            wire.append(data)  # duplicated
        if lost and rng.random() < 0.3:  # a retransmission of an earlier loss
            again = lost.pop(rng.randrange(len(lost)))
            if rng.random() < 0.8:
                wire.append(serialize(rtx_of(again, rtx_seq), extensions))
                rtx_seq = (rtx_seq + 1) & 0xFFFF
            else:
                wire.append(serialize(again, extensions))
    return wire


def python_events(receiver: RTCRtpReceiver, counts: RtpCounts, decoded: queue.Queue[Any],
                  extensions: HeaderExtensionsMap, data: bytes) -> list[tuple[Any, ...]]:
    try:
        packet = parse_rtp(data, extensions)
    except (ValueError, struct.error, UnicodeDecodeError):
        return []
    if packet.ssrc not in (SSRC, RTX_SSRC) or packet.payload_type not in (H264, RTX):
        return []  # the router would not route it here
    one_step = _one_step_of(receiver)
    assert one_step is not None
    events: list[tuple[Any, ...]] = []
    for pending in one_step.now(packet, 0):
        arguments = pending.cr_frame.f_locals  # type: ignore[attr-defined]
        if "lost" in arguments:
            events.append((NACK, arguments["media_ssrc"], list(arguments["lost"])))
        else:
            events.append((PLI, arguments["media_ssrc"]))
        pending.close()
    frames = []
    while not decoded.empty():
        codec, frame = decoded.get_nowait()
        frames.append((FRAME, codec.payloadType, frame.timestamp, frame.data))
    # a packet's NACK comes before its frame, its PLI before its frame too (handle_now)
    return sorted(events, key=lambda event: event[0]) + frames


def stats_of(receiver: RTCRtpReceiver) -> dict[int, tuple[Any, ...]]:
    streams = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
    return {ssrc: (stream._clockrate, stream.base_seq, stream.max_seq, stream.cycles,
                   stream.packets_received, stream._last_timestamp)
            for ssrc, stream in streams.items()}


@pytest.mark.parametrize("seed", range(40))
def test_the_c_receiver_does_what_the_python_path_does(seed: int) -> None:
    rng = random.Random(seed)
    wire = random_stream(rng, rng.choice([30, 120, 400]))
    extensions = extensions_map()
    receiver, counts, decoded = python_receiver()
    receive = c_receiver(extensions)
    frames = 0
    for index, data in enumerate(wire):
        expected = python_events(receiver, counts, decoded, extensions, data)
        receive.add(data)
        events, _, _ = receive.take()
        assert events == expected, f"packet {index} of seed {seed}"
        frames += sum(event[0] == FRAME for event in expected)
    assert frames > 0  # every stream releases frames (the totals: the test below)
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    assert isinstance(buffer, MarkerJitterBuffer)
    assert (receive.keyframe_skips, receive.packets_skipped) == (
        buffer.keyframe_skips, buffer.packets_skipped)
    generator = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
    assert receive.nack_state() == (generator.max_seq, generator.missing)
    theirs = stats_of(receiver)
    for ssrc, expected_stats in theirs.items():
        ours = receive.stats(ssrc)
        assert ours is not None
        clock, base, top, cycles, received, _jitter, _arrival, last_ts = ours
        assert (clock, base, top, cycles, received, last_ts) == expected_stats
    assert receive.buffered == sum(packet is not None for packet in buffer._packets)


def test_every_path_is_exercised_across_the_seeds() -> None:
    """The random streams above do reach losses, NACKs, PLIs and keyframes past a gap."""
    totals = {NACK: 0, PLI: 0, FRAME: 0}
    skips = 0
    for seed in range(40):
        rng = random.Random(seed)
        wire = random_stream(rng, rng.choice([30, 120, 400]))
        receive = c_receiver(extensions_map())
        for data in wire:
            receive.add(data)
        events, payload_bytes, active = receive.take()
        assert payload_bytes > 0 and set(active) <= {SSRC, RTX_SSRC}
        for event in events:
            totals[event[0]] += 1
        skips += receive.keyframe_skips
    assert totals[NACK] > 100 and totals[PLI] > 0 and totals[FRAME] > 1000
    assert skips > 0


def test_payload_bytes_and_active_ssrcs_are_those_of_the_python_path() -> None:
    rng = random.Random(7)
    wire = random_stream(rng, 200)
    extensions = extensions_map()
    receiver, counts, decoded = python_receiver()
    receive = c_receiver(extensions)
    total = 0
    for data in wire:
        python_events(receiver, counts, decoded, extensions, data)
        receive.add(data)
        _, payload_bytes, _ = receive.take()
        total += payload_bytes
    assert total == counts.payload_bytes_received
    active = receiver._RTCRtpReceiver__active_ssrc  # type: ignore[attr-defined]
    assert set(active) == {SSRC, RTX_SSRC}


def test_state_moves_in_and_out() -> None:
    """The statistics and the NACK state set from the Python objects read back the same,
    and the buffer can start where a Python buffer left its origin."""
    receive = VideoReceive(origin=65500, newest=65534)
    receive.set_stats(SSRC, 90000, 10, 65530, 1 << 16, 99, 480, 123456, 777)
    assert receive.stats(SSRC) == (90000, 10, 65530, 1 << 16, 99, 480, 123456, 777)
    assert receive.stats(RTX_SSRC) is None
    receive.set_nack_state(65530, {65529, 65400, 3})
    assert receive.nack_state() == (65530, {65529, 65400, 3})
    receive.set_nack_state(None, set())
    assert receive.nack_state() == (None, set())


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        VideoReceive(capacity=500)
    receive = VideoReceive()
    with pytest.raises(ValueError):
        receive.configure({200: (90000, -1)}, {}, (None,) * 7)
    with pytest.raises(ValueError):
        receive.configure({96: (90000, -1)}, {}, (None,) * 3)
    with pytest.raises(TypeError):
        receive.configure({96: 90000}, {}, (None,) * 7)  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        receive.add("not bytes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        receive.set_stats(SSRC, 90000, None, None, 0, 0, 0, 5, None)


async def test_a_real_call_s_h264_receiver_is_claimed_and_recovers_a_loss_through_c() -> None:
    """aiortc's own video track sent as H.264 to a receiver set up as the MCU's (one-step
    handler, marker jitter buffer, no REMB): once its jitter buffer is empty it is claimed
    and its packets go to C as read; the sender drops its 80th RTP packet: C NACKs it,
    the RTX comes back through C and fills the gap, the frames go on decoding, and the
    statistics aiortc's RTCP reads count both SSRCs."""
    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import VideoStreamTrack

    from rtc import aiortc_hooks, receive_path
    from rtc.claimed_video import claim_of
    from rtc.codec_preferences import codec_preferences
    from rtc.deadline import within
    from tests.test_receive_path import _until

    assert receive_path.installed()
    rtp_sent = [0]
    dropped: list[int] = []

    def sent(data: bytes) -> bool:  # protected RTP: the header is in the clear
        if len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223:
            rtp_sent[0] += 1
            if rtp_sent[0] == 80:
                dropped.append(int.from_bytes(data[2:4], "big"))
                return False
        return True

    counts = RtpCounts()

    def tune(transceiver: Any) -> None:
        transceiver.setCodecPreferences(codec_preferences("video", ["H264"]))
        aiortc_hooks.count_rtp_and_feedback(transceiver.receiver, transceiver.sender, counts)
        aiortc_hooks.disable_remote_bitrate_estimator(transceiver.receiver)
        handle_rtp_in_one_step(transceiver.receiver, counts)
        release_frames_at_marker(transceiver.receiver)

    restore = aiortc_hooks.filter_datagrams(None, sent)  # the caller's sends only
    caller, callee = RTCPeerConnection(), RTCPeerConnection()
    caller.addTransceiver(VideoStreamTrack(), direction="sendonly").setCodecPreferences(
        codec_preferences("video", ["H264"]))
    tracks: list[Any] = []
    callee.on("track", tracks.append)
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    tune(callee.getTransceivers()[0])  # before its receiver starts
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)
    try:
        await within(_until(lambda: tracks), 10)
        for _ in range(90):
            frame = await within(tracks[0].recv(), 10)
        assert frame.width == 640 and frame.height == 480  # decoded pictures
        receiver = callee.getTransceivers()[0].receiver
        assert {codec.name for codec in receiver._RTCRtpReceiver__codecs.values()  # type: ignore
                } == {"H264", "rtx"}
        claim = claim_of(receiver)
        assert claim is not None, "the H.264 receiver was not claimed"
        assert dropped and counts.nack_sent >= 1
        streams = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        rtx_ssrcs = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
        assert any(ssrc in rtx_ssrcs and stream.packets_received >= 1
                   for ssrc, stream in streams.items()), "no RTX came back through C"
        media = [stream for ssrc, stream in streams.items() if ssrc not in rtx_ssrcs]
        assert media and media[0].packets_received >= 89
        assert claim.receive.stats(next(s for s in streams if s not in rtx_ssrcs))[4] == \
            media[0].packets_received  # written back to aiortc's statistics
        assert counts.payload_bytes_received >= media[0].packets_received
    finally:
        restore()
        await caller.close()
        await callee.close()


def _routed_receiver(with_vp8: bool) -> tuple[RTCRtpReceiver, RtpCounts, queue.Queue[Any], Any]:
    """A receiver as python_receiver's (VP8 at payload type 97 too when asked), and a DTLS
    transport stand-in whose router routes its SSRCs to it, for handle_media."""
    from types import SimpleNamespace

    receiver, counts, decoded = python_receiver()
    if with_vp8:
        receiver._RTCRtpReceiver__codecs[97] = RTCRtpCodecParameters(  # type: ignore
            mimeType="video/VP8", clockRate=90000, payloadType=97)
    router = SimpleNamespace(
        ssrc_table={SSRC: receiver, RTX_SSRC: receiver},
        payload_type_table={pt: {receiver} for pt in
                            receiver._RTCRtpReceiver__codecs},  # type: ignore[attr-defined]
    )
    router.route_rtp = lambda packet: (
        receiver if router.ssrc_table.get(packet.ssrc) is receiver
        and receiver in router.payload_type_table.get(packet.payload_type, ()) else None)
    dtls = SimpleNamespace(_rtp_header_extensions_map=extensions_map(), _rtp_router=router)
    return receiver, counts, decoded, dtls


def _frames(decoded: queue.Queue[Any]) -> list[tuple[int, int, bytes]]:
    frames = []
    while not decoded.empty():
        codec, frame = decoded.get_nowait()
        frames.append((codec.payloadType, frame.timestamp, frame.data))
    return frames


async def test_handle_media_claims_a_receiver_and_gives_it_back_for_another_codec() -> None:
    """Through rtc/receive_path.handle_media in batches of 8: an H.264 receiver is claimed
    once its buffer is empty, its packets then handled in C; a VP8 packet ends the claim,
    the packets C held go back into the Python jitter buffer, and from first to last the
    frames, NACK state and statistics are those of a receiver that stayed in Python."""
    from rtc import receive_path
    from rtc.claimed_video import UNCLAIMABLE, claim_of

    rng = random.Random(11)
    wire = random_stream(rng, 150)
    vp8 = RtpPacket(payload_type=97, marker=1, sequence_number=1, timestamp=5, ssrc=SSRC,
                    payload=b"\x10\x00\x00\x9d\x01\x2a")  # a VP8 keyframe's start
    wire.insert(len(wire) * 2 // 3, vp8.serialize(extensions_map()))
    claimed, claimed_counts, claimed_frames, dtls = _routed_receiver(with_vp8=True)
    python, python_counts, python_frames, _ = _routed_receiver(with_vp8=True)
    one_step = _one_step_of(python)
    assert one_step is not None
    extensions = extensions_map()
    seen_claim = False
    for start in range(0, len(wire), 8):
        receive_path.handle_media(dtls, wire[start:start + 8])
        seen_claim = seen_claim or claim_of(claimed) is not None
        for data in wire[start:start + 8]:
            try:
                packet = parse_rtp(data, extensions)
            except (ValueError, struct.error, UnicodeDecodeError):
                continue
            if packet.payload_type in python._RTCRtpReceiver__codecs:  # type: ignore
                for pending in one_step.now(packet, 0):
                    pending.close()
    await asyncio.sleep(0)
    assert seen_claim and claim_of(claimed) is None and getattr(claimed, UNCLAIMABLE)
    theirs, ours = _frames(python_frames), _frames(claimed_frames)
    assert len(theirs) > 50 and ours == theirs
    for name in ("nack_generator", "jitter_buffer"):
        mine = getattr(claimed, f"_RTCRtpReceiver__{name}")
        reference = getattr(python, f"_RTCRtpReceiver__{name}")
        if name == "nack_generator":
            assert (mine.max_seq, mine.missing) == (reference.max_seq, reference.missing)
        else:
            assert (mine._origin, mine._newest) == (reference._origin, reference._newest)
            assert [(p.sequence_number, p.timestamp, p.marker, p._data) if p else None
                    for p in mine._packets] == [
                (p.sequence_number, p.timestamp, p.marker, p._data) if p else None
                for p in reference._packets]
    assert stats_of(claimed) == stats_of(python)
    assert claimed_counts.payload_bytes_received == python_counts.payload_bytes_received
