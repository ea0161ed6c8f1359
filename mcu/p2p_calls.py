"""Point-to-point calls between two registered terminals, as SMC's: the platform relays the
signalling (offer, ringing, answer, decline, bye) and the media flows terminal to terminal.

One PointToPointCall per call id: CALLING (offer relayed to the callee) -> RINGING ->
CONNECTED (the callee answered) -> over. It is refused at once, changing nothing, when the
callee is not registered, is the caller itself, or the call id is in use. When it ends (a bye
from either end, a decline, either terminal vanishing, or no answer within the ring timeout)
its call detail record is written (mcu/cdr.py): caller, callee, placed/answered/ended on the
clock, the negotiated codecs, and why it ended (0 and the bye's reason once connected; 115
declined, 109 callee gone, 116 caller gone or failed, 129 not answered, before that).

Ring timeout: a call not answered within `ring_timeout` seconds (event-loop time) of being
placed, ringing or not, is ended by the platform with 129 (no answer); the listener set with
`on_unanswered` (the signalling relay, gateway/p2p_relay.py) then tells both terminals. The
timer is cancelled when the callee answers or the call ends otherwise.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from mcu.calls import CallFailure
from mcu.cdr import CallEnd, CallRecords, CallTimes, NegotiatedMedia, PointToPointRecord
from mcu.clock import Clock
from mcu.model import SiteType

log = logging.getLogger(__name__)


class P2PState(Enum):
    CALLING = "calling"
    RINGING = "ringing"
    CONNECTED = "connected"


class P2PRefused(Exception):
    """A call that cannot be placed; code is the signalling error code (docs/signalling.md)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


UNKNOWN_CALLEE = "unknown_callee"
CALL_REFUSED = "call_refused"
# the `bye` reason both terminals of a call ended by the ring timeout get
NO_ANSWER_REASON = "no answer"


@dataclass
class Party:
    uri: str
    site_type: SiteType


@dataclass
class PointToPointCall:
    call_id: str
    caller: Party
    callee: Party
    rate: str
    placed: datetime
    state: P2PState = P2PState.CALLING
    answered: datetime | None = None
    media: NegotiatedMedia | None = None
    ring_timer: asyncio.TimerHandle | None = field(default=None, repr=False, compare=False)

    def party(self, uri: str) -> bool:
        return uri in (self.caller.uri, self.callee.uri)

    def other(self, uri: str) -> str:
        return self.callee.uri if uri == self.caller.uri else self.caller.uri


class PointToPointCalls:
    def __init__(self, clock: Clock, records: CallRecords, ring_timeout: float = 30.0) -> None:
        if ring_timeout <= 0:
            raise ValueError("ring_timeout must be positive")
        self.clock = clock
        self.records = records
        self.ring_timeout = ring_timeout
        self._calls: dict[str, PointToPointCall] = {}
        self._unanswered: Callable[[PointToPointCall], None] | None = None

    def on_unanswered(self, listener: Callable[[PointToPointCall], None]) -> None:
        """`listener(call)` runs after a call was ended by the ring timeout (its record
        written), to tell both terminals."""
        self._unanswered = listener

    def get(self, call_id: str) -> PointToPointCall | None:
        return self._calls.get(call_id)

    def place(self, call_id: str, caller: Party, callee: Party | None, to: str,
              rate: str) -> PointToPointCall:
        """callee: the registered terminal of URI `to`, None when nobody registered it."""
        if not call_id.strip():
            raise P2PRefused(CALL_REFUSED, "call.call_id must not be empty")
        if call_id in self._calls:
            raise P2PRefused(CALL_REFUSED, "call id already in use")
        if to == caller.uri:
            raise P2PRefused(CALL_REFUSED, "a terminal cannot call itself")
        if callee is None:
            raise P2PRefused(UNKNOWN_CALLEE, f"no registered terminal has URI {to!r}")
        call = PointToPointCall(call_id, caller, callee, rate, self.clock.now())
        call.ring_timer = asyncio.get_running_loop().call_later(
            self.ring_timeout, self._ring_timed_out, call)
        self._calls[call_id] = call
        return call

    def _ring_timed_out(self, call: PointToPointCall) -> None:
        call.ring_timer = None
        if self._calls.get(call.call_id) is not call or call.state is P2PState.CONNECTED:
            return
        self._finish(call, CallEnd.of(CallFailure.NO_ANSWER.info(
            f"not answered within {self.ring_timeout:g} s")))
        if self._unanswered is not None:
            self._unanswered(call)

    def ringing(self, call: PointToPointCall) -> None:
        if call.state is P2PState.CALLING:
            call.state = P2PState.RINGING

    def answered(self, call: PointToPointCall, media: NegotiatedMedia) -> None:
        if call.state is not P2PState.CONNECTED:
            _cancel_ring_timer(call)
            call.state = P2PState.CONNECTED
            call.answered = self.clock.now()
            call.media = media

    def end(self, call: PointToPointCall, by_uri: str, reason: str,
            declined: bool = False, vanished: bool = False) -> None:
        """The call is over: `by_uri` ended it (bye, decline, or it vanished)."""
        if self._calls.get(call.call_id) is not call:
            return
        if call.state is P2PState.CONNECTED:
            end = CallEnd(0, reason)
        elif declined:
            end = CallEnd.of(CallFailure.CALLEE_REJECTED.info(reason))
        elif vanished and by_uri == call.callee.uri:
            end = CallEnd.of(CallFailure.CALLEE_OFFLINE.info("callee vanished"))
        elif by_uri == call.callee.uri:
            end = CallEnd.of(CallFailure.CALLEE_REJECTED.info(reason))
        else:
            end = CallEnd.of(CallFailure.NETWORK_ERROR.info(f"caller: {reason}"))
        self._finish(call, end)

    def _finish(self, call: PointToPointCall, end: CallEnd) -> None:
        """Forget the call, stop its ring timer and write its record."""
        del self._calls[call.call_id]
        _cancel_ring_timer(call)
        record = PointToPointRecord(
            call_id=call.call_id,
            calling_uri=call.caller.uri, calling_type=call.caller.site_type,
            called_uri=call.callee.uri, called_type=call.callee.site_type,
            rate=call.rate,
            times=CallTimes(call.placed, call.answered, self.clock.now()),
            media=call.media or NegotiatedMedia(),
            end=end,
        )
        self.records.record(record)

    def calls_of(self, uri: str) -> list[PointToPointCall]:
        return [call for call in self._calls.values() if call.party(uri)]


def _cancel_ring_timer(call: PointToPointCall) -> None:
    if call.ring_timer is not None:
        call.ring_timer.cancel()
        call.ring_timer = None
