"""What a step of the demo's consultation is (Step, its Checks, the Observation they read),
the demo's options, the thresholds the checks hold the terminals to, and the small helpers
the checks share (`each`, `same_everywhere`, `content_record`).

The steps themselves are built in app/demo/conference_steps.py, content_steps.py,
device_steps.py and recording_steps.py; app/demo/consultation.py runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.demo.soap_client import REFERENCE_WSDL
from mcu.layouts import layout_mode
from mcu.model import VideoFormat
from mcu.runtime import SPEAKER_HOLD_SECONDS
from terminals.content_receiver import ContentStatus

SITE_COUNT = 4
DEMO_USER, DEMO_PASSWORD = "demo", "Demo@123"
# Levels on the talker's own scale (terminals/speech.py): a site talking at 0.5 is heard at
# ~0.5 through Opus and the mixer, an absent one below 0.02.
HEARD = 0.25
NOT_HEARD = 0.05
LOUDEST_MARGIN = 1.5  # the loud talker (1.0) against the others (0.5) heard by one terminal
LOUDER_BY = 2.0
SWITCH_GATE = 15  # WS/T 546 table 8's default
IN_CONFERENCE, ONGOING = 2, 3  # SiteStatusEx.status, ConferenceStatusEx.status
MUTED = 0  # SiteStatusEx.isMute: 0 muted (WS/T 546 table 9)
START, STOP = 0, 1  # isBroadcast
SWITCH_ON = 1  # isSwitch
FULL_SCREEN = "CP_1_1"
POLL_S = 0.5
SWITCH_POLL_S = 0.1  # how often the switch-delay watchers read the main pane
SETTLE_S = SPEAKER_HOLD_SECONDS + 1.0  # voice switching on, everyone level, before the louder talk
# A switch is the hold time plus detection, the MCU's next picture, a keyframe and transit:
# the measured delay must lie in [hold, hold + SWITCH_SLACK_S].
SWITCH_SLACK_S = 1.5
# The demo reads the panes itself at each poll; the terminals' own periodic reading (every
# 10th frame by default) would cost more CPU than everything else in the process.
NO_PERIODIC_ANALYSIS = 1 << 30
# Content: every terminal has a content input (sites of even index start on a radiograph,
# odd ones on a medical record), rendered and sent at 960x540 (slides: 5 fps), which keeps
# the content cheap beside the rest of the demo on a shared machine (the text is still sharp
# enough for a bad encode to show in the PSNR); every site is booked at 4CIF, so the MCU
# forwards the holder's content unchanged to the others' second streams (docs/runtime.md,
# "Content in the pictures"). The demo reads the second streams itself at each poll: the
# terminals' own periodic content analysis is off, as their pane reading is.
CONTENT_SIZE = (960, 540)
CONTENT_FRESH_S = 1.0  # a second stream "receives" while a frame arrived within (5 frames)
# The text region's PSNR against the page re-rendered: on a second stream the content is
# the sender's own encode, forwarded (~40 dB); in a CP_2_1 pane of the 4CIF main picture
# it is scaled to 352x198 and encoded again within 1 Mbit/s for the whole picture (~34 dB).
SECOND_STREAM_PSNR_DB = 35.0
PANE_PSNR_DB = 25.0
ON_FLOOR, OFF_FLOOR = 0, 1  # setAuxStreamEx controlCode
AUX_ON = 1  # isSendAuxStreamEx / isReceiveRemAuxStrmEx result
LOCKED = 1  # ConferenceStatusEx.isLockPresentation
# A content step's observation costs nine SOAP requests (spyne answers them on the loop that
# carries the media) and a content analysis per terminal: every second, not every half, so
# that the loop reads its media sockets in time on a loaded machine (docs/signalling.md, "ICE
# on a starved machine").
CONTENT_POLL_S = 1.0


@dataclass(frozen=True)
class TerminalVideo:
    """What the simulated terminals send (their pre-encoded camera loop)."""

    width: int = 640
    height: int = 360
    fps: int = 30
    bitrate: int = 800_000


@dataclass(frozen=True)
class DemoOptions:
    out_dir: Path | None = None  # PNGs and report.json; None: nothing written
    data_dir: Path | None = None  # the server's SQLite; None: a temporary directory
    config: Path | None = None  # TOML settings for the server
    wsdl: Path = REFERENCE_WSDL
    user: str = DEMO_USER
    password: str = DEMO_PASSWORD
    video_format: VideoFormat = VideoFormat.CIF4  # booked for every site: 704x576@30
    rate: str = "1024k"  # the conference's rate: the output bitrate
    terminal_video: TerminalVideo = field(default_factory=TerminalVideo)
    connect_timeout: float = 30.0
    step_timeout: float = 20.0
    browser: bool = False  # add a Chromium terminal (app/demo/browser.py) when installed
    content_size: tuple[int, int] = CONTENT_SIZE  # what the terminals' content inputs send


@dataclass
class Observation:
    """One poll: what every terminal decodes and hears now, and what the queries answer."""

    panes: dict[str, list[str | None]]
    latency_ms: dict[str, float | None]
    heard: dict[str, dict[str, float]]
    states: dict[str, str]
    api: dict[str, Any]
    # content steps: per terminal what its second stream (or its main picture's aux pane)
    # shows (TerminalRecord.content) and whether it holds the floor
    content: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds_floor: dict[str, bool] = field(default_factory=dict)
    sending_content: dict[str, bool] = field(default_factory=dict)
    # what the step's probe read beyond the panes (app/demo/device_steps.py: "screens" and
    # "camera" per terminal, "tags")
    probed: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    key: str
    what: str
    test: Callable[[Observation], tuple[bool, str]]  # (held, what was measured)


@dataclass
class Step:
    name: str
    action: str
    act: Callable[[], Awaitable[None]]
    views: dict[str, str | None]  # terminal -> CP mode whose panes it reads (None: none)
    checks: list[Check]
    # blocking status queries for the checks; every poll makes one, which also keeps the
    # SOAP session alive (it dies 60 s after its last request by default)
    query: Callable[[], dict[str, Any]] | None = None
    # what the step's act measured: switch delays (ms) per terminal
    measured: dict[str, float | None] = field(default_factory=dict)
    # content steps: read every terminal's second stream (reads_content), or with
    # content_pane the content marker in that pane of its main picture
    reads_content: bool = False
    content_pane: int | None = None
    # the BFCP answers of the act's floor requests, by terminal
    floor_requests: dict[str, str] = field(default_factory=dict)
    poll_s: float = POLL_S  # between observations
    # more readings of the terminals at every poll (Observation.probed)
    probe: Callable[[], Awaitable[dict[str, Any]]] | None = None


class CallDropped(RuntimeError):
    """A terminal's call ended before the conference did (e.g. the machine is so loaded
    that the heartbeat or ICE consent timed out)."""


def pane_rects(layout: str) -> list[tuple[float, ...]]:
    return [tuple(pane.as_floats()) for pane in layout_mode(layout).panes]


SECOND_STREAM = "second stream"


def content_record(status: ContentStatus | None, receiving: bool, seen_in: str
                    ) -> dict[str, Any]:
    """report.json's `content` of a terminal: what the content marker said (site, kind,
    page, frame index), the latency p50 and the text region's PSNR / SSIM."""
    def rounded(value: float | None, digits: int) -> float | None:
        return None if value is None else round(float(value), digits)

    return {
        "site": status.site_uri if status else None,
        "kind": status.kind.name.lower() if status and status.kind is not None else None,
        "page": status.page if status else None,
        "frame_index": status.frame_index if status else None,
        "latency_ms": rounded(status.latency_ms_p50 if status else None, 1),
        "psnr_db": rounded(status.psnr_db if status else None, 1),
        "ssim": rounded(status.ssim if status else None, 3),
        "receiving": receiving,
        "seen_in": seen_in,
    }


def each(o: Observation, test: Callable[[str, Any], bool],
          values: dict[str, Any]) -> tuple[bool, str]:
    """Whether `test(uri, value)` holds for every terminal; the detail names what was seen."""
    failing = [uri for uri, value in values.items() if value is None or not test(uri, value)]
    shown = failing or list(values)
    detail = "; ".join(f"{uri}: {values[uri]}" for uri in shown)
    return not failing and bool(values), ("wrong at " if failing else "") + detail


def same_everywhere(panes: dict[str, list[str | None]]) -> tuple[bool, str]:
    pictures = {tuple(p) for p in panes.values()}
    return len(pictures) == 1, "; ".join(f"{uri}: {p}" for uri, p in panes.items())


def most_common(layouts: list[str]) -> str | None:
    return max(set(layouts), key=layouts.count) if layouts else None

