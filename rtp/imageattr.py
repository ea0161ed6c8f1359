"""RFC 6236 `a=imageattr` (image attributes of a video payload type) and RFC 4566
`a=framerate`, as far as the send ladder's re-INVITE needs them (mcu/media/sip_ask.py,
docs/sip_media.md "Asking SIP sites for what their panes need").

    a=imageattr:<pt|*> send <sets|*> recv <sets|*>      e.g. recv [x=960,y=540]
    a=framerate:<fps>

- `recv` sets in an offer or answer say which sizes its writer wants to receive; `send`
  sets which it will send. A set's x and y are a value, a range `[a:b]` or `[a:step:b]`, or
  a list `[a,b,...]`; the largest value of each counts here (sar, par and q are read past).
- An SDP carrying the attribute on a video m-line says its writer understands it (RFC 6236
  section 3.2: an answerer that does not ignores it, and leaves it out): that is when the
  MCU asks a site by re-INVITE.
- The offer of our calls states `imageattr:* send * recv *` (any size both ways), so a site
  that understands the attribute says so in its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rtp import sdp
from rtp.content_negotiation import content_index
from rtp.sdp import MediaDescription, SdpError

ANY = "*"
_SET = re.compile(r"\[([^\[\]]*(?:\[[^\[\]]*\][^\[\]]*)*)\]")
_VALUE = re.compile(r"(?:^|,)\s*(x|y)\s*=\s*(\[[^\]]*\]|\d+)")
MAX_SIDE = 65535


@dataclass(frozen=True, slots=True)
class ImageAttr:
    payload_type: str  # a payload type's number, or "*"
    send: tuple[tuple[int, int], ...] | None  # the largest (x, y) of each set; None: "*"
    recv: tuple[tuple[int, int], ...] | None

    @staticmethod
    def largest(sets: tuple[tuple[int, int], ...] | None) -> tuple[int, int] | None:
        """The largest size of `sets` by area (None for "*" or none)."""
        return max(sets, key=lambda s: s[0] * s[1]) if sets else None


def _largest_value(text: str, where: str) -> int:
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    if not numbers or any(not 1 <= n <= MAX_SIDE for n in numbers):
        raise SdpError(f"{where}: imageattr size {text!r} is not 1..{MAX_SIDE}")
    return max(numbers)


def _sets(text: str, where: str) -> tuple[tuple[int, int], ...] | None:
    text = text.strip()
    if text == ANY:
        return None
    sets = []
    for body in _SET.findall(text):
        values = dict((name, _largest_value(value, where))
                      for name, value in _VALUE.findall(body))
        if "x" not in values or "y" not in values:
            raise SdpError(f"{where}: imageattr set [{body}] without x and y")
        sets.append((values["x"], values["y"]))
    if not sets:
        raise SdpError(f"{where}: imageattr {text!r} has no set")
    return tuple(sets)


def parse(value: str, where: str = "a=imageattr") -> ImageAttr:
    """`value` is the attribute's text after `imageattr:`; SdpError when it does not parse."""
    pt, _, rest = value.strip().partition(" ")
    if pt != ANY and not pt.isdigit():
        raise SdpError(f"{where}: imageattr payload type {pt!r}")
    parts = re.split(r"\b(send|recv)\b", rest)
    found: dict[str, str] = {}
    for index in range(1, len(parts) - 1, 2):
        found[parts[index]] = parts[index + 1]
    if not found or parts[0].strip():
        raise SdpError(f"{where}: imageattr needs send and/or recv: {value!r}")
    return ImageAttr(pt, _sets(found["send"], where) if "send" in found else None,
                     _sets(found["recv"], where) if "recv" in found else None)


def attributes_of(media: MediaDescription) -> list[ImageAttr]:
    """The imageattr lines of an m-line; SdpError for one that does not parse."""
    return [parse(other.partition(":")[2]) for other in media.other
            if other.startswith("imageattr:")]


def understood(media: MediaDescription) -> bool:
    """Whether the m-line's writer states image attributes (so it understands them)."""
    return any(other.startswith("imageattr:") for other in media.other)


def for_payload(media: MediaDescription, payload_type: int) -> ImageAttr | None:
    """The imageattr of `payload_type` (or the "*" one) on the m-line; None without one."""
    attrs = attributes_of(media)
    return next((a for a in attrs if a.payload_type == str(payload_type)),
                next((a for a in attrs if a.payload_type == ANY), None))


def framerate_of(media: MediaDescription) -> int | None:
    """RFC 4566 a=framerate (rounded down); None without one or for a bad value."""
    for other in media.other:
        if other.startswith("framerate:"):
            try:
                return max(1, int(float(other.partition(":")[2])))
            except ValueError:
                return None
    return None


def state(media: MediaDescription, lines: list[str]) -> None:
    """Replace the m-line's imageattr and framerate attributes by `lines`."""
    media.other = [other for other in media.other
                   if not other.startswith(("imageattr:", "framerate:"))] + lines


def any_size_line() -> str:
    return "imageattr:* send * recv *"


def ask_lines(width: int, height: int, fps: int, payload_type: str = ANY) -> list[str]:
    """What a receiver writes to ask for width x height at fps: `recv` that size."""
    return [f"imageattr:{payload_type} send * recv [x={width},y={height}]", f"framerate:{fps}"]


def promise_lines(width: int, height: int, fps: int, payload_type: str = ANY) -> list[str]:
    """What a sender writes to say it sends width x height at fps."""
    return [f"imageattr:{payload_type} send [x={width},y={height}] recv *", f"framerate:{fps}"]


def main_video(session: sdp.SessionDescription) -> MediaDescription | None:
    """The main video m-line (the first video m-line that is not the content one)."""
    content = content_index(session)
    return next((m for i, m in enumerate(session.media)
                 if m.kind == "video" and i != content), None)


def state_any_size(session: sdp.SessionDescription) -> None:
    """Our first offer's (and our answer's to an SDP that states image attributes): any
    size both ways on the main video, so a peer that understands RFC 6236 says so."""
    video = main_video(session)
    if video is not None and video.port != 0:
        state(video, [any_size_line()])


def understands_imageattr(body: bytes | str | sdp.SessionDescription) -> bool:
    """Whether an SDP states image attributes on its main video."""
    try:
        video = main_video(body if isinstance(body, sdp.SessionDescription)
                           else sdp.parse(body))
    except SdpError:
        return False
    return video is not None and understood(video)
