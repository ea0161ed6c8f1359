"""The conference's `presentation` sets the content frame rate, from the outside: the MCU
signals it to every terminal (the `content` parameters of invite/joined: presentation and
fps), the floor holder's content source sends at that rate, and what another site decodes
(forwarded unchanged, or transcoded by the MCU) arrives at the same rate.

WS/T 546 ConferenceInfoEx.presentation: 0 film (slides: a still page, 5 fps, sharp), 1 moving
pictures (motion: the aux format's rate, here 640x360 at 30 fps), 2 dual stream (as 1).
A real server, real simulated terminals over signalling and WebRTC, SOAP through zeep.

The bounds leave room for a loaded 2-core test machine (a starved MCU loses some incoming
frames); they still tell 5 fps from 30 fps apart. Each test prints what it measured.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest

from gateway.signalling import SIGNALLING
from mcu.model import ConferenceSpec, Presentation, SiteSpec, VideoFormat
from rtc.signalling import ContentParams, Invite, SignallingError, parse_message
from terminals.client import SimulatedTerminal
from terminals.content_source import Presentation as SentPresentation
from tests.test_content_stream import (
    content_from,
    eventually,
    joined,
    server,
    soap,
    soap_call,
    start_all,
    terminal,
)

__all__ = ["server"]  # the running server fixture, shared with the content stream tests

MEASURE_S = 4.0
MEASURE_WINDOWS = 3  # windows a rate may take to be shown within its bounds
# a light stream (the modes' own bit rates are for 1080p), so that on a loaded test machine
# the packets are not lost in bursts; the frame rate is what is measured here
CONTENT_BITRATE = 600_000


def test_content_parameters_are_checked():
    invite = Invite("c1", "123", "consultation", "v=0", content=ContentParams(1, 30))
    assert parse_message(invite.to_json()) == invite
    assert parse_message(Invite("c1", "123", "x", "v=0").to_json()).content is None
    for presentation, fps in ((3, 30), (-1, 5), (0, 0), (1, 61)):
        bad = Invite("c1", "123", "x", "v=0", content=ContentParams(presentation, fps))
        with pytest.raises(SignallingError):
            parse_message(bad.to_json())


async def received_fps(viewer: SimulatedTerminal, seconds: float = MEASURE_S) -> float:
    """Content frames the viewer decodes per second over `seconds`."""
    before = viewer.content.frames_decoded
    start = time.monotonic()
    await asyncio.sleep(seconds)
    return (viewer.content.frames_decoded - before) / (time.monotonic() - start)


@pytest.mark.parametrize("route", ["forward", "transcode"])
@pytest.mark.parametrize(("presentation", "sent", "fps", "low", "high"), [
    (Presentation.FILM, SentPresentation.SLIDES, 5, 3.5, 6.5),
    (Presentation.LIVE_VIDEO, SentPresentation.MOTION, 30, 12.0, 33.0),
])
async def test_the_content_rate_follows_the_presentation(
        server, presentation, sent, fps, low, high, route):
    base = 30 + 4 * int(presentation) + 2 * (route == "transcode")
    # A's content source starts in the other mode: only the MCU's signalling can set it
    other = (SentPresentation.MOTION if sent is SentPresentation.SLIDES
             else SentPresentation.SLIDES)
    a = terminal(base, content="record", content_size=(640, 360), content_presentation=other)
    assert a.content_source is not None
    a.content_source.bitrate = CONTENT_BITRATE
    # B decodes H.264 like A (forwarded) or only VP8 (transcoded by the MCU)
    b = terminal(base + 1, content_codecs=["VP8"] if route == "transcode" else None)
    terminals = [a, b]
    await start_all(server, terminals)
    try:
        sites = [SiteSpec(t.uri, name=f"Site {t.uri}", video_format=VideoFormat.HD1080P30)
                 for t in terminals]
        spec = ConferenceSpec("content rate", server.clock.now(), timedelta(hours=1), sites,
                              aux_video_format=VideoFormat.P360, presentation=presentation)
        conf_id = server.gateway.scheduler.schedule(spec).conf_id
        server.gateway.runtime.reconcile()
        await eventually(lambda: joined(server, conf_id, [t.uri for t in terminals]),
                         what="both in conference")
        # signalled: the presentation and the rate, and the source follows them
        assert (a.content_source.presentation, a.content_source.video_format.fps) == (sent, fps)
        clients = await soap(server)
        assert await soap_call(clients.site_mgr, "setAuxStreamEx", siteUri=a.uri,
                               controlCode=0) == 0
        await eventually(lambda: a.sending_content, what="A sends once granted the floor")
        await eventually(content_from(b, a), what="B decodes A's content")
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        assert media.content_route(b.uri) == route
        output = media.content_output(media.sites[b.uri])
        assert output is not None and output.fps == fps  # what the MCU sends (transcoded)
        await asyncio.sleep(1.0)  # past the first frames
        track = a.content_track
        assert track is not None
        # Up to MEASURE_WINDOWS windows: a forwarded stream has no loss concealment, so on a
        # starved machine one lost datagram stops B's decoder until the next keyframe; the
        # rate must be shown within its bounds in one window, and never above them.
        readings: list[tuple[float, float]] = []
        for _ in range(MEASURE_WINDOWS):
            sent_before, start = track.frames_sent, time.monotonic()
            rate = await received_fps(b)
            sent_rate = (track.frames_sent - sent_before) / (time.monotonic() - start)
            readings.append((sent_rate, rate))
            print(f"\npresentation {int(presentation)} {route}: signalled {fps} fps, "
                  f"sent {sent_rate:.1f} fps, decoded {rate:.1f} fps")
            assert sent_rate <= fps + 1.5 and rate <= high, readings
            if 0.75 * fps <= sent_rate and low <= rate:
                break
        else:
            raise AssertionError(f"no window within the bounds (sent, decoded): {readings}")
    finally:
        for t in terminals:
            await t.stop()
