"""H.264 levels (ITU-T H.264 Annex A, Table A-1) and the RTP profile-level-id (RFC 6184).

`level_for(width, height, fps, bitrate, profile)` is the lowest level whose limits hold a
stream: frame size in macroblocks (MaxFS, and neither dimension above sqrt(8 * MaxFS)
macroblocks, A.3.1 f/g), macroblocks per second (MaxMBPS) and bit rate (MaxBR, scaled by
the profile's cpbBrVclFactor: 1000 for Baseline/Main, 1250 for High, Table A-2). Level 1b
is never chosen (it only exists for QCIF at 128 kbit/s; level 1.1 holds it).

The profiles: Constrained Baseline, as libx264 writes it with its real-time settings
(profile_idc 66, constraint_set0 and set1: "42c0"), the one the MCU and the simulated
terminals send; and High (profile_idc 100, no constraint flags: "6400"), whose limits are
tabled but which nothing sends yet (an H.264 HP booking is sent Constrained Baseline).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True)
class Level:
    idc: int  # level_idc: 10 * the level number (level 3.1 -> 31)
    max_mbps: int  # macroblocks per second
    max_fs: int  # frame size, macroblocks
    max_br_kbps: int  # VCL bit rate, in units of cpbBrVclFactor bits/s (1000 for Baseline)

    @property
    def name(self) -> str:
        return f"{self.idc // 10}.{self.idc % 10}"


# Table A-1 (level 1b left out, see above).
LEVELS: tuple[Level, ...] = (
    Level(10, 1_485, 99, 64),
    Level(11, 3_000, 396, 192),
    Level(12, 6_000, 396, 384),
    Level(13, 11_880, 396, 768),
    Level(20, 11_880, 396, 2_000),
    Level(21, 19_800, 792, 4_000),
    Level(22, 20_250, 1_620, 4_000),
    Level(30, 40_500, 1_620, 10_000),
    Level(31, 108_000, 3_600, 14_000),
    Level(32, 216_000, 5_120, 20_000),
    Level(40, 245_760, 8_192, 20_000),
    Level(41, 245_760, 8_192, 50_000),
    Level(42, 522_240, 8_704, 50_000),
    Level(50, 589_824, 22_080, 135_000),
    Level(51, 983_040, 36_864, 240_000),
    Level(52, 2_073_600, 36_864, 240_000),
)
LEVELS_BY_IDC = {level.idc: level for level in LEVELS}


class H264Profile(Enum):
    """(profile_idc, the constraint flags byte) as the encoders write them."""

    CONSTRAINED_BASELINE = (66, 0xC0)
    HIGH = (100, 0x00)

    @property
    def profile_idc(self) -> int:
        return self.value[0]

    @property
    def constraint_flags(self) -> int:
        return self.value[1]

    @property
    def br_factor(self) -> int:
        """cpbBrVclFactor (Table A-2): bits/s per unit of MaxBR."""
        return 1250 if self is H264Profile.HIGH else 1000


class NoLevel(ValueError):
    """No H.264 level holds the stream (larger than level 5.2)."""


def macroblocks(width: int, height: int) -> tuple[int, int]:
    """The picture's width and height in 16x16 macroblocks (rounded up, as coded)."""
    return math.ceil(width / 16), math.ceil(height / 16)


def fits(level: Level, width: int, height: int, fps: float, bitrate: int,
         profile: H264Profile = H264Profile.CONSTRAINED_BASELINE) -> bool:
    """Whether a stream of that size, frame rate and bit rate (bits/s) is within `level`."""
    mb_w, mb_h = macroblocks(width, height)
    frame_mbs = mb_w * mb_h
    side_limit = math.sqrt(8 * level.max_fs)
    return (frame_mbs <= level.max_fs and mb_w <= side_limit and mb_h <= side_limit
            and frame_mbs * fps <= level.max_mbps
            and bitrate <= max_bitrate(level, profile))


def level_for(width: int, height: int, fps: float, bitrate: int = 0,
              profile: H264Profile = H264Profile.CONSTRAINED_BASELINE) -> Level:
    """The lowest level that holds the stream; NoLevel when none does."""
    for level in LEVELS:
        if fits(level, width, height, fps, bitrate, profile):
            return level
    raise NoLevel(f"{width}x{height}@{fps} at {bitrate} bit/s exceeds H.264 level 5.2")


def max_bitrate(level: Level, profile: H264Profile) -> int:
    """The level's highest VCL bit rate for the profile, bits/s (a ceiling: the encoders'
    vbv-maxrate is the booked rate, x264_level_params)."""
    return level.max_br_kbps * profile.br_factor


def profile_level_id(profile: H264Profile, level: Level) -> str:
    """The RFC 6184 profile-level-id: profile_idc, constraint flags, level_idc, in hex."""
    return f"{profile.profile_idc:02x}{profile.constraint_flags:02x}{level.idc:02x}"


@dataclass(frozen=True)
class ProfileLevelId:
    profile_idc: int
    constraint_flags: int
    level_idc: int

    @classmethod
    def parse(cls, text: str) -> ProfileLevelId:
        """profile-level-id "42e01f" -> its three bytes; ValueError when it is not 6 hex digits."""
        if len(text) != 6:
            raise ValueError(f"profile-level-id {text!r} is not 6 hex digits")
        raw = bytes.fromhex(text)
        return cls(raw[0], raw[1], raw[2])

    @property
    def constrained_baseline(self) -> bool:
        """RFC 6184's Constrained Baseline: profile_idc 66 with constraint_set1 (or 77/88
        with the flags that make them equivalent)."""
        flags = self.constraint_flags
        return ((self.profile_idc == 66 and flags & 0x40 != 0)
                or (self.profile_idc == 77 and flags & 0x80 != 0)
                or (self.profile_idc == 88 and flags & 0xC0 == 0xC0))


def x264_level_params(level: Level, bitrate: int) -> list[str]:
    """libx264 parameters (x264-params syntax) that keep a stream of `bitrate` bit/s within
    `level`: the level itself and a VBV of the rate (one second of buffer)."""
    rate_kbps = max(1, bitrate // 1000)
    return [f"level={level.name}", f"vbv-maxrate={rate_kbps}", f"vbv-bufsize={rate_kbps}"]
