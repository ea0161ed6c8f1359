"""Call control: one Call per dial-out attempt, the state machine it follows, and the Dialer
that places it.

    CALLING --ringing()--> RINGING --answer()--> IN_CONFERENCE --hang_up*()--> NOT_JOINED
       |                      |
       +--answer()------------+--> IN_CONFERENCE
       +--reject()/timeout----+--> NOT_JOINED (with a reason)

The runtime owns the timeout (asyncio loop time, a setting): a call still CALLING when it
fires never reached a terminal (SMC reason 109, callee offline); one still RINGING was not
answered (129). A dial-in is a Call too: CALLING from the accepted join until its media
flows (answer()), and a timeout then means its media never came (116). Callbacks on a call that is already over are ignored, so a terminal that
answers after the timeout or after a hang-up changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from enum import IntEnum
from typing import Protocol

from mcu.cdr import Direction, NegotiatedMedia
from mcu.endpoints import Endpoint, EndpointRegistry
from mcu.events import ErrorInfo
from mcu.model import SiteCallState, SiteSpec


class CallFailure(IntEnum):
    """Call failure codes of the platform (error-codes-smc.tsv 101-131), the ones a simulated
    call can meet."""

    CALLEE_OFFLINE = 109  # 被叫离线
    CALLEE_REJECTED = 115  # 被叫拒绝接听
    NETWORK_ERROR = 116  # 网络超时或内部错误
    CALLEE_BUSY = 117  # 被叫正忙
    NO_ANSWER = 129  # 被叫无人接听

    def info(self, detail: str = "") -> ErrorInfo:
        return ErrorInfo(int(self), detail or _DESCRIPTIONS[self])


_DESCRIPTIONS = {
    CallFailure.CALLEE_OFFLINE: "callee offline: no endpoint reachable for this URI",
    CallFailure.CALLEE_REJECTED: "callee rejected the call",
    CallFailure.NETWORK_ERROR: "network timeout or internal error",
    CallFailure.CALLEE_BUSY: "callee busy",
    CallFailure.NO_ANSWER: "callee did not answer",
}

_LIVE_CALL_STATES = frozenset(
    {SiteCallState.CALLING, SiteCallState.RINGING, SiteCallState.IN_CONFERENCE}
)


class Call:
    """One call between the MCU and a site of a running conference."""

    def __init__(
        self,
        conf_id: str,
        site: SiteSpec,
        on_change: Callable[[Call], None],
    ) -> None:
        self.conf_id = conf_id
        self.site = site
        self.state = SiteCallState.CALLING
        self.failure: ErrorInfo | None = None
        self.endpoint: Endpoint | None = None
        # What the media negotiated, reported by the endpoint (report_media): the call
        # detail record written when the call ends keeps it (mcu/cdr.py).
        self.media: NegotiatedMedia | None = None
        self.direction = Direction.DIAL_OUT
        # Set by the runtime on its clock: when the call was placed and when answered.
        self.placed_at: datetime | None = None
        self.answered_at: datetime | None = None
        self.end_reason = ""  # who ended a call that was in progress, and why
        self._on_change = on_change
        self._timeout: asyncio.TimerHandle | None = None
        self._timeout_reason: ErrorInfo | None = None

    @property
    def uri(self) -> str:
        return self.site.uri

    @property
    def active(self) -> bool:
        return self.state in _LIVE_CALL_STATES

    # --- driven by the terminal side (endpoint / dialer) ---

    def ringing(self) -> None:
        if self.state is SiteCallState.CALLING:
            self._move(SiteCallState.RINGING)

    def answer(self, endpoint: Endpoint | None = None) -> None:
        if self.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            if endpoint is not None:
                self.endpoint = endpoint
            self._cancel_timeout()
            self._move(SiteCallState.IN_CONFERENCE)

    def report_media(self, media: NegotiatedMedia) -> None:
        """The endpoint tells what the call's media settled on (codecs, format, rate)."""
        if self.active:
            self.media = media

    def reject(self, reason: ErrorInfo | None = None) -> None:
        if self.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            self._fail(reason or CallFailure.CALLEE_REJECTED.info())

    def hang_up_remote(self, reason: str = "site hung up") -> None:
        """The terminal left the conference on its own."""
        if self.active:
            self.end_reason = reason
            self._cancel_timeout()
            self._move(SiteCallState.NOT_JOINED)

    # --- driven by the MCU side (runtime) ---

    def start_timeout(self, seconds: float, reason: ErrorInfo | None = None) -> None:
        """Fail the call if it is not in conference after `seconds`: with `reason`, or by
        its state (109 never reached, 129 not answered)."""
        loop = asyncio.get_running_loop()
        self._timeout_reason = reason
        self._timeout = loop.call_later(seconds, self._timed_out)

    def hang_up_local(self, reason: str = "MCU hung up") -> bool:
        """The MCU ends the call (disconnectSitesEx, conference end). True if it was live."""
        if not self.active:
            return False
        self.end_reason = reason
        self._cancel_timeout()
        self._move(SiteCallState.NOT_JOINED)
        return True

    def _timed_out(self) -> None:
        self._timeout = None
        if self._timeout_reason is not None:
            self.reject(self._timeout_reason)
        elif self.state is SiteCallState.CALLING:
            self._fail(CallFailure.CALLEE_OFFLINE.info())
        elif self.state is SiteCallState.RINGING:
            self._fail(CallFailure.NO_ANSWER.info())

    def _fail(self, reason: ErrorInfo) -> None:
        self._cancel_timeout()
        self.failure = reason
        self._move(SiteCallState.NOT_JOINED)

    def _cancel_timeout(self) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
            self._timeout = None

    def _move(self, state: SiteCallState) -> None:
        self.state = state
        self._on_change(self)

    def __repr__(self) -> str:
        return f"Call({self.conf_id!r}, {self.uri!r}, {self.state.name})"


class Dialer(Protocol):
    """Places and clears calls. place_call returns at once; the outcome arrives later through
    the Call's methods (or never, and the runtime's timeout decides)."""

    def place_call(self, call: Call) -> None: ...

    def clear_call(self, call: Call) -> None: ...


class RegistryDialer:
    """The default dialer: a URI is reachable when an endpoint registered it. Unreachable
    calls stay CALLING until the runtime's timeout fails them as callee offline."""

    def __init__(self, registry: EndpointRegistry) -> None:
        self.registry = registry

    def place_call(self, call: Call) -> None:
        endpoint = self.registry.lookup(call.uri)
        if endpoint is None:
            return
        call.endpoint = endpoint
        endpoint.offer_call(call)

    def clear_call(self, call: Call) -> None:
        if call.endpoint is not None:
            call.endpoint.call_ended(call)
