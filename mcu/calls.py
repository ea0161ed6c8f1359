"""Call control: one Call per dial-out attempt, the state machine it follows, and the Dialer
that places it.

    CALLING --ringing()--> RINGING --answer()--> IN_CONFERENCE --hang_up*()--> NOT_JOINED
       |                      |
       +--answer()------------+--> IN_CONFERENCE
       +--reject()/timeout----+--> NOT_JOINED (with a reason)

Two timeouts, both on asyncio loop time and both settings. The call timeout runs from the
call being placed to its answer: a dial-out still CALLING when it fires never reached a
terminal (SMC reason 109, callee offline); one still RINGING was not answered (129). Once
the answer is in (dial-out: the terminal's SDP answer arrived; dial-in: the MCU sent its
own), `media_path_pending` swaps it for the media timeout: the media path (ICE, then DTLS)
must come up within it, and if it does not the endpoint names what did not (ICE 118, DTLS
12378). A site is in conference (answer()) as soon as that path is up, whether or not it
sends anything. A dial-in is a Call too: CALLING from the accepted join until its media
path is up. Callbacks on a call that is already over are ignored, so a terminal that
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
    """Call failure codes of the platform (error-codes-smc.tsv), the ones a simulated call can
    meet: the call-setup codes 101-131, and for what WebRTC adds the MCU's own (docs/gateway.md,
    callFailedReason, has the table)."""

    CALLEE_OFFLINE = 109  # 被叫离线
    CALLEE_REJECTED = 115  # 被叫拒绝接听
    NETWORK_ERROR = 116  # 网络超时或内部错误
    CALLEE_BUSY = 117  # 被叫正忙
    ICE_FAILED = 118  # 私网回呼失败，被叫无法接通 (NAT traversal: no path to the callee)
    NO_ANSWER = 129  # 被叫无人接听
    DTLS_FAILED = 12378  # 会场加密模式与会议不匹配 (the media encryption was not agreed)
    CODEC_MISMATCH = 131088  # 能力交换失败 (capability exchange failed: no common codec)

    def info(self, detail: str = "") -> ErrorInfo:
        return ErrorInfo(int(self), detail or _DESCRIPTIONS[self])


_DESCRIPTIONS = {
    CallFailure.CALLEE_OFFLINE: "callee offline: no endpoint reachable for this URI",
    CallFailure.CALLEE_REJECTED: "callee rejected the call",
    CallFailure.NETWORK_ERROR: "network timeout or internal error",
    CallFailure.CALLEE_BUSY: "callee busy",
    CallFailure.ICE_FAILED: "ICE failed: no network path to the callee's media",
    CallFailure.NO_ANSWER: "callee did not answer",
    CallFailure.DTLS_FAILED: "DTLS failed: the media encryption was not established",
    CallFailure.CODEC_MISMATCH: "no common codec",
}

# What a timeout fails the call with: a fixed reason, or one worked out when it fires.
TimeoutReason = ErrorInfo | Callable[[], ErrorInfo]
DEFAULT_MEDIA_TIMEOUT = 10.0

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
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
    ) -> None:
        self.conf_id = conf_id
        self.media_timeout = media_timeout
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
        self._timeout_reason: TimeoutReason | None = None

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

    def start_timeout(self, seconds: float, reason: TimeoutReason | None = None) -> None:
        """Fail the call if it is not in conference after `seconds`: with `reason` (called
        then, if a function), or by its state (109 never reached, 129 not answered)."""
        self._cancel_timeout()
        loop = asyncio.get_running_loop()
        self._timeout_reason = reason
        self._timeout = loop.call_later(seconds, self._timed_out)

    def media_path_pending(self, reason: Callable[[], ErrorInfo]) -> None:
        """The answer is in (driven by the endpoint): the call timeout stops, the media path
        has `media_timeout` seconds to come up (answer()), else the call fails with
        `reason()`, which names what did not come up."""
        if self.state in (SiteCallState.CALLING, SiteCallState.RINGING):
            self.start_timeout(self.media_timeout, reason)

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
        reason = self._timeout_reason
        if reason is not None:
            self.reject(reason if isinstance(reason, ErrorInfo) else reason())
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
