"""mcu/media/live_viewers.py: which encoder groups a live viewer's tracks join (the groups
of what it watches, always H.264: the console offers the browser H.264 only), and that a
closed viewer leaves them and tells its owner once."""

from __future__ import annotations

from mcu.media.encoder_group import GroupKey
from mcu.media.live_viewers import LiveViewer, Viewpoint, conference_view_key, place_viewer
from mcu.media.output_format import H264, VP8, OutputFormat
from mcu.media.pictures import PictureKey, PictureKind


class FakeGroup:
    def __init__(self, key: GroupKey) -> None:
        self.key = key
        self.subscribers: list = []

    def subscribe(self, track) -> None:
        self.subscribers.append(track)

    def unsubscribe(self, track) -> None:
        self.subscribers.remove(track)


def groups() -> tuple[dict[GroupKey, FakeGroup], object]:
    made: dict[GroupKey, FakeGroup] = {}

    def group_of(key: GroupKey) -> FakeGroup:
        return made.setdefault(key, FakeGroup(key))

    return made, group_of


HD = OutputFormat(H264, 1280, 720, 30, 1_500_000)
HD_VP8 = OutputFormat(VP8, 1280, 720, 30, 1_500_000)


def test_a_conference_viewer_joins_the_conference_picture_group() -> None:
    made, group_of = groups()
    viewer = LiveViewer("v1", Viewpoint(), 1)
    key = conference_view_key(HD)
    assert place_viewer(viewer, group_of, key, None, None) == {key}
    assert made[key].subscribers == [viewer.screens[0]] and viewer.content is None


def test_a_site_viewer_watches_each_screen_and_content_in_h264() -> None:
    made, group_of = groups()
    viewer = LiveViewer("v2", Viewpoint("a"), 2)
    cp = PictureKey(PictureKind.CP, "")
    remote = PictureKey(PictureKind.SITE, "b")
    content = GroupKey(PictureKey(PictureKind.CONTENT, "b"), HD_VP8)
    wanted = place_viewer(viewer, group_of, None, [(cp, HD_VP8), (remote, HD_VP8)], content)
    assert wanted == {GroupKey(cp, HD), GroupKey(remote, HD),
                      GroupKey(PictureKey(PictureKind.CONTENT, "b"), HD)}
    assert all(key.format.codec == H264 for key in made)
    # the site left: its screens and content get nothing
    assert place_viewer(viewer, group_of, None, None, None) == set()
    assert all(track.group is None for track in viewer.video_tracks)
    assert all(not group.subscribers for group in made.values())


def test_closing_leaves_the_groups_and_tells_the_owner_once() -> None:
    made, group_of = groups()
    viewer = LiveViewer("v3", Viewpoint(), 1)
    calls: list[str] = []
    viewer.on_closed = lambda: calls.append("closed")
    place_viewer(viewer, group_of, conference_view_key(HD), None, None)
    viewer.close()
    viewer.close()
    assert calls == ["closed"] and not made[conference_view_key(HD)].subscribers
    assert viewer.audio.readyState == "ended"
