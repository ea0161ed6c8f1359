"""One content-format rule (mcu/media/content_format.py), from the outside: the content m-line
the MCU states in a site's SDP and the content it transcodes to that site agree, for a booked
auxVideoFormat, down to the picture size the receiving terminal decodes.

A real server, real simulated terminals over signalling and WebRTC, SOAP through zeep built
from the reference WSDL (the helpers of tests/test_content_stream.py).
"""

from __future__ import annotations

from datetime import timedelta

from aiortc.sdp import SessionDescription

from gateway.signalling import SIGNALLING
from mcu.media.content_format import CONTENT_SLIDES_FPS
from mcu.model import ConferenceSpec, Presentation, SiteSpec, VideoFormat
from rtc.h264_levels import macroblocks
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


def content_fmtp(sdp: str, codec: str) -> dict[str, object]:
    """The fmtp parameters of `codec` on the SDP's content (second video) m-line."""
    videos = [m for m in SessionDescription.parse(sdp).media if m.kind == "video"]
    return next(dict(c.parameters) for c in videos[1].rtp.codecs if c.name.upper() == codec)


async def test_the_content_mline_states_the_size_the_receiver_decodes(server):
    """auxVideoFormat 720p30, presentation 0: A shares 720p content in H.264; B (1080p booked,
    a VP8-only content decoder) gets it transcoded at 1280x720, C (booked VGA: its screen
    takes no more) at 640x480. Each one's content m-line states exactly that picture (VP8
    max-fs in macroblocks, max-fr the slides rate), and that is what it decodes."""
    a = terminal(21, content="radiograph", content_size=(1280, 720))
    b = terminal(22, content_codecs=["VP8"])
    c = terminal(23, content_codecs=["VP8"])
    terminals = [a, b, c]
    await start_all(server, terminals)
    try:
        booked = {a.uri: VideoFormat.HD1080P30, b.uri: VideoFormat.HD1080P30,
                  c.uri: VideoFormat.VGA}
        sites = [SiteSpec(t.uri, name=f"Site {t.uri}", video_format=booked[t.uri])
                 for t in terminals]
        spec = ConferenceSpec("content format", server.clock.now(), timedelta(hours=1), sites,
                              aux_video_format=VideoFormat.HD720P30,
                              presentation=Presentation.FILM)
        conf_id = server.gateway.scheduler.schedule(spec).conf_id
        server.gateway.runtime.reconcile()
        await eventually(lambda: joined(server, conf_id, [t.uri for t in terminals]),
                         what="all three in conference")
        expected = {b.uri: (1280, 720), c.uri: (640, 480)}
        for viewer in (b, c):
            assert viewer.sdp_received is not None
            fmtp = content_fmtp(viewer.sdp_received, "VP8")
            width, height = expected[viewer.uri]
            mb_w, mb_h = macroblocks(width, height)
            assert (int(fmtp["max-fs"]), int(fmtp["max-fr"])) == (mb_w * mb_h,
                                                                 CONTENT_SLIDES_FPS)
        clients = await soap(server)
        assert await soap_call(clients.site_mgr, "setAuxStreamEx", siteUri=a.uri,
                               controlCode=0) == 0
        assert a.start_content()
        media = server.app[SIGNALLING].engine.conferences[conf_id]
        for viewer in (b, c):
            await eventually(content_from(viewer, a), what=f"{viewer.uri} decodes A's content")
            assert media.content_route(viewer.uri) == "transcode"
            frame = viewer.content.last_frame
            assert frame is not None
            assert (frame.width, frame.height) == expected[viewer.uri]
            output = media.content_output(media.sites[viewer.uri])
            assert output is not None
            assert (output.codec, output.size, output.fps) == (
                "VP8", expected[viewer.uri], CONTENT_SLIDES_FPS)
    finally:
        for t in terminals:
            await t.stop()
