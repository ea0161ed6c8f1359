"""rtc/rtp_receive.c does, packet for packet, what the Python receive path does for an
H.264 video receiver and for an audio receiver: the same NACKs, PLIs and frames (with their
levels) in the same order, the same stream statistics, NACK state, payload bytes and skip
counts. The reference is the Python path itself (`handle_rtp_in_one_step` on a real aiortc
receiver with the MCU's jitter buffers) fed the same bytes: random streams with loss,
reordering, duplicates, RTX, jumps, padding, malformed packets and header extensions. And
rtc/claimed_receivers.py, through rtc/receive_path.handle_media and real calls, claims such
receivers, feeds them and gives them back."""

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
from rtc.rtp_receive import FRAME, NACK, PLI, RtpReceive

H264, RTX, OTHER = 102, 103, 120
SSRC, RTX_SSRC = 0x11223344, 0x55667788
EXTENSIONS = [
    RTCRtpHeaderExtensionParameters(id=4, uri="urn:ietf:params:rtp-hdrext:sdes:mid"),
    RTCRtpHeaderExtensionParameters(
        id=2, uri="http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
    RTCRtpHeaderExtensionParameters(id=1, uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
]


@pytest.fixture(autouse=True)
def _claiming(monkeypatch: pytest.MonkeyPatch) -> None:
    """Claims on (rtc/receive_path.CLAIMING is off by default)."""
    from rtc import receive_path

    monkeypatch.setattr(receive_path, "CLAIMING", True)


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


def c_receiver(extensions: HeaderExtensionsMap) -> RtpReceive:
    receive = RtpReceive()
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
    choice = rng.randrange(11)
    data = bytearray(good)
    if choice == 9:  # an RTX packet whose payload is shorter than the original number
        return bytes([0x80, RTX]) + bytes(data[2:8]) + struct.pack("!L", RTX_SSRC) + b"\x01"
    if choice == 10:  # an RTX payload type from the media SSRC (no original for it)
        data[1] = (data[1] & 0x80) | RTX
        return bytes(data)
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
                  extensions: HeaderExtensionsMap, data: bytes,
                  routed: tuple[set[int], set[int]] = ({SSRC, RTX_SSRC}, {H264, RTX}),
                  ) -> list[tuple[Any, ...]]:
    try:
        packet = parse_rtp(data, extensions)
    except (ValueError, struct.error, UnicodeDecodeError):
        return []
    if packet.ssrc not in routed[0] or packet.payload_type not in routed[1]:
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
        frames.append((FRAME, codec.payloadType, frame.timestamp, frame.data,
                       getattr(frame, "level_dbov", None)))
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
        events, _, _, _ = receive.take()
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
        events, payload_bytes, active, _ = receive.take()
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
        _, payload_bytes, _, _ = receive.take()
        total += payload_bytes
    assert total == counts.payload_bytes_received
    active = receiver._RTCRtpReceiver__active_ssrc  # type: ignore[attr-defined]
    assert set(active) == {SSRC, RTX_SSRC}


def test_state_moves_in_and_out() -> None:
    """The statistics and the NACK state set from the Python objects read back the same,
    and the buffer can start where a Python buffer left its origin."""
    receive = RtpReceive(origin=65500, newest=65534)
    receive.set_stats(SSRC, 90000, 10, 65530, 1 << 16, 99, 480, 123456, 777)
    assert receive.stats(SSRC) == (90000, 10, 65530, 1 << 16, 99, 480, 123456, 777)
    assert receive.stats(RTX_SSRC) is None
    receive.set_nack_state(65530, {65529, 65400, 3})
    assert receive.nack_state() == (65530, {65529, 65400, 3})
    receive.set_nack_state(None, set())
    assert receive.nack_state() == (None, set())


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError):
        RtpReceive(capacity=500)
    receive = RtpReceive()
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


async def test_a_real_call_s_receivers_are_claimed_recover_a_loss_in_c_and_are_freed() -> None:
    """aiortc's own video (as H.264) and audio tracks to receivers set up as the MCU's
    (one-step handler, marker and audio jitter buffers, no REMB): once their buffers are
    empty they are claimed and their packets go to C as read; the sender drops a video
    packet after the claim: C NACKs it, the RTX comes back through C and fills the gap, the
    frames go on decoding, the audio too, and the statistics aiortc's RTCP reads count every
    SSRC; after the call the receivers are freed with their peer connection."""
    import gc
    import weakref

    from aiortc import RTCPeerConnection
    from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

    from rtc import aiortc_hooks, receive_path
    from rtc.audio_jitter_buffer import release_audio_at_once
    from rtc.claimed_receivers import claim_of
    from rtc.codec_preferences import codec_preferences
    from rtc.deadline import within
    from tests.test_receive_path import _until

    assert receive_path.installed()
    receivers: list[RTCRtpReceiver] = []
    dropped: list[tuple[int, bool]] = []  # (sequence number, its receiver claimed then)

    def sent(data: bytes) -> bool:  # protected RTP: the header is in the clear
        if (len(data) >= 12 and data[0] >> 6 == 2 and not 192 <= data[1] <= 223
                and not dropped and receivers and claim_of(receivers[0]) is not None):
            codec = receivers[0]._RTCRtpReceiver__codecs.get(  # type: ignore[attr-defined]
                data[1] & 0x7F)
            if codec is not None and codec.name == "H264":
                dropped.append((int.from_bytes(data[2:4], "big"), True))
                return False  # a video packet, once its receiver is claimed
        return True

    counts = RtpCounts()

    def tune(transceiver: Any) -> None:
        receiver = transceiver.receiver
        aiortc_hooks.count_rtp_and_feedback(receiver, transceiver.sender, counts)
        handle_rtp_in_one_step(receiver, counts)
        if transceiver.kind == "video":
            transceiver.setCodecPreferences(codec_preferences("video", ["H264"]))
            aiortc_hooks.disable_remote_bitrate_estimator(receiver)
            release_frames_at_marker(receiver)
        else:
            release_audio_at_once(receiver)
        receivers.append(receiver)

    restore = aiortc_hooks.filter_datagrams(None, sent)  # the caller's sends only
    caller, callee = RTCPeerConnection(), RTCPeerConnection()
    caller.addTransceiver(VideoStreamTrack(), direction="sendonly").setCodecPreferences(
        codec_preferences("video", ["H264"]))
    caller.addTransceiver(AudioStreamTrack(), direction="sendonly")
    tracks: list[Any] = []
    callee.on("track", tracks.append)
    await caller.setLocalDescription(await caller.createOffer())
    await callee.setRemoteDescription(caller.localDescription)
    for transceiver in callee.getTransceivers():  # before the receivers start
        tune(transceiver)
    await callee.setLocalDescription(await callee.createAnswer())
    await caller.setRemoteDescription(callee.localDescription)
    try:
        await within(_until(lambda: len(tracks) == 2), 10)
        video = next(track for track in tracks if track.kind == "video")
        audio = next(track for track in tracks if track.kind == "audio")
        for _ in range(90):
            frame = await within(video.recv(), 10)
        assert frame.width == 640 and frame.height == 480  # decoded pictures
        for _ in range(20):
            sound = await within(audio.recv(), 10)
        assert sound.sample_rate == 48000
        receiver, audio_receiver = receivers
        assert {codec.name for codec in receiver._RTCRtpReceiver__codecs.values()  # type: ignore
                } == {"H264", "rtx"}
        claim, audio_claim = claim_of(receiver), claim_of(audio_receiver)
        assert claim is not None and audio_claim is not None, "not claimed"
        assert dropped and dropped[0][1] and counts.nack_sent >= 1
        streams = receiver._RTCRtpReceiver__remote_streams  # type: ignore[attr-defined]
        rtx_ssrcs = receiver._RTCRtpReceiver__rtx_ssrc  # type: ignore[attr-defined]
        rtx_ssrc = next(iter(rtx_ssrcs))
        rtx_stats = claim.receive.stats(rtx_ssrc)
        assert rtx_stats is not None and rtx_stats[4] >= 1, "no RTX came back through C"
        assert streams[rtx_ssrc].packets_received == rtx_stats[4]  # written back
        media_ssrc = rtx_ssrcs[rtx_ssrc]
        assert claim.receive.nack_state()[1] == set()  # the gap filled
        assert streams[media_ssrc].packets_received == claim.receive.stats(media_ssrc)[4]
        audio_streams = audio_receiver._RTCRtpReceiver__remote_streams  # type: ignore
        (audio_ssrc, audio_stream), = audio_streams.items()
        before = audio_claim.receive.stats(audio_ssrc)[4]
        await asyncio.sleep(0.6)  # 30 more packets, through C (the claim held throughout)
        for _ in range(25):  # and decoded: the frames C released
            sound = await within(audio.recv(), 10)
        assert claim_of(audio_receiver) is audio_claim
        assert audio_stream.packets_received == audio_claim.receive.stats(audio_ssrc)[4]
        assert audio_stream.packets_received >= before + 10
        report = await callee.getStats()
        inbound = [stats for stats in report.values() if stats.type == "inbound-rtp"]
        assert {stats.kind for stats in inbound} == {"video", "audio"}
    finally:
        restore()
        await caller.close()
        await callee.close()
    freed = [weakref.ref(receiver) for receiver in receivers]
    tracks.clear()
    receivers.clear()
    receiver = audio_receiver = claim = audio_claim = video = audio = None  # type: ignore
    callee = caller = report = inbound = transceiver = None  # type: ignore[assignment]
    for _ in range(3):
        gc.collect()
        await asyncio.sleep(0.05)
    assert all(ref() is None for ref in freed), "a claimed receiver outlived its call"


def _routed(receiver: RTCRtpReceiver, ssrcs: set[int]) -> Any:
    """A DTLS transport stand-in whose router routes `ssrcs` to `receiver`, and an unknown
    SSRC by its payload type, as aiortc's RtpRouter does, for handle_media."""
    from types import SimpleNamespace

    router = SimpleNamespace(
        ssrc_table=dict.fromkeys(ssrcs, receiver),
        payload_type_table={pt: {receiver} for pt in
                            receiver._RTCRtpReceiver__codecs},  # type: ignore[attr-defined]
    )

    def route_rtp(packet: RtpPacket) -> RTCRtpReceiver | None:
        routed = router.ssrc_table.get(packet.ssrc)
        if routed is None and receiver in router.payload_type_table.get(
                packet.payload_type, ()):
            router.ssrc_table[packet.ssrc] = routed = receiver
        if routed is receiver and packet.payload_type in router.payload_type_table:
            return receiver
        return None

    router.route_rtp = route_rtp
    return SimpleNamespace(_rtp_header_extensions_map=extensions_map(), _rtp_router=router)


def _frames(decoded: queue.Queue[Any]) -> list[tuple[Any, ...]]:
    frames = []
    while not decoded.empty():
        codec, frame = decoded.get_nowait()
        frames.append((codec.payloadType, frame.timestamp, frame.data,
                       getattr(frame, "level_dbov", None)))
    return frames


def _record_feedback(receiver: RTCRtpReceiver) -> list[tuple[Any, ...]]:
    """The NACKs and PLIs `receiver` sends, recorded instead of sent."""
    sent: list[tuple[Any, ...]] = []

    async def nack(media_ssrc: int, lost: list[int]) -> None:
        sent.append((NACK, media_ssrc, list(lost)))

    async def pli(media_ssrc: int) -> None:
        sent.append((PLI, media_ssrc))

    receiver._send_rtcp_nack = nack  # type: ignore[method-assign]
    receiver._send_rtcp_pli = pli  # type: ignore[method-assign]
    return sent


async def _claimed_against_python(
        make: Any, ssrcs: set[int], wire: list[bytes],
        at: dict[int, Any]) -> tuple[RTCRtpReceiver, RTCRtpReceiver, int]:
    """`wire` in batches of 8 through handle_media to a receiver made by `make` (claimed as
    it goes) and, packet by packet, to one that stays in Python (the same router rules);
    `at[batch index](claimed, python)` run before that batch. Asserts the frames (with their
    levels), NACKs, PLIs, statistics and payload bytes equal; returns both receivers and the
    most packets the claim's C receiver counted on one SSRC."""
    from rtc import receive_path
    from rtc.claimed_receivers import claim_of

    (claimed, claimed_counts, claimed_frames), (python, python_counts, python_frames) = (
        make(), make())
    dtls, reference = _routed(claimed, ssrcs), _routed(python, ssrcs)
    claimed_sent, python_sent = _record_feedback(claimed), _record_feedback(python)
    one_step = _one_step_of(python)
    assert one_step is not None
    extensions = extensions_map()
    in_c = 0
    for index, start in enumerate(range(0, len(wire), 8)):
        batch = wire[start:start + 8]
        if index in at:
            at[index](claimed, python)
        receive_path.handle_media(dtls, batch)
        claim = claim_of(claimed)
        if claim is not None:
            in_c = max([in_c] + [claim.receive.stats(ssrc)[4] for ssrc in claim.ssrcs
                                 if claim.receive.stats(ssrc) is not None])
        for data in batch:
            try:
                packet = parse_rtp(data, extensions)
            except (ValueError, struct.error, UnicodeDecodeError):
                continue
            if reference._rtp_router.route_rtp(packet) is python:
                for pending in one_step.now(packet, 0):
                    await pending
        await asyncio.gather(*receive_path._sending)
    theirs, ours = _frames(python_frames), _frames(claimed_frames)
    assert len(theirs) > 50 and ours == theirs
    assert [e for e in claimed_sent if e[0] == NACK] == [e for e in python_sent if e[0] == NACK]
    assert [e for e in claimed_sent if e[0] == PLI] == [e for e in python_sent if e[0] == PLI]
    assert stats_of(claimed) == stats_of(python)
    assert claimed_counts.payload_bytes_received == python_counts.payload_bytes_received
    return claimed, python, in_c


def _same_buffers(claimed: RTCRtpReceiver, python: RTCRtpReceiver) -> None:
    def state(receiver: RTCRtpReceiver) -> tuple[Any, ...]:
        buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
        generator = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
        return (buffer._origin, getattr(buffer, "_newest", None),
                None if generator is None else (generator.max_seq, generator.missing),
                [(p.sequence_number, p.timestamp, p.marker, p._data, p.extensions.audio_level
                  and p.extensions.audio_level[1]) if p else None for p in buffer._packets])

    assert state(claimed) == state(python)


async def test_handle_media_claims_a_video_receiver_and_gives_it_back_mid_batch() -> None:
    """Through rtc/receive_path.handle_media in batches of 8: an H.264 receiver is claimed
    once its buffer is empty, its packets then handled in C as read; a decoder error is
    answered with a PLI; a VP8 packet from a new SSRC in the middle of a batch ends the
    claim in the Python path and the rest of that batch goes to Python too; the packets C
    held go back into the Python jitter buffer; and from first to last everything equals a
    receiver that stayed in Python."""
    from rtc.claimed_receivers import UNCLAIMABLE, claim_of

    def make() -> tuple[RTCRtpReceiver, RtpCounts, queue.Queue[Any]]:
        made = python_receiver()
        made[0]._RTCRtpReceiver__codecs[97] = RTCRtpCodecParameters(  # type: ignore
            mimeType="video/VP8", clockRate=90000, payloadType=97)
        return made

    def decoder_error(*receivers: RTCRtpReceiver) -> None:
        for receiver in receivers:
            receiver._RTCRtpReceiver__decoder_error.set()  # type: ignore[attr-defined]

    wire = random_stream(random.Random(11), 150)
    vp8 = RtpPacket(payload_type=97, marker=1, sequence_number=1, timestamp=5, ssrc=0x777,
                    payload=b"\x10\x00\x00\x9d\x01\x2a")  # a VP8 keyframe's start
    middle = 8 * (len(wire) * 2 // 3 // 8) + 3  # the 4th packet of a batch
    wire.insert(middle, vp8.serialize(extensions_map()))
    claimed, python, in_c = await _claimed_against_python(
        make, {SSRC, RTX_SSRC}, wire, {len(wire) // 24: decoder_error})
    assert in_c > 100, "the C receiver was not used"
    assert claim_of(claimed) is None and getattr(claimed, UNCLAIMABLE)
    _same_buffers(claimed, python)


async def test_a_watcher_added_after_the_claim_sees_every_packet_and_c_still_handles_them(
        ) -> None:
    """watch_rtp on a claimed receiver: its packets then go through the Python parse (the
    watcher's) and the one-step handler to the same C state (`add_packet`), the claim
    kept, everything equal to a receiver that stayed in Python."""
    from rtc import receive_path
    from rtc.claimed_receivers import claim_of

    watched: list[RtpPacket] = []
    claims: list[Any] = []

    def watch(claimed: RTCRtpReceiver, python: RTCRtpReceiver) -> None:
        claims.append(claim_of(claimed))
        receive_path.watch_rtp(claimed, watched.append)

    wire = random_stream(random.Random(12), 150)
    claimed, python, _ = await _claimed_against_python(
        python_receiver, {SSRC, RTX_SSRC}, wire, {len(wire) // 16: watch})
    assert claims[0] is not None and claim_of(claimed) is claims[0]  # claimed throughout
    assert len(watched) > 100
    stats = claims[0].receive.stats(SSRC)
    assert stats is not None and stats[4] == claimed._RTCRtpReceiver__remote_streams[  # type: ignore
        SSRC].packets_received


# ---- audio ----

OPUS, PCMU, AUDIO_SSRC = 111, 0, 0x0A0B0C0D
AUDIO_ROUTED = ({AUDIO_SSRC}, {OPUS, PCMU})


def python_audio_receiver() -> tuple[RTCRtpReceiver, RtpCounts, queue.Queue[Any]]:
    from rtc.audio_jitter_buffer import release_audio_at_once

    receiver = RTCRtpReceiver("audio", _Transport())  # type: ignore[arg-type]
    receiver._RTCRtpReceiver__codecs.update({  # type: ignore[attr-defined]
        OPUS: RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2,
                                    payloadType=OPUS),
        PCMU: RTCRtpCodecParameters(mimeType="audio/PCMU", clockRate=8000, payloadType=PCMU),
    })
    receiver._RTCRtpReceiver__decoder_thread = True  # type: ignore[attr-defined]
    receiver._RTCRtpReceiver__timestamp_mapper = _Identity()  # type: ignore[attr-defined]
    release_audio_at_once(receiver)
    counts = RtpCounts()
    handle_rtp_in_one_step(receiver, counts)
    return receiver, counts, receiver._RTCRtpReceiver__decoder_queue  # type: ignore


def random_audio(rng: random.Random, packets: int) -> list[bytes]:
    """Opus packets (a few PCMU ones) every 20 ms with their RFC 6464 levels, some without;
    losses, bursts of them, reordering, duplicates, jumps and malformed packets."""
    extensions = extensions_map()
    seq, timestamp = rng.randrange(65536), rng.randrange(1 << 32)
    wire: list[bytes] = []
    for _ in range(packets):
        codec = OPUS if rng.random() < 0.95 else PCMU
        packet = RtpPacket(payload_type=codec, sequence_number=seq, timestamp=timestamp,
                           ssrc=AUDIO_SSRC, payload=rng.randbytes(rng.randint(0, 120)))
        if rng.random() < 0.9:
            packet.extensions.audio_level = (rng.random() < 0.5, rng.randrange(128))
        packet.extensions.mid = "1"
        data = packet.serialize(extensions)
        seq, timestamp = (seq + 1) & 0xFFFF, (timestamp + 960) & 0xFFFFFFFF
        if rng.random() < 0.01:
            seq = (seq + rng.choice([2, 5, 20, 40000, -3000])) & 0xFFFF  # a jump, a restart
        draw = rng.random()
        if draw < 0.07:
            continue  # lost
        if draw < 0.09:
            wire.append(malformed(rng, data))
        elif draw < 0.12 and wire:
            wire.insert(len(wire) - rng.randrange(min(len(wire), 4)), data)
        else:
            wire.append(data)
            if draw > 0.985:
                wire.append(data)
    return wire


@pytest.mark.parametrize("seed", range(25))
def test_the_c_audio_receiver_does_what_the_python_path_does(seed: int) -> None:
    from rtc.audio_jitter_buffer import AudioJitterBuffer

    rng = random.Random(1000 + seed)
    wire = random_audio(rng, rng.choice([50, 300, 1000]))
    extensions = extensions_map()
    receiver, counts, decoded = python_audio_receiver()
    receive = RtpReceive(16, False, None, None, True)
    receive.configure({OPUS: (48000, -1), PCMU: (8000, -1)}, {}, extension_ids(extensions))
    total = levels = 0
    for index, data in enumerate(wire):
        expected = python_events(receiver, counts, decoded, extensions, data, AUDIO_ROUTED)
        receive.add(data)
        events, payload_bytes, _, _ = receive.take()
        assert events == expected, f"packet {index} of seed {seed}"
        total += payload_bytes
        levels += sum(event[0] == FRAME and event[4] is not None for event in events)
    assert levels > 0 and total == counts.payload_bytes_received
    buffer = receiver._RTCRtpReceiver__jitter_buffer  # type: ignore[attr-defined]
    assert isinstance(buffer, AudioJitterBuffer)
    assert receive.gaps_skipped == buffer.gaps_skipped
    assert receive.buffered == sum(packet is not None for packet in buffer._packets)
    assert receive.nack_state() == (None, set())
    for ssrc, expected_stats in stats_of(receiver).items():
        ours = receive.stats(ssrc)
        assert ours is not None
        assert (*ours[:5], ours[7]) == expected_stats


def test_a_ninth_ssrc_is_handed_back_untouched() -> None:
    receive = RtpReceive()
    receive.configure({H264: (90000, -1)}, {}, (None,) * 7)
    single = bytes([0x65]) + bytes(20)  # an IDR slice in a single NAL unit
    for ssrc in range(1, 9):
        assert receive.add_packet(ssrc, H264, 10, 3000, True, single) is False
    events, _, active, buffered = receive.take()
    assert len(active) == 8 and buffered == 8
    assert receive.add_packet(9, H264, 11, 3000, True, single) is True
    assert receive.take() == ([], 0, [], None)  # nothing done for it
    assert receive.stats(9) is None


def test_an_object_not_initialised_raises() -> None:
    receive = RtpReceive.__new__(RtpReceive)
    with pytest.raises(RuntimeError):
        receive.add(bytes(20))
    with pytest.raises(RuntimeError):
        receive.take()


async def test_handle_media_claims_an_audio_receiver_and_gives_it_back_for_a_ninth_ssrc(
        ) -> None:
    """An audio receiver claimed through handle_media; a watcher added later sends its
    packets with their levels through `add_packet`; packets from eight new SSRCs (routed by
    payload type) end the claim at the ninth; the packets and origin C held go back into the
    AudioJitterBuffer; from first to last everything, the levels included, equals a
    receiver that stayed in Python."""
    from rtc import receive_path
    from rtc.claimed_receivers import UNCLAIMABLE, claim_of

    claims: list[Any] = []

    def watch(claimed: RTCRtpReceiver, python: RTCRtpReceiver) -> None:
        claims.append(claim_of(claimed))
        receive_path.watch_rtp(claimed, lambda packet: None)

    rng = random.Random(21)
    wire = random_audio(rng, 600)
    extensions = extensions_map()
    strangers = [RtpPacket(payload_type=OPUS, sequence_number=rng.randrange(65536),
                           timestamp=0, ssrc=0x5000 + n, payload=b"\xfc\x01").serialize(
                               extensions) for n in range(8)]
    at = 8 * (len(wire) * 2 // 3 // 8) + 2
    wire[at:at] = strangers
    claimed, python, in_c = await _claimed_against_python(
        python_audio_receiver, {AUDIO_SSRC}, wire, {len(wire) // 24: watch})
    assert claims[0] is not None and in_c > 100
    assert claim_of(claimed) is None and getattr(claimed, UNCLAIMABLE)
    _same_buffers(claimed, python)
