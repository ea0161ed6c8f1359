"""Raw signalling in tests: answer the MCU's digest challenge (docs/signalling.md,
"Authentication") as a terminal does, with the secret the test server's settings accept (the
embedded lab provisioning key's, unless a test gives another)."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

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
