"""Raw signalling in tests: answer the MCU's digest challenge (docs/signalling.md,
"Authentication") as a terminal does, with the secret the test server's settings accept (the
embedded lab provisioning key's, unless a test gives another)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

from gateway.settings import Settings
from rtc.signalling import Register
from rtc.signalling_auth import digest_ha1, digest_response, lab_secret


async def read_challenge(ws: aiohttp.ClientWebSocketResponse) -> dict[str, Any]:
    """The challenge the MCU sends first on a new socket (or after a refused register)."""
    message = await ws.receive_json(timeout=10)
    assert message["type"] == "challenge", message
    return message


def auth_for(uri: str, challenge: dict[str, Any], secret: str | None = None) -> dict[str, str]:
    ha1 = digest_ha1(uri, challenge["realm"], secret if secret is not None else lab_secret(uri))
    return {"response": digest_response(ha1, challenge["nonce"])}


async def send_register(ws: aiohttp.ClientWebSocketResponse, register: Register | dict[str, Any],
                        secret: str | None = None,
                        challenge: dict[str, Any] | None = None) -> None:
    """Send `register` with the digest response to `challenge` (None: read the socket's
    challenge first); the reply, `registered` or an error, is left to the caller."""
    data = json.loads(register.to_json()) if isinstance(register, Register) else dict(register)
    if challenge is None:
        challenge = await read_challenge(ws)
    data["auth"] = auth_for(data["uri"], challenge, secret)
    await ws.send_str(json.dumps(data))


async def webrtc_offer() -> str:
    """A real WebRTC offer (audio and video, as a browser sends): for dial-in tests."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


def without_dial_in_limits(settings: Settings) -> Settings:
    """The settings with the dial-in attempt limits lifted (tests/test_dial_in_limits.py tests
    them): every `join` is answered for its access code, password and SDP, never `locked`."""
    return replace(settings, dial_in_lock_attempts=10**9, dial_in_code_lock_attempts=10**9,
                   dial_in_delay_after=10**9)
