"""Cascading (issue 18): one conference over two media engines, each composing its own sites
and exchanging one stream each way over a cascade link (mcu/media/cascade/, docs/cascade.md),
proved with real terminals on both engines, real RTP between the engines and a real control
connection:

- eight sites, four on each engine: every terminal decodes all eight markers in the same
  panes of the CP_9_1 picture, whichever engine its call is on;
- N-1 audio across the link: a site hears the talkers of the other engine and of its own,
  never itself (no echo through the link);
- voice switching across the link: a loud site of the leaf becomes the conference's
  speaker, and the voice-switched picture changes for the sites of both engines;
- the control connection refuses what it does not declare, says why, and changes nothing;
- the tile picture's panes cut back into the sites' pictures.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import numpy as np
import pytest

from mcu.layouts import layout_mode, pixel_rects
from mcu.media.cascade.leaf import ROOT_URI, CascadeError, CascadeUplink
from mcu.media.cascade.protocol import MAX_LINE_BYTES, ProtocolError, decode
from mcu.media.cascade.root import RootRole
from mcu.media.cascade.tiles import TileCutter, cut_tiles, tile_mode
from mcu.media.compositor import Compositor
from mcu.media.pictures import PictureKey, PictureKind
from mcu.model import SiteCallState
from rtc.deadline import within
from tests.cascade_helpers import two_engines
from tests.test_media_acceptance import book, eventually, eventually_async, panes_of, states
from tests.test_media_acceptance import terminal as make_terminal

ROOT_SITES = (41, 42, 43, 44)
LEAF_SITES = (45, 46, 47, 48)


async def read_indices(viewer) -> list[int | None]:
    return [pane.site_index for pane in await viewer.read_panes()]


async def test_eight_sites_over_two_engines_see_one_picture_and_hear_across_the_link(tmp_path):
    """Four terminals on the root engine, four on the leaf engine, in one conference linked by
    a cascade link. With CP_9_1 and the sites interleaved root/leaf in the subPics, every one
    of the eight terminals decodes the eight markers in the same eight panes. Two talkers,
    one on each side: every site hears both (the other side's over the link), and a talker
    never hears itself. Then voice switching: CP_9_1 without subPics puts the speaker in the
    main pane; a leaf site talking loud becomes the speaker at the root and moves into that
    pane for the sites of both engines."""
    async with two_engines(tmp_path) as engines:
        runtime = engines.server.gateway.runtime
        runtime.voice.speaker_hold = 0.3
        talkers = {ROOT_SITES[0]: 0.6, LEAF_SITES[0]: 0.6}
        root_terminals = [make_terminal(i, speech_schedule=((1.0, talkers.get(i, 0.0)),))
                          for i in ROOT_SITES]
        leaf_terminals = [make_terminal(i, speech_schedule=((1.0, talkers.get(i, 0.0)),))
                          for i in LEAF_SITES]
        everyone = root_terminals + leaf_terminals
        for t in root_terminals:
            await t.start(engines.root_signalling)
        for t in leaf_terminals:
            await t.start(engines.leaf_signalling)
        uplink = None
        try:
            # the leaf's terminals are called through the leaf's endpoint: its engine
            conf_id = book(engines.server, [t.uri for t in everyone], cp_resource=9)
            uplink = await engines.link(conf_id)
            await eventually(lambda: set(states(engines.server, conf_id).values())
                             == {SiteCallState.IN_CONFERENCE}, what="all eight in conference")
            root_media = engines.root.conferences[conf_id]
            leaf_media = engines.leaf.conferences[conf_id]
            assert set(root_media.sites) == {t.uri for t in root_terminals} | {"cascade:leaf1"}
            assert set(leaf_media.sites) == {t.uri for t in leaf_terminals} | {ROOT_URI}

            # one picture: the sites interleaved root, leaf, root, leaf ... in CP_9_1's panes
            order = [t for pair in zip(root_terminals, leaf_terminals, strict=True) for t in pair]
            runtime.control.set_continuous_presence(
                conf_id, "0", layout_mode("CP_9_1").value, [t.uri for t in order])
            expected = [t.site_index for t in order] + [None]
            for t in everyone:
                t.set_panes(panes_of("CP_9_1"))
            for t in everyone:
                await eventually_async(lambda t=t: _reads(t, expected),
                                       what=f"site {t.site_index} decodes the 8 markers in place")

            # N-1 over the link: both talkers heard everywhere, nobody hears itself
            root_talker, leaf_talker = root_terminals[0], leaf_terminals[0]
            for listener in everyone:
                others = [t for t in (root_talker, leaf_talker) if t is not listener]
                await eventually(
                    lambda listener=listener, others=others: all(
                        listener.heard().get(t.uri, 0.0) > 0.3 for t in others),
                    what=f"site {listener.site_index} hears the talkers of both engines")
            await asyncio.sleep(1.0)  # a whole second of mix to read
            for talker in (root_talker, leaf_talker):
                assert talker.heard().get(talker.uri, 0.0) < 0.05, "a talker hears itself"
            assert leaf_terminals[1].heard().get(root_talker.uri, 0.0) > 0.3
            assert root_terminals[1].heard().get(leaf_talker.uri, 0.0) > 0.3

            # voice switching across the link
            loud = leaf_terminals[2]
            for t in everyone:
                t.speech.set_level(0.0)
            loud.speech.set_level(0.8)
            runtime.control.set_continuous_presence(conf_id, "0", layout_mode("CP_9_1").value, [])
            runtime.control.set_audio_switch(conf_id, True, 20)
            await eventually(lambda: runtime.voice.candidate(conf_id) == loud.uri
                             or runtime.status.conference_status(conf_id).speaking == loud.uri,
                             what="the leaf's loud site is the loudest at the root")
            engines.clock.advance(timedelta(seconds=0.5))
            await eventually(lambda: runtime.status.conference_status(conf_id).speaking
                             == loud.uri, what="the leaf's site is the speaker")
            for viewer in (root_terminals[1], leaf_terminals[1]):
                await eventually_async(
                    lambda viewer=viewer: _main_pane(viewer, loud.site_index),
                    what=f"site {viewer.site_index} sees the speaker in the main pane")
            assert uplink.role.speaker == loud.uri  # the root's speaker, told down the link
            assert all(count > 0 for count in uplink.site.rtp_stats.values())

            # the link ends: each engine composes its own sites again, nothing is left over
            await uplink.close()
            await eventually(lambda: root_media.role is None and leaf_media.role is None,
                             what="both roles gone")
            assert "cascade:leaf1" not in set(root_media.sites) | set(root_media.joined)
            assert ROOT_URI not in set(leaf_media.sites) | set(leaf_media.joined)
            root_indices = {t.site_index for t in root_terminals}
            leaf_indices = {t.site_index for t in leaf_terminals}
            await eventually_async(
                lambda: _shows_only(root_terminals[1], root_indices),
                what="the root's sites see the root's sites only")
            await eventually_async(
                lambda: _shows_only(leaf_terminals[1], leaf_indices),
                what="the leaf's sites see the leaf's sites only")
        finally:
            if uplink is not None:
                await uplink.close()
            for t in everyone:
                await t.stop()


async def _reads(viewer, expected: list[int | None]) -> bool:
    return await read_indices(viewer) == expected


async def _shows_only(viewer, indices: set[int]) -> bool:
    shown = {index for index in await read_indices(viewer) if index is not None}
    return shown == indices


async def _main_pane(viewer, index: int) -> bool:
    return (await read_indices(viewer))[0] == index


async def test_the_control_connection_refuses_what_it_does_not_declare(tmp_path):
    """A first line that is no hello, a hello for a conference this engine has no media of,
    and, once linked, a tiles message outside the declared shape: each is refused with an
    error naming why and changes nothing (a refused message after the handshake leaves the
    link up); a line over the limit ends the connection."""
    async with two_engines(tmp_path) as engines:
        port = engines.listener.port

        async def exchange(*lines: bytes) -> list[dict]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for line in lines:
                writer.write(line)
            await writer.drain()
            answers = []
            while True:
                line = await within(reader.readline(), 10)
                if not line:
                    break
                answers.append(json.loads(line))
            writer.close()
            return answers

        answers = await exchange(b'{"type":"levels","levels":[]}\n')
        assert answers[0] == {"type": "error", "reason": "expected hello, got levels"}
        answers = await exchange(b"not json\n")
        assert answers[0]["type"] == "error" and "not JSON" in answers[0]["reason"]
        hello = {"type": "hello", "version": 1, "conf_id": "nope", "leaf": "x", "sdp": "v=0"}
        answers = await exchange(json.dumps(hello).encode() + b"\n")
        assert answers[0] == {"type": "error",
                              "reason": "conference nope has no media on this engine"}
        answers = await exchange(b"x" * (MAX_LINE_BYTES + 10) + b"\n")
        assert answers[0]["type"] == "error" and "over" in answers[0]["reason"]

        conf_id = book(engines.server, ["01770049"])
        with pytest.raises(CascadeError, match="no media"):
            await CascadeUplink.connect(engines.leaf, "missing", "127.0.0.1", port, name="l")
        uplink = await engines.link(conf_id)
        try:
            role = engines.root.conferences[conf_id].role
            assert isinstance(role, RootRole)
            link = role.links["cascade:leaf1"]
            arranged = (link.cutter.mode, link.cutter.sites)
            for bad in (b'{"type":"tiles","mode":35,"sites":["a","a"]}\n',  # repeated URI
                        b'{"type":"tiles","mode":2,"sites":["a"]}\n',  # not a tile grid
                        b'{"type":"tiles","mode":11,"sites":["a","b","c","d","e"]}\n',
                        b'{"type":"levels","levels":[{"uri":"a","level":101}]}\n',
                        b'{"type":"hello","version":1,"conf_id":"c","leaf":"l","sdp":"v"}\n'):
                uplink.channel.writer.write(bad)
            await eventually(lambda: len(uplink.channel.received_errors) == 5,
                             what="five refusals")
            reasons = uplink.channel.received_errors
            assert "repeat" in reasons[0] and "not a tile grid" in reasons[1]
            assert "5 sites in 4 panes" in reasons[2] and "0..100" in reasons[3]
            assert "does not take hello" in reasons[4]
            assert (link.cutter.mode, link.cutter.sites) == arranged and link.levels == {}
            assert uplink.linked
            with pytest.raises(CascadeError, match="in a cascade already"):
                await engines.link(conf_id, "leaf2")
        finally:
            await uplink.close()
        await eventually(lambda: engines.root.conferences[conf_id].role is None,
                         what="the root forgets the link")
        assert "cascade:leaf1" not in engines.root.conferences[conf_id].joined


async def test_two_leaves_meet_through_the_root(tmp_path):
    """Three engines: a site on the root and one on each of two leaves. Every site decodes
    the three markers in the same CP_4_1 panes, and the talker of the first leaf is heard on
    the root and on the second leaf (through the root's mix), not by itself."""
    async with two_engines(tmp_path, leaves=2) as engines:
        (second_leaf, second_url), = engines.more
        on_root = make_terminal(ROOT_SITES[0], speech_schedule=((1.0, 0.0),))
        on_leaf = make_terminal(LEAF_SITES[0], speech_schedule=((1.0, 0.6),))
        on_second = make_terminal(LEAF_SITES[1], speech_schedule=((1.0, 0.0),))
        everyone = (on_root, on_leaf, on_second)
        await on_root.start(engines.root_signalling)
        await on_leaf.start(engines.leaf_signalling)
        await on_second.start(second_url)
        uplinks = []
        try:
            conf_id = book(engines.server, [t.uri for t in everyone], cp_resource=4)
            uplinks.append(await engines.link(conf_id, "leaf1"))
            uplinks.append(await engines.link(conf_id, "leaf2", second_leaf))
            role = engines.root.conferences[conf_id].role
            assert isinstance(role, RootRole) and set(role.links) == {"cascade:leaf1",
                                                                      "cascade:leaf2"}
            engines.server.gateway.runtime.control.set_continuous_presence(
                conf_id, "0", layout_mode("CP_4_1").value, [t.uri for t in everyone])
            expected = [t.site_index for t in everyone] + [None]
            for t in everyone:
                t.set_panes(panes_of("CP_4_1"))
            for t in everyone:
                await eventually_async(lambda t=t: _reads(t, expected),
                                       what=f"site {t.site_index} decodes the 3 markers")
            for listener in (on_root, on_second):
                await eventually(lambda listener=listener: listener.heard().get(
                    on_leaf.uri, 0.0) > 0.3, what=f"site {listener.site_index} hears leaf1")
            await asyncio.sleep(1.0)
            assert on_leaf.heard().get(on_leaf.uri, 0.0) < 0.05
        finally:
            for uplink in uplinks:
                await uplink.close()
            for t in everyone:
                await t.stop()


async def test_a_link_over_tls_carries_both_sites_pictures(tmp_path):
    """The control connection under TLS (the SRTP keys travel in it): one site on each
    engine, each decodes both markers of the CP_2_1 picture. A client that does not speak
    TLS to the listener is dropped without a link, and the listener goes on."""
    from tests.sip_helpers import tls_contexts

    async with two_engines(tmp_path, tls=tls_contexts(tmp_path)) as engines:
        near = make_terminal(ROOT_SITES[0])
        far = make_terminal(LEAF_SITES[0])
        await near.start(engines.root_signalling)
        await far.start(engines.leaf_signalling)
        uplink = None
        try:
            conf_id = book(engines.server, [near.uri, far.uri], cp_resource=4)
            reader, writer = await asyncio.open_connection("127.0.0.1", engines.listener.port)
            writer.write(b'{"type":"hello"}\n')
            assert await within(reader.read(), 10) == b""  # no TLS: dropped
            writer.close()
            uplink = await engines.link(conf_id)
            runtime = engines.server.gateway.runtime
            runtime.control.set_continuous_presence(
                conf_id, "0", layout_mode("CP_2_1").value, [near.uri, far.uri])
            expected = [near.site_index, far.site_index]
            for t in (near, far):
                t.set_panes(panes_of("CP_2_1"))
            for t in (near, far):
                await eventually_async(lambda t=t: _reads(t, expected),
                                       what=f"site {t.site_index} decodes both markers")
        finally:
            if uplink is not None:
                await uplink.close()
            for t in (near, far):
                await t.stop()


@pytest.mark.parametrize("ports, encryption, reason", [
    ({"audio": 40000}, "FORCE", "a cascade link needs both audio and video"),
    ({"audio": 40000, "video": 40002}, "NONE", "mediaEncryptType 1"),
])
async def test_an_offer_the_root_cannot_take_is_refused(tmp_path, ports, encryption, reason):
    """A hello whose SDP offers audio only, or plain RTP to a root that wants SRTP: refused
    with the reason, and the root's conference media is as it was (no link site, no role)."""
    from mcu.model import MediaEncryptType
    from rtp import sdp
    from rtp.encryption_policy import SdesRule
    from rtp.negotiation import offer

    async with two_engines(tmp_path) as engines:
        conf_id = book(engines.server, ["01770049"])
        body = sdp.serialize(offer("127.0.0.1", ports, SdesRule(MediaEncryptType[encryption])))
        hello = {"type": "hello", "version": 1, "conf_id": conf_id, "leaf": "x", "sdp": body}
        reader, writer = await asyncio.open_connection("127.0.0.1", engines.listener.port)
        writer.write(json.dumps(hello).encode() + b"\n")
        answer = json.loads(await within(reader.readline(), 10))
        writer.close()
        assert answer["type"] == "error" and answer["reason"].startswith("hello.sdp: ")
        assert reason in answer["reason"]
        media = engines.root.conferences[conf_id]
        assert media.role is None and "cascade:x" not in set(media.sites) | set(media.joined)


async def test_the_conference_ending_ends_the_link_on_both_sides(tmp_path):
    """The conference's end closes its media on both engines: the link ends with it (the
    uplink is no longer linked, the root holds no connection), nothing hangs. An uplink to
    an address where no root listens fails with the reason."""
    import socket

    async with two_engines(tmp_path) as engines:
        conf_id = book(engines.server, ["01770049"])
        uplink = await engines.link(conf_id)
        assert uplink.linked and engines.listener.links(conf_id)
        engines.clock.advance(timedelta(hours=2))
        engines.server.gateway.runtime.reconcile()
        await eventually(lambda: not uplink.linked, what="the uplink ends", timeout=10)
        await eventually(lambda: engines.listener.connections == 0, what="the root's side ends",
                         timeout=10)
        assert conf_id not in engines.root.conferences and conf_id not in engines.leaf.conferences
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free_port = probe.getsockname()[1]
        conf_id = book(engines.server, ["01770050"])
        with pytest.raises(CascadeError, match="no root at 127.0.0.1"):
            await CascadeUplink.connect(engines.leaf, conf_id, "127.0.0.1", free_port, name="l")
        assert engines.leaf.conferences[conf_id].role is None


def test_messages_are_checked_against_their_declaration():
    with pytest.raises(ProtocolError, match="type must be one of"):
        decode(b'{"type":"welcome!"}')
    with pytest.raises(ProtocolError, match="version must be in 1..1"):
        decode(b'{"type":"hello","version":2,"conf_id":"c","leaf":"l","sdp":"v=0"}')
    with pytest.raises(ProtocolError, match="a message must be a JSON object"):
        decode(b"[1]")
    assert decode(b'{"type":"speaker","uri":null}').uri is None
    # an error's reason (an exception's text) is made to fit its declared field
    from mcu.media.cascade.protocol import Error, encode, reason

    long = reason("bad\r\nSDP " * 200)
    assert len(long) == 500 and "\n" not in long
    assert decode(encode(Error(long))).reason == long


def test_the_tile_picture_is_cut_back_into_the_sites_pictures():
    """The leaf's compositor draws three sites in CP_4_1's grid; the cut of each pane is that
    site's picture (its colour), at the pane's size, and the fourth pane is nobody's."""
    colours = {"a": (81, 90, 240), "b": (145, 54, 34), "c": (41, 240, 110)}
    sources = {uri: _solid(640, 360, yuv) for uri, yuv in colours.items()}
    mode = tile_mode(3)
    assert mode.name == "CP_4_1" and tile_mode(1).name == "CP_1_1" and tile_mode(16).name \
        == "CP_16_1"
    with pytest.raises(ValueError):
        tile_mode(17)
    compositor = Compositor(704, 576, mode)
    compositor.set_sub_pics(list(colours))
    tile = compositor.compose(sources)
    cut = cut_tiles(tile, mode, list(colours))
    rect = pixel_rects(mode, 704, 576)[0]
    assert set(cut) == set(colours)
    for uri, yuv in colours.items():
        picture = cut[uri]
        assert (picture.width, picture.height) == (rect.w, rect.h)
        y = picture.to_ndarray()[: picture.height]
        middle = y[picture.height // 2 - 10: picture.height // 2 + 10, 40:-40]
        assert abs(float(np.median(middle)) - yuv[0]) < 4, uri
    cutter = TileCutter()
    cutter.arrange(mode, list(colours))
    assert cutter.pictures(tile) is cutter.pictures(tile)  # cut once per picture


def _solid(width: int, height: int, yuv: tuple[int, int, int]):
    import av

    y = np.full((height, width), yuv[0], np.uint8)
    u = np.full((height // 4, width), yuv[1], np.uint8)
    v = np.full((height // 4, width), yuv[2], np.uint8)
    return av.VideoFrame.from_ndarray(np.concatenate((y, u, v)), format="yuv420p")


def test_the_leaf_role_shows_its_sites_the_roots_picture():
    from mcu.media.cascade.leaf import LeafRole

    class Channel:
        def __init__(self) -> None:
            self.sent: list = []

        def send(self, message) -> None:
            self.sent.append(message)

    class Conference:
        joined = ["s1", "remote", "s2", ROOT_URI]
        sites = {"s1": object(), "s2": object(), ROOT_URI: object()}
        speaking = None

    channel = Channel()
    role = LeafRole(Conference(), channel, ROOT_URI)
    role.add_sources({})
    assert [(m.mode, m.sites) for m in channel.sent] == [(11, ["s1", "s2"])]
    role.add_sources({})
    assert len(channel.sent) == 1  # told once per change
    assert role.picture_for("s1") == PictureKey(PictureKind.SITE, ROOT_URI)
    assert role.picture_for(ROOT_URI) == PictureKey(PictureKind.CP, ROOT_URI)
    assert role.picture_for("remote") is None
    settings = role.picture_settings(PictureKey(PictureKind.CP, ROOT_URI))
    assert settings is not None and settings.sub_pics == ("s1", "s2")
    assert settings.broadcast is None and settings.speaking is None
    assert role.levels({"s1": 30, "s2": 5, "remote": 70, ROOT_URI: 50}) == {}
    assert {(e.uri, e.level) for e in channel.sent[-1].levels} == {("s1", 30), ("s2", 5)}

