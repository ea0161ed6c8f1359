"""Bounds of one WebRTC negotiation (docs/signalling.md, "Bad offers"): too many m-lines
(BadOffer), an SDP with no common codec (NoCommonCodec from apply_remote_description), a
negotiation not done within NEGOTIATION_TIMEOUT_S (BadOffer)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import OperationError

from mcu.media.webrtc_codecs import NoCommonCodec

# Bounds of one negotiation (docs/signalling.md, "Bad offers"): an offer with more media
# sections than this is refused before aiortc reads it (each would cost an ICE and a DTLS
# transport; the MCU uses one audio and one video); the terminal's SDP applied and the MCU's
# own created within NEGOTIATION_TIMEOUT_S, else the call fails with `bad_sdp`.
MAX_MEDIA_SECTIONS = 8
NEGOTIATION_TIMEOUT_S = 10.0


class BadOffer(Exception):
    """An SDP the MCU refuses before or while negotiating it (its text says why)."""


def check_media_sections(sdp: str) -> None:
    """BadOffer when the SDP has more than MAX_MEDIA_SECTIONS m-lines."""
    sections = sum(1 for line in sdp.splitlines() if line.startswith("m="))
    if sections > MAX_MEDIA_SECTIONS:
        raise BadOffer(f"{sections} media sections: at most {MAX_MEDIA_SECTIONS}")


async def apply_remote_description(pc: RTCPeerConnection, sdp: str, kind: str) -> None:
    """setRemoteDescription; NoCommonCodec when aiortc finds no codec of an m-line that both
    sides have (the one case it raises OperationError for)."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp, kind))
    except OperationError as error:
        raise NoCommonCodec(f"no common codec in the terminal's {kind}: {error}") from None


@asynccontextmanager
async def negotiation_bound() -> AsyncIterator[None]:
    """The negotiation inside finishes within NEGOTIATION_TIMEOUT_S, else BadOffer."""
    try:
        async with asyncio.timeout(NEGOTIATION_TIMEOUT_S):
            yield
    except TimeoutError:
        raise BadOffer(f"negotiation not done within {NEGOTIATION_TIMEOUT_S:g} s") from None
