"""The colour convention of every picture the MCU and the terminals encode, and the colour
arithmetic the tests and the demo measure it with.

The convention (docs/architecture.md, "Colour"), the same at every picture size:

- RGB is sRGB: colour primaries BT.709 (the sRGB primaries; H.264 VUI colour_primaries 1)
  and the sRGB transfer (IEC 61966-2-1, transfer_characteristics 13). The pictures are
  drawn as sRGB values, and a colour-managed decoder (a browser) maps them to an sRGB
  display unchanged. (SMPTE 170M primaries would make a browser gamut-map them: the site
  colour (24, 239, 24) would be shown as (65, 235, 14).)
- YCbCr is BT.601 (matrix_coefficients 6, SMPTE 170M), TV range (video_full_range_flag 0:
  Y 16..235, Cb/Cr 16..240): what libyuv's I420 functions, swscale's default and VP8 use.
  One matrix everywhere means no conversion between pictures of different sizes.

H.264 states all four in the SPS VUI. VP8 can say less: its key frame header has one
colour-space bit (0 = "BT.601", the only value defined; libvpx always writes 0) and no
range, primaries or transfer (decoders assume TV range), so a VP8 stream states exactly
the matrix of the convention and implies its range.

Decoded pictures (PyAV VideoFrames) carry what their stream stated: `frame.colorspace`
(AVColorSpace, the matrix) and `frame.color_range`. `to_convention` converts a picture whose
stated matrix or range differs (a browser's BT.709 camera, a full-range JPEG-style
picture) and returns the picture itself when it states nothing or already matches.

Colour difference: CIEDE2000 (`delta_e_2000`), on CIELAB under D65 from sRGB.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

# ITU-T H.273 code points (H.264 VUI; FFmpeg's AVColorPrimaries/AVColorTransferCharacteristic/
# AVColorSpace use the same numbers).
PRIMARIES_BT709 = 1
TRANSFER_SRGB = 13  # IEC 61966-2-1
MATRIX_BT709 = 1
MATRIX_UNSPECIFIED = 2
MATRIX_BT470BG = 5  # the BT.601 matrix (625 lines)
MATRIX_SMPTE170M = 6  # the BT.601 matrix (525 lines)
RANGE_LIMITED = 1  # AVCOL_RANGE_MPEG
RANGE_FULL = 2  # AVCOL_RANGE_JPEG


@dataclass(frozen=True, slots=True)
class ColourDescription:
    """What an H.264 VUI says about the colour of the pictures (H.273 code points)."""

    primaries: int
    transfer: int
    matrix: int
    full_range: bool

    def apply_to(self, context: av.VideoCodecContext) -> None:
        """Have an encoder state this description (libx264 writes it into the SPS VUI)."""
        context.color_primaries = self.primaries
        context.color_trc = self.transfer
        context.colorspace = self.matrix
        context.color_range = RANGE_FULL if self.full_range else RANGE_LIMITED

    def tag(self, frame: av.VideoFrame) -> None:
        """Label a picture with this description (metadata only, no pixel changes)."""
        frame.color_primaries = self.primaries
        frame.color_trc = self.transfer
        frame.colorspace = self.matrix
        frame.color_range = RANGE_FULL if self.full_range else RANGE_LIMITED


CONVENTION = ColourDescription(PRIMARIES_BT709, TRANSFER_SRGB, MATRIX_SMPTE170M, full_range=False)

# Kr, Kb of each YCbCr matrix (H.273 matrix_coefficients -> luma weights).
_MATRIX_WEIGHTS: dict[int, tuple[float, float]] = {
    MATRIX_BT709: (0.2126, 0.0722),
    4: (0.30, 0.11),  # FCC
    MATRIX_BT470BG: (0.299, 0.114),
    MATRIX_SMPTE170M: (0.299, 0.114),
    7: (0.212, 0.087),  # SMPTE 240M
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
# The same matrices as swscale knows them.
_SWSCALE_MATRIX: dict[int, Colorspace] = {
    MATRIX_BT709: Colorspace.ITU709,
    4: Colorspace.FCC,
    MATRIX_BT470BG: Colorspace.ITU601,
    MATRIX_SMPTE170M: Colorspace.ITU601,
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,
}
_BT601_MATRICES = frozenset({MATRIX_BT470BG, MATRIX_SMPTE170M})
_FULL_RANGE_FORMATS = frozenset({"yuvj420p"})


def _rgb_to_yuv_matrix(matrix: int) -> np.ndarray:
    kr, kb = _MATRIX_WEIGHTS[matrix]
    kg = 1.0 - kr - kb
    return np.array([
        [kr, kg, kb],
        [-kr / (2 * (1 - kb)), -kg / (2 * (1 - kb)), 0.5],
        [0.5, -kg / (2 * (1 - kr)), -kb / (2 * (1 - kr))],
    ])


def _range_scale(full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) from Y in 0..1 and Cb/Cr in -0.5..0.5 to 8-bit code values."""
    if full_range:
        return np.array([255.0, 255.0, 255.0]), np.array([0.0, 128.0, 128.0])
    return np.array([219.0, 224.0, 224.0]), np.array([16.0, 128.0, 128.0])


def rgb_to_yuv(rgb: Any, matrix: int = MATRIX_SMPTE170M, full_range: bool = False) -> np.ndarray:
    """8-bit R'G'B' (..., 3) -> 8-bit Y'CbCr (..., 3) as floats, by `matrix` and range."""
    rgb01 = np.asarray(rgb, np.float64) / 255.0
    scale, offset = _range_scale(full_range)
    return rgb01 @ _rgb_to_yuv_matrix(matrix).T * scale + offset


def yuv_to_rgb(yuv: Any, matrix: int = MATRIX_SMPTE170M, full_range: bool = False) -> np.ndarray:
    """8-bit Y'CbCr (..., 3) -> 8-bit R'G'B' (..., 3) as floats in 0..255 (clipped)."""
    scale, offset = _range_scale(full_range)
    normalised = (np.asarray(yuv, np.float64) - offset) / scale
    rgb01 = normalised @ np.linalg.inv(_rgb_to_yuv_matrix(matrix)).T
    return np.clip(rgb01 * 255.0, 0.0, 255.0)


def stated_matrix(frame: av.VideoFrame) -> int:
    """The matrix a picture states, MATRIX_UNSPECIFIED when it states none."""
    return int(frame.colorspace)


def stated_full_range(frame: av.VideoFrame) -> bool | None:
    """True/False when the picture states its range (or its format implies it), else None."""
    if frame.format.name in _FULL_RANGE_FORMATS or frame.color_range == RANGE_FULL:
        return True
    if frame.color_range == RANGE_LIMITED:
        return False
    return None


def matrix_for_decoding(frame: av.VideoFrame) -> tuple[int, bool]:
    """(matrix, full_range) to turn the picture into RGB: what it states, else the convention."""
    matrix = stated_matrix(frame)
    if matrix not in _MATRIX_WEIGHTS:
        matrix = CONVENTION.matrix
    full_range = stated_full_range(frame)
    return matrix, CONVENTION.full_range if full_range is None else full_range


def differs_from_convention(frame: av.VideoFrame) -> bool:
    """True when the picture states a matrix or range the convention does not use (and that
    can be converted): unstated fields are taken to follow the convention."""
    matrix = stated_matrix(frame)
    other_matrix = matrix in _SWSCALE_MATRIX and matrix not in _BT601_MATRICES
    full_range = stated_full_range(frame)
    return other_matrix or (full_range is not None and full_range != CONVENTION.full_range)


def to_convention(frame: av.VideoFrame) -> av.VideoFrame:
    """The picture as yuv420p in the convention's matrix and range: the frame itself when it
    already is (or states nothing), else a converted copy (swscale, exact matrix change)."""
    if not differs_from_convention(frame):
        return frame
    src_matrix, src_full = matrix_for_decoding(frame)
    converted = frame.reformat(
        format="yuv420p",
        src_colorspace=_SWSCALE_MATRIX.get(src_matrix, Colorspace.ITU601),
        dst_colorspace=Colorspace.ITU601,
        src_color_range=ColorRange.JPEG if src_full else ColorRange.MPEG,
        dst_color_range=ColorRange.MPEG,
    )
    CONVENTION.tag(converted)
    return converted


def bgr_picture(bgr: np.ndarray) -> av.VideoFrame:
    """An sRGB BGR picture as a yuv420p frame in the convention (matrix, range, tagged)."""
    frame = av.VideoFrame.from_ndarray(bgr, format="bgr24").reformat(
        format="yuv420p", dst_colorspace=Colorspace.ITU601, dst_color_range=ColorRange.MPEG,
    )
    CONVENTION.tag(frame)
    return frame


def frame_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A decoded yuv420p picture as float RGB (h, w, 3), by the matrix and range it states
    (the convention's where it states none); chroma upsampled by repetition."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    matrix, full_range = matrix_for_decoding(frame)
    planes = frame.to_ndarray()  # (h * 3 / 2, w) for yuv420p
    height, width = frame.height, frame.width
    y = planes[:height]
    chroma = planes[height:].reshape(2, height // 2, width // 2)
    u = chroma[0].repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    v = chroma[1].repeat(2, axis=0).repeat(2, axis=1)[:height, :width]
    return yuv_to_rgb(np.stack([y, u, v], axis=-1).astype(np.float64), matrix, full_range)


# --- colour difference ------------------------------------------------------------------

_D65_WHITE = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])


def srgb_to_lab(rgb: Any) -> np.ndarray:
    """8-bit sRGB (..., 3) -> CIELAB (D65)."""
    c = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]),
                     200 * (f[..., 1] - f[..., 2])], axis=-1)


def delta_e_2000(lab1: Any, lab2: Any) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between CIELAB colours (..., 3)."""
    l1, a1, b1 = np.moveaxis(np.asarray(lab1, np.float64), -1, 0)
    l2, a2, b2 = np.moveaxis(np.asarray(lab2, np.float64), -1, 0)
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7)))
    a1p, a2p = a1 * (1 + g), a2 * (1 + g)
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dl = l2 - l1
    dc = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(c1p * c2p == 0, 0.0, dh)
    d_big_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(
        c1p * c2p == 0, h_sum,
        np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                 np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)),
    )
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    d_theta = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean**7 / (cp_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    return np.sqrt((dl / s_l) ** 2 + (dc / s_c) ** 2 + (d_big_h / s_h) ** 2
                   + r_t * (dc / s_c) * (d_big_h / s_h))


def delta_e_rgb(rgb1: Any, rgb2: Any) -> float:
    """CIEDE2000 between two 8-bit sRGB colours (the largest, if given arrays of them)."""
    return float(np.max(delta_e_2000(srgb_to_lab(rgb1), srgb_to_lab(rgb2))))
