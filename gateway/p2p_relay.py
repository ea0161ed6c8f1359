"""The signalling side of point-to-point calls (mcu/p2p_calls.py holds their state and
records): a registered terminal's `call` is relayed to the callee as an `invite` carrying
the caller's SDP offer; the callee's `ringing`, `answer` and `decline` go back to the caller
as they are; a `bye` from either end goes to the other. The media then flows terminal to
terminal; the platform only reads the answer's SDP for the codecs of the call's record.

Each message is checked before anything changes: the `call` fields (a callee registered and
not the caller, an unused call id, an SDP that parses), and that a relayed message comes from
the party that may send it (ringing, answer and decline from the callee). Refusals are
`error` messages with the codes of docs/signalling.md. A call the platform ends because the
callee did not answer in time (mcu/p2p_calls.py ring timeout) is a `bye` to both terminals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcu.cdr import NegotiatedMedia
from mcu.p2p_calls import (
    NO_ANSWER_REASON,
    P2PRefused,
    Party,
    PointToPointCall,
    PointToPointCalls,
)
from rtc.codec_preferences import negotiated_codec
from rtc.signalling import Answer, Bye, Decline, Error, Invite, Message, PlaceCall, Ringing

if TYPE_CHECKING:
    from gateway.signalling import SignallingHub, TerminalConnection

BAD_SDP = "bad_sdp"
UNEXPECTED = "unexpected"


def _sdp_codecs(sdp: str) -> tuple[str | None, str | None]:
    """(audio, video) codec of an SDP; ValueError when it is not SDP."""
    if not sdp.strip().startswith("v=0"):
        raise ValueError("not an SDP (it starts with v=0)")
    try:
        return negotiated_codec(sdp, "audio"), negotiated_codec(sdp, "video")
    except Exception as error:  # aiortc's parser raises what the text makes it raise
        raise ValueError(f"unreadable SDP: {error}") from None


class PointToPointRelay:
    def __init__(self, hub: SignallingHub, calls: PointToPointCalls) -> None:
        self.hub = hub
        self.calls = calls
        calls.on_unanswered(self._unanswered)

    def place(self, connection: TerminalConnection, message: PlaceCall) -> None:
        endpoint = connection.endpoint
        assert endpoint is not None  # the connection checks registration first
        try:
            _sdp_codecs(message.sdp)
        except ValueError as error:
            connection.send(Error(BAD_SDP, f"call.sdp: {error}", message.call_id))
            return
        callee_connection = self.hub.connections.get(message.to)
        callee_endpoint = callee_connection.endpoint if callee_connection else None
        callee = (Party(callee_endpoint.uri, callee_endpoint.registration.site_type)
                  if callee_endpoint is not None else None)
        caller = Party(endpoint.uri, endpoint.registration.site_type)
        try:
            call = self.calls.place(message.call_id, caller, callee, message.to.strip(),
                                    message.rate)
        except P2PRefused as refusal:
            connection.send(Error(refusal.code, str(refusal), message.call_id))
            return
        assert callee_connection is not None
        callee_connection.send(Invite(call.call_id, "", "", message.sdp, caller=caller.uri))

    def owns(self, connection: TerminalConnection, call_id: str) -> bool:
        call = self.calls.get(call_id)
        return call is not None and connection.uri is not None and call.party(connection.uri)

    def relay(self, connection: TerminalConnection,
              message: Ringing | Answer | Decline | Bye) -> None:
        call = self.calls.get(message.call_id)
        sender = connection.uri
        if call is None or sender is None:
            return
        if isinstance(message, Ringing | Answer | Decline) and sender != call.callee.uri:
            connection.send(Error(UNEXPECTED, f"{message.type} comes from the callee",
                                  message.call_id))
            return
        if isinstance(message, Answer):
            try:
                audio, video = _sdp_codecs(message.sdp)
            except ValueError as error:
                connection.send(Error(BAD_SDP, f"answer.sdp: {error}", message.call_id))
                return
            self.calls.answered(call, NegotiatedMedia(audio_codec=audio, video_codec=video))
        elif isinstance(message, Ringing):
            self.calls.ringing(call)
        elif isinstance(message, Decline):
            self.calls.end(call, sender, message.reason or "declined", declined=True)
        else:
            self.calls.end(call, sender, message.reason or "hang up")
        self._send_to(call.other(sender), message)

    def vanished(self, uri: str) -> None:
        """A terminal gone: its calls end, the other end hears a bye."""
        for call in self.calls.calls_of(uri):
            self.calls.end(call, uri, "vanished", vanished=True)
            self._send_to(call.other(uri), Bye(call.call_id, "the other terminal vanished"))

    def _unanswered(self, call: PointToPointCall) -> None:
        """The ring timeout ended the call: the caller stops waiting, the callee ringing."""
        for uri in (call.caller.uri, call.callee.uri):
            self._send_to(uri, Bye(call.call_id, NO_ANSWER_REASON))

    def _send_to(self, uri: str, message: Message) -> None:
        connection = self.hub.connections.get(uri)
        if connection is not None:
            connection.send(message)

