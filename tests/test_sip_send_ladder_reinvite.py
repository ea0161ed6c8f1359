"""The send ladder's ask survives a SIP site's own re-INVITE that replaces its video session
(mcu/media/sip_ask.py SipAsker.renew; docs/sip_media.md, "A site's re-INVITE and the ask"),
from the outside: a conference booked and laid out over SOAP (zeep from the reference WSDL),
simulated SIP room systems (terminals/sip_room.py) sending pre-encoded loops, GET
/stats/media for what the MCU asked and decodes.

Two rooms (720p15 cameras, H.264 High) in a 1080p CP_4_1 conference are asked for their
960x540 panes, one by TMMBR alone, one by image attributes alone; the MCU decodes 960x540
from both. Each then re-INVITEs with H.264 constrained baseline only: another codec, so a new
RTP session (a new SSRC, the same payload type) at both ends, and the room starts it at its
own 1280x720 (its asks were the old session's). The MCU takes the new SSRC over from the old
stream still draining in, and asks the new session again - the TMMBR room gets a TMMBR naming
its new SSRC and notifies it back (TMMBN), the image-attribute room finds the ask in the
MCU's answer - and the MCU decodes fresh 960x540 pictures from both (the markers' frame
indices in the composed picture run on). Nothing else is asked: the ladder's ask did not
change, and the MCU sends no re-INVITE of its own.
"""

from __future__ import annotations

import asyncio

from terminals.sip_room import SipRoom
from tests.test_sip_endpoint import (
    IN_CONFERENCE,
    eventually,
    panes,
    room,
    status_of,
)
from tests.test_sip_send_ladder import (
    CAMERA,
    CP_4_1,
    WAIT_S,
    book_1080p,
    in_conference,
    inputs_are,
)


def running_on(viewer: SipRoom, expected: list[int]):
    """The viewer's panes show `expected` and every marker's frame index moves on between
    two readings half a second apart: the MCU composes pictures it decodes now."""
    async def check() -> bool:
        first = await viewer.read_panes()
        await asyncio.sleep(0.5)
        second = await viewer.read_panes()
        return ([p.site_index for p in first] == expected
                and [p.site_index for p in second] == expected
                and all(a.frame_index is not None and b.frame_index is not None
                        and a.frame_index != b.frame_index
                        for a, b in zip(first, second, strict=True)))
    return check


def profile(site: SipRoom) -> str:
    return video_session(site).codec.fmtp["profile-level-id"].lower()


def video_session(site: SipRoom):
    assert site.call is not None
    return next(s for s in site.call.sessions if s.kind == "video")


async def test_a_sites_reinvite_with_a_new_video_session_is_asked_again(
        gateway_server, soap, clock, rooms):  # noqa: F811
    base = gateway_server.base_url
    by_tmmbr = await room(rooms, "renew-tmmbr", 56, ladder=True, asks=("tmmbr",),
                          **CAMERA)
    by_imageattr = await room(rooms, "renew-imageattr", 57, ladder=True, asks=("imageattr",),
                              decode_video=False, **CAMERA)
    sites = [by_tmmbr, by_imageattr]
    uris = [site.uri for site in sites]
    conf_id = await asyncio.to_thread(book_1080p, soap, clock.now(), uris)
    await in_conference(soap, conf_id, uris)
    assert all(site.negotiated["video"] == "H264" for site in sites)
    assert await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                   target="0", presenceMode=CP_4_1, subPics=uris) == 0
    followed = {"asked": "960x540@30", "decoded": "960x540"}
    await eventually(inputs_are(base, conf_id, {uri: followed for uri in uris}),
                     "960x540 asked of both and decoded", WAIT_S)
    old_tmmbr_ssrc = video_session(by_tmmbr).ssrc
    tmmbr_asks = len([a for a in by_tmmbr.ladder.asks if a.how == "tmmbr"])
    reinvites = {site.uri: site.reinvites_received for site in sites}
    switched = {site.uri: len(site.ladder.switches) for site in sites}

    # each room re-offers H.264 constrained baseline instead of High: another codec, so a
    # new RTP session at both ends (a new SSRC), the room's started at its own 1280x720
    assert all(profile(site) == "640028" for site in sites)
    for site in sites:
        await site.reinvite(video_codecs=("h264-cb",))
    assert all(profile(site) == "42e01f" for site in sites)
    new_tmmbr = video_session(by_tmmbr)
    assert new_tmmbr.ssrc != old_tmmbr_ssrc
    for site in sites:  # the new session started at the room's own format
        first = site.ladder.switches[switched[site.uri]]
        assert (first.width, first.height) == (1280, 720)

    # asked again: the MCU decodes 960x540 from both new sessions; the pictures are fresh,
    # not the last ones the old sessions left (the markers' frame indices run on)
    by_tmmbr.set_panes(panes(CP_4_1)[:2])
    await eventually(running_on(by_tmmbr, [56, 57]), "both panes' pictures fresh", WAIT_S)
    await eventually(inputs_are(base, conf_id, {uri: followed for uri in uris}),
                     "960x540 decoded from both new sessions", WAIT_S)
    await eventually(running_on(by_tmmbr, [56, 57]), "both panes' pictures fresh", WAIT_S)
    # the TMMBR room: a TMMBR to its new SSRC, followed and notified back on the new session
    assert len([a for a in by_tmmbr.ladder.asks if a.how == "tmmbr"]) > tmmbr_asks
    assert by_tmmbr.ladder.asks[-1].how == "tmmbr"
    assert (by_tmmbr.ladder.asks[-1].width, by_tmmbr.ladder.asks[-1].height) == (960, 540)
    assert new_tmmbr.stats.tmmbr_received >= 1 and new_tmmbr.stats.tmmbn_sent >= 1
    # the image-attribute room: the ask in the MCU's answer, no re-INVITE of the MCU's
    assert (by_imageattr.ladder.asks[-1].how, by_imageattr.ladder.asks[-1].width,
            by_imageattr.ladder.asks[-1].height) == ("imageattr", 960, 540)
    assert {site.uri: site.reinvites_received for site in sites} == reinvites
    for site in sites:  # own format, then the ask again: nothing else
        assert [(f.width, f.height) for f in site.ladder.switches[switched[site.uri]:]] == [
            (1280, 720), (960, 540)]
    assert all(status_of(soap, conf_id, uri) == IN_CONFERENCE for uri in uris)
