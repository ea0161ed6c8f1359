"""benchmarks/media_load.unsettled_sites: the window starts only once every site sends what
the send ladder asked of it (GET /stats/media's inputs), not during the terminals' one-off
encoding of their asked loop."""

from __future__ import annotations

from benchmarks.media_load import (
    BookedSite,
    ConferencePlan,
    slowest_received_fps,
    unsettled_sites,
)
from mcu.model import VideoFormat


def _booked(conf_id: str, *uris: str) -> tuple[str, str, ConferencePlan]:
    sites = tuple(BookedSite(uri, VideoFormat.HD1080P30, "2048k") for uri in uris)
    return conf_id, "2026-12-02 00:00:00", ConferencePlan(conf_id, "CP_4_1", sites)


def _stats(conf_id: str, inputs: dict[str, dict[str, str | None]]) -> dict[str, object]:
    return {"conf_id": conf_id, "groups": [], "inputs": inputs}


def test_a_site_still_sending_its_own_size_is_unsettled() -> None:
    booked = [_booked("c1", "a", "b")]
    stats = [_stats("c1", {"a": {"asked": "960x540@30", "decoded": "960x540"},
                           "b": {"asked": "960x540@30", "decoded": "1280x720"}})]
    assert unsettled_sites(stats, booked) == ["b"]


def test_every_site_at_its_asked_size_is_settled_whatever_the_rate() -> None:
    booked = [_booked("c1", "a"), _booked("c2", "b")]
    stats = [_stats("c1", {"a": {"asked": "480x270@15", "decoded": "480x270"}}),
             _stats("c2", {"b": {"asked": "960x540@30", "decoded": "960x540"}})]
    assert unsettled_sites(stats, booked) == []


def test_a_site_nothing_was_asked_of_settles_once_it_is_decoded() -> None:
    booked = [_booked("c1", "a", "b")]
    stats = [_stats("c1", {"a": {"asked": None, "decoded": "1280x720"},
                           "b": {"asked": None, "decoded": None}})]
    assert unsettled_sites(stats, booked) == ["b"]


def test_a_site_or_conference_the_stats_do_not_list_yet_is_unsettled() -> None:
    booked = [_booked("c1", "a", "b"), _booked("c2", "c")]
    stats = [_stats("c1", {"a": {"asked": "960x540@30", "decoded": "960x540"}})]
    assert unsettled_sites(stats, booked) == ["b", "c"]


def _snapshot(at: float, **frames: int) -> dict[str, object]:
    return {"at": at, "terminals": {uri: {"frames_received": count}
                                    for uri, count in frames.items()}}


def test_the_slowest_receiver_while_the_ladder_settled() -> None:
    plans = [_booked("c1", "a", "b")[2], _booked("c2", "c")[2]]
    before = _snapshot(10.0, a=100, b=100, c=0)
    after = _snapshot(12.0, a=160, b=150, c=58)
    assert slowest_received_fps(before, after, plans) == 25.0  # b: 50 frames in 2 s


def test_under_a_second_apart_says_nothing() -> None:
    plans = [_booked("c1", "a")[2]]
    assert slowest_received_fps(_snapshot(5.0, a=0), _snapshot(5.5, a=15), plans) is None
