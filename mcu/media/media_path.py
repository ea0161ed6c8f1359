"""The media path of one call: up once ICE and DTLS are connected, or what failed.

A site is in conference as soon as its media path is up, whether or not it sends anything
(a display-only room, a browser without a camera): the MCU sends it the conference from
then on. Up means aiortc's RTCPeerConnection.connectionState is "connected": every ICE
transport of the call has a nominated pair ("completed") and every DTLS transport finished
its handshake and checked the peer's certificate against the SDP fingerprint.

When the path goes down ("failed", or "closed" by the other side) or does not come up within
the media timeout (mcu/calls.py), `failure()` names the layer that did not make it, from the
public state of the connection: ICE (iceConnectionState not "completed": no candidate pair
works, e.g. the terminal offered no usable address) -> 118; ICE up but DTLS not connected
(the handshake failed or never ended, e.g. a certificate that is not the SDP's fingerprint)
-> 12378. docs/gateway.md (callFailedReason) has the table.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiortc import RTCPeerConnection

from mcu.calls import CallFailure
from mcu.events import ErrorInfo


class MediaPath:
    """Follows a call's RTCPeerConnection: `up` is set once it connects; `on_down(reason)`
    is called when it fails or closes, a local close included (the owner ignores that once
    it has closed the call itself)."""

    def __init__(self, pc: RTCPeerConnection, on_down: Callable[[ErrorInfo], None]) -> None:
        self.pc = pc
        self.up = asyncio.Event()
        self._on_down = on_down
        pc.on("connectionstatechange", self._changed)

    def _changed(self) -> None:
        state = self.pc.connectionState
        if state == "connected":
            self.up.set()
        elif state == "failed":
            self._on_down(self.failure())
        elif state == "closed":
            self._on_down(CallFailure.NETWORK_ERROR.info("the media path was closed"))

    def ice_state(self) -> str:
        return str(self.pc.iceConnectionState)

    def dtls_states(self) -> list[str]:
        """The states of the call's DTLS transports (one when bundled)."""
        return sorted({t.sender.transport.state for t in self.pc.getTransceivers()})

    def failure(self, waited: float | None = None) -> ErrorInfo:
        """Why the path is not up: ICE if ICE has not completed, else DTLS. With `waited`,
        it timed out after that many seconds rather than failing outright."""
        how = f"not connected {waited:g} s after the answer" if waited is not None else "failed"
        ice = self.ice_state()
        if ice != "completed":
            return CallFailure.ICE_FAILED.info(
                f"ICE {how}: no candidate pair works (ICE state {ice})")
        dtls = "/".join(self.dtls_states())
        return CallFailure.DTLS_FAILED.info(
            f"DTLS {how}: the handshake or the fingerprint check did not succeed "
            f"(ICE connected, DTLS state {dtls})")
