"""benchmarks/media_load.unsettled_sites: the window starts only once every site sends what
the send ladder asked of it (GET /stats/media's inputs), not during the terminals' one-off
encoding of their asked loop; unsettled_senders: the same from the terminals' snapshots, for
node_scaling's nodes, which have no HTTP port."""

from __future__ import annotations

from benchmarks.media_load import (
    BookedSite,
    ConferencePlan,
    slowest_received_fps,
    unsettled_senders,
    unsettled_sites,
)
from mcu.model import VideoFormat
from terminals.media_sources import VideoFormat as TerminalVideoFormat

OWN = TerminalVideoFormat(1280, 720, 30, 1_500_000)  # what the terminals send unasked


def _own(uri: str) -> TerminalVideoFormat:
    return OWN


def _booked(conf_id: str, *uris: str) -> tuple[str, str, ConferencePlan]:
    sites = tuple(BookedSite(uri, VideoFormat.HD1080P30, "2048k") for uri in uris)
    return conf_id, "2026-12-02 00:00:00", ConferencePlan(conf_id, "CP_4_1", sites)


def _stats(conf_id: str, inputs: dict[str, dict[str, str | None]]) -> dict[str, object]:
    return {"conf_id": conf_id, "groups": [], "inputs": inputs}


def test_a_site_still_sending_its_own_size_is_unsettled() -> None:
    booked = [_booked("c1", "a", "b")]
    stats = [_stats("c1", {"a": {"asked": "960x540@30", "decoded": "960x540"},
                           "b": {"asked": "960x540@30", "decoded": "1280x720"}})]
    assert unsettled_sites(stats, booked, _own) == ["b"]


def test_every_site_at_its_asked_size_is_settled_whatever_the_rate() -> None:
    booked = [_booked("c1", "a"), _booked("c2", "b")]
    stats = [_stats("c1", {"a": {"asked": "480x270@15", "decoded": "480x270"}}),
             _stats("c2", {"b": {"asked": "960x540@30", "decoded": "960x540"}})]
    assert unsettled_sites(stats, booked, _own) == []


def test_a_site_nothing_was_asked_of_settles_once_it_is_decoded() -> None:
    booked = [_booked("c1", "a", "b")]
    stats = [_stats("c1", {"a": {"asked": None, "decoded": "1280x720"},
                           "b": {"asked": None, "decoded": None}})]
    assert unsettled_sites(stats, booked, _own) == ["b"]


def test_a_site_asked_for_more_than_it_has_settles_at_its_own_size() -> None:
    """A site shown full screen at 1080p is asked 1920x1080; a 720p camera sends 720p."""
    booked = [_booked("c1", "a", "b")]
    stats = [_stats("c1", {"a": {"asked": "1920x1080@30", "decoded": "1280x720"},
                           "b": {"asked": "1920x1080@30", "decoded": "960x540"}})]
    assert unsettled_sites(stats, booked, _own) == ["b"]


def test_a_site_or_conference_the_stats_do_not_list_yet_is_unsettled() -> None:
    booked = [_booked("c1", "a", "b"), _booked("c2", "c")]
    stats = [_stats("c1", {"a": {"asked": "960x540@30", "decoded": "960x540"}})]
    assert unsettled_sites(stats, booked, _own) == ["b", "c"]


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


class _ScriptedMcu:
    """GET /stats/media answering from a script, the last answer repeated."""

    def __init__(self, answers: list[list[dict[str, object]]]) -> None:
        self.answers, self.polls = answers, 0

    async def media_stats(self, http: object) -> list[dict[str, object]]:
        self.polls += 1
        return self.answers[min(self.polls, len(self.answers)) - 1]


class _Client:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    async def call(self, service: str, operation: str, body: str = "") -> str:
        self.calls.append((service, operation))
        return "<resultCode>0</resultCode>"


async def test_the_wait_needs_two_settled_polls_in_a_row(monkeypatch) -> None:
    from benchmarks import media_load

    monkeypatch.setattr(media_load, "SETTLE_POLL_S", 0.0)
    monkeypatch.setattr(media_load, "LADDER_HOLD_S", 0.0)
    booked = [_booked("c1", "a")]
    asked = {"asked": "960x540@30"}
    mcu = _ScriptedMcu([[_stats("c1", {"a": {**asked, "decoded": "960x540"}})],  # stale
                        [_stats("c1", {"a": {**asked, "decoded": "1280x720"}})],
                        [_stats("c1", {"a": {**asked, "decoded": "960x540"}})]])
    settled = await media_load._wait_ladder_settled(
        mcu, None, _Client(), booked, _own)  # type: ignore[arg-type]
    assert settled is not None and mcu.polls == 4  # settled on the third and the fourth


async def test_the_wait_ends_at_its_timeout_and_keeps_the_session_alive(monkeypatch) -> None:
    from benchmarks import media_load

    monkeypatch.setattr(media_load, "SETTLE_POLL_S", 0.01)
    monkeypatch.setattr(media_load, "KEEPALIVE_EVERY_S", 0.05)
    monkeypatch.setattr(media_load, "LADDER_HOLD_S", 0.0)
    client = _Client()
    mcu = _ScriptedMcu([[_stats("c1", {"a": {"asked": "960x540@30", "decoded": "1280x720"}})]])
    settled = await media_load._wait_ladder_settled(
        mcu, None, client, [_booked("c1", "a")], _own, timeout=0.3)  # type: ignore[arg-type]
    assert settled is None
    assert ("tpCommon", "KeepAlive") in client.calls


async def test_no_poll_counts_before_the_ladder_s_hold(monkeypatch) -> None:
    """Right after the layout is set the asks may still be the previous layout's, already
    met: the wait does not end before LADDER_HOLD_S (the MCU's downgrade hold)."""
    import time

    from benchmarks import media_load

    monkeypatch.setattr(media_load, "SETTLE_POLL_S", 0.02)
    monkeypatch.setattr(media_load, "LADDER_HOLD_S", 0.3)
    mcu = _ScriptedMcu([[_stats("c1", {"a": {"asked": "1280x720@30", "decoded": "1280x720"}})]])
    started = time.monotonic()
    settled = await media_load._wait_ladder_settled(
        mcu, None, _Client(), [_booked("c1", "a")], _own)  # type: ignore[arg-type]
    assert settled is not None and settled >= 0.3 and time.monotonic() - started >= 0.3


def test_the_hold_covers_the_mcu_s_downgrade_hold() -> None:
    from benchmarks.media_load import LADDER_HOLD_S
    from mcu.media.send_ladder import DOWNGRADE_HOLD_S, SETTLE_PERIOD_S

    assert LADDER_HOLD_S >= DOWNGRADE_HOLD_S + SETTLE_PERIOD_S


def _senders(**terminals: tuple[str | None, str]) -> dict[str, object]:
    return {"terminals": {uri: {"sending": sending, "asked": asked, "asks": 1}
                          for uri, (sending, asked) in terminals.items()}}


def test_a_terminal_sends_what_it_was_asked_or_is_unsettled() -> None:
    snapshot = _senders(a=("960x540@30", "960x540@30"), b=("1280x720@30", "960x540@30"),
                        c=(None, "480x270@15"), d=("1280x720@30", "1280x720@30"))
    # c: no loop yet, or a switch waiting for its keyframe; d: never asked, its own format
    assert unsettled_senders(snapshot, ["a", "b", "c", "d"]) == ["b", "c"]
    assert unsettled_senders(snapshot, ["a", "d"]) == []
