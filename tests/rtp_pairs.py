"""Two RTP sessions of ours on loopback, negotiated through SDP text (offer -> wire ->
answer -> wire), and the media sources the tests feed them: marker pictures and tones."""

from __future__ import annotations

import asyncio
import fractions
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from mcu.model import MediaEncryptType as Encryption
from rtc.deadline import within
from rtp import sdp
from rtp.encryption_policy import SdesRule
from rtp.negotiation import CodecOffer, accept_answer, answer, offer
from rtp.session import MediaSockets, RtpSession
from rtp.tracks import IncomingTrack
from terminals.marker import MarkerPainter, read_marker


@dataclass
class Pair:
    a: RtpSession  # the offerer
    b: RtpSession  # the answerer

    async def close(self) -> None:
        await self.a.close()
        await self.b.close()


async def negotiated_pair(kind: str, codecs: tuple[CodecOffer, ...],
                          encryption: Encryption = Encryption.AUTO,
                          rtcp_interval: float = 0.5) -> Pair:
    sockets_a, sockets_b = await MediaSockets.bind(), await MediaSockets.bind()
    mine = {"video": codecs} if kind == "video" else {"audio": codecs}
    our_offer = offer("127.0.0.1", {kind: sockets_a.port}, SdesRule(encryption), **mine)  # type: ignore[arg-type]
    reply, plans_b = answer(sdp.parse(sdp.serialize(our_offer)), "127.0.0.1",
                            {kind: sockets_b.port}, SdesRule(encryption), **mine)  # type: ignore[arg-type]
    plans_a = accept_answer(our_offer, sdp.parse(sdp.serialize(reply)), SdesRule(encryption))
    a = RtpSession(sockets_a, plans_a[0], rtcp_interval=rtcp_interval)
    b = RtpSession(sockets_b, plans_b[0], rtcp_interval=rtcp_interval)
    a.start()
    b.start()
    return Pair(a, b)


class MarkerSource(MediaStreamTrack):
    """Marker pictures of one site over a textured background (several packets a frame)."""

    kind = "video"

    def __init__(self, site: int, width: int, height: int, fps: int = 15) -> None:
        super().__init__()
        self.site, self.fps = site, fps
        self.painter = MarkerPainter(width, height)
        rng = np.random.default_rng(site)  # a gradient with some grain: frames of several packets
        ramp = np.linspace(60, 190, width, dtype=np.float64)[None, :, None]
        grain = rng.normal(0, 12, (height, width, 3))
        self.background = np.clip(ramp + grain, 0, 255).astype(np.uint8)
        self.index = 0

    async def recv(self) -> av.VideoFrame:  # type: ignore[override]
        await asyncio.sleep(1 / self.fps)
        picture = self.background.copy()
        self.painter.draw(picture, self.site, self.index % 64)
        self.index += 1
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts, frame.time_base = self.index, fractions.Fraction(1, self.fps)
        return frame


class ToneSource(MediaStreamTrack):
    """A sine tone, 48 kHz stereo s16 in 20 ms frames (what the MCU's mixer hands out)."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self.sample = 0

    async def recv(self) -> av.AudioFrame:  # type: ignore[override]
        await asyncio.sleep(0.02)
        t = (self.sample + np.arange(960)) / 48000
        self.sample += 960
        mono = (8000 * np.sin(2 * np.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = 48000
        return frame


async def marker_sites(track: IncomingTrack, count: int, timeout: float = 20.0) -> list[int]:
    """The site indexes read from the next `count` readable decoded pictures."""
    sites: list[int] = []

    async def collect() -> None:
        while len(sites) < count:
            frame = await track.recv()
            reading = read_marker(frame)
            if reading is not None:
                sites.append(reading.site_index)

    await within(collect(), timeout)
    return sites


async def dominant_frequency(track: IncomingTrack, seconds: float = 1.0,
                             skip: int = 10, timeout: float = 20.0) -> float:
    """The strongest frequency (Hz) of `seconds` of decoded audio, after `skip` frames."""
    chunks: list[np.ndarray] = []
    rate = 0
    collected = 0.0

    async def collect() -> None:
        nonlocal rate, collected
        skipped = 0
        while collected < seconds:
            frame = await track.recv()
            if skipped < skip:
                skipped += 1
                continue
            samples = frame.to_ndarray().astype(np.float64)
            channels = len(frame.layout.channels)
            mono = samples.reshape(-1, channels).mean(axis=1) if samples.shape[0] == 1 else samples.mean(axis=0)
            rate = frame.sample_rate
            chunks.append(mono)
            collected += frame.samples / rate

    await within(collect(), timeout)
    signal = np.concatenate(chunks)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])
