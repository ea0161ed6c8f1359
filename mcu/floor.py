"""The content floor of one conference: who may send the content (aux) stream.

Pure rules, no I/O: every operation returns a `FloorChange` saying who is to be told what
(`notices`, one per floor request whose status changed, for BFCP FloorRequestStatus) and
who holds the floor before and after (for FloorStatus, ConferenceStatus.presentation and
the media plane). A refused operation raises `FloorError` and changes nothing.

The rules (docs/bfcp.md, "Floor rules"):
- one floor per conference, one holder at a time, whatever the presentation mode: a new
  grant revokes the previous holder's request (REVOKED);
- a participant's request (BFCP FloorRequest, a person pressing "share") is granted at once,
  unless the floor is locked to another site: then it is DENIED;
- the chair (the MCU, for setAuxStreamEx controlCode 0/1) grants or releases the floor for
  a site; a grant to another site while the floor is locked is refused (PRESENTATION_LOCKED);
- lock(site) (lockPresentationEx) grants the floor to that site if it does not hold it and
  pins it there until unlock(), or until the holder releases it or leaves;
- a site without a content input can neither request nor be granted the floor;
- a site leaving the conference releases the floor (and its lock) if it held it.

Request statuses and their numbers are RFC 8855's REQUEST-STATUS (section 5.2.5); the
refusals carry the RFC 8855 ERROR-CODE a BFCP answer uses (`BFCP_ERROR_CODE`).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from mcu.errors import DomainError, Fault
from rtc.bfcp.tables import RequestStatus  # RFC 8855 REQUEST-STATUS, one enum for both

MAX_REQUEST_ID = 0xFFFF  # FLOOR-REQUEST-ID is 16 bits; 0 is never used
FINISHED_KEPT = 64  # finished requests kept for queries (FloorRequestQuery), oldest dropped


# a request in one of these is over (kept for queries, never changed again)
FINISHED = frozenset({RequestStatus.DENIED, RequestStatus.CANCELLED, RequestStatus.RELEASED,
                      RequestStatus.REVOKED})


class Refusal(Enum):
    UNKNOWN_SITE = "the site is not in the conference"
    NO_CONTENT_INPUT = "the site declared no content input"
    LOCKED = "the floor is locked to another site"
    UNKNOWN_REQUEST = "no such floor request"
    NOT_YOUR_REQUEST = "the floor request belongs to another site"
    ALREADY_REQUESTED = "the site already has an ongoing floor request"


# The domain fault (gateway/result_codes.py maps it to a SOAP result code) of each refusal.
FAULT: dict[Refusal, Fault] = {
    Refusal.UNKNOWN_SITE: Fault.SITE_NOT_CONNECTED,
    Refusal.NO_CONTENT_INPUT: Fault.NOT_SUPPORTED,
    Refusal.LOCKED: Fault.PRESENTATION_LOCKED,
    Refusal.UNKNOWN_REQUEST: Fault.OUT_OF_RANGE,
    Refusal.NOT_YOUR_REQUEST: Fault.OUT_OF_RANGE,
    Refusal.ALREADY_REQUESTED: Fault.OUT_OF_RANGE,
}

# The RFC 8855 ERROR-CODE (section 5.2.6) a BFCP Error carries for each refusal.
BFCP_ERROR_CODE: dict[Refusal, int] = {
    Refusal.UNKNOWN_SITE: 2,  # User does not exist
    Refusal.NO_CONTENT_INPUT: 5,  # Unauthorized operation
    Refusal.LOCKED: 5,  # Unauthorized operation (a participant's request is Denied instead)
    Refusal.UNKNOWN_REQUEST: 7,  # Floor request ID does not exist
    Refusal.NOT_YOUR_REQUEST: 5,  # Unauthorized operation
    Refusal.ALREADY_REQUESTED: 8,  # maximum number of ongoing floor requests reached
}


class FloorError(DomainError):
    """A floor operation refused; nothing changed."""

    def __init__(self, refusal: Refusal, site: str) -> None:
        super().__init__(FAULT[refusal], f"{site}: {refusal.value}")
        self.refusal = refusal
        self.site = site

    @property
    def bfcp_error_code(self) -> int:
        return BFCP_ERROR_CODE[self.refusal]


@dataclass(frozen=True)
class FloorRequest:
    request_id: int
    site: str  # the beneficiary: the site that is to send the content
    status: RequestStatus
    by_chair: bool  # made by the chair (setAuxStreamEx, lockPresentationEx) for the site


@dataclass(frozen=True)
class Notice:
    """Tell `site` that its floor request `request_id` is now `status`."""

    site: str
    request_id: int
    status: RequestStatus


@dataclass(frozen=True)
class FloorChange:
    notices: tuple[Notice, ...]
    holder_before: str | None
    holder_after: str | None
    locked_before: bool
    locked_after: bool

    @property
    def holder_changed(self) -> bool:
        return self.holder_before != self.holder_after

    @property
    def changed(self) -> bool:
        return (
            bool(self.notices)
            or self.holder_changed
            or self.locked_before != self.locked_after
        )


class Floor:
    """The floor of one conference (RFC 8855 floor control server and chair in one)."""

    def __init__(self, floor_id: int = 1) -> None:
        self.floor_id = floor_id
        self._content_input: dict[str, bool] = {}  # site -> it declared a content input
        self._requests: dict[int, FloorRequest] = {}  # ongoing ones
        self._finished: OrderedDict[int, FloorRequest] = OrderedDict()
        self._granted: int | None = None  # the request id holding the floor
        self._locked = False
        self._last_id = 0

    # ---------------------------------------------------------------- state

    @property
    def holder(self) -> str | None:
        if self._granted is None:
            return None
        return self._requests[self._granted].site

    @property
    def locked(self) -> bool:
        return self._locked

    @property
    def granted_request(self) -> FloorRequest | None:
        return None if self._granted is None else self._requests[self._granted]

    @property
    def sites(self) -> dict[str, bool]:
        """Each site in the conference and whether it declared a content input."""
        return dict(self._content_input)

    def request(self, request_id: int) -> FloorRequest:
        """An ongoing or recently finished request (FloorRequestQuery)."""
        found = self._requests.get(request_id) or self._finished.get(request_id)
        if found is None:
            raise FloorError(Refusal.UNKNOWN_REQUEST, str(request_id))
        return found

    # ---------------------------------------------------------------- membership

    def join(self, site: str, *, has_content_input: bool) -> FloorChange:
        """The site is in the conference with what it declared. A holder that re-declares
        without a content input loses the floor (RELEASED)."""
        before = self._snapshot()
        self._content_input[site] = has_content_input
        notices: list[Notice] = []
        if not has_content_input and self.holder == site:
            notices.append(self._end_granted(RequestStatus.RELEASED))
        return self._change(before, notices)

    def leave(self, site: str) -> FloorChange:
        """The site left or vanished: its floor and lock go, its requests end (RELEASED)."""
        before = self._snapshot()
        notices: list[Notice] = []
        if self.holder == site:
            notices.append(self._end_granted(RequestStatus.RELEASED))
        for request in [r for r in self._requests.values() if r.site == site]:
            notices.append(self._finish(request, RequestStatus.CANCELLED))
        self._content_input.pop(site, None)
        return self._change(before, notices)

    # ---------------------------------------------------------------- participants (BFCP)

    def participant_request(self, site: str) -> tuple[FloorRequest, FloorChange]:
        """BFCP FloorRequest from the site for itself: GRANTED (revoking the previous
        holder), or DENIED while the floor is locked to another site."""
        self._check_can_send(site)
        if any(r.site == site for r in self._requests.values()):
            raise FloorError(Refusal.ALREADY_REQUESTED, site)
        before = self._snapshot()
        if self._locked:
            denied = FloorRequest(self._new_id(), site, RequestStatus.DENIED, by_chair=False)
            self._keep_finished(denied)
            notice = Notice(site, denied.request_id, denied.status)
            return denied, self._change(before, [notice])
        notices = self._grant(site, by_chair=False)
        granted = self.granted_request
        assert granted is not None
        return granted, self._change(before, notices)

    def participant_release(self, site: str, request_id: int) -> FloorChange:
        """BFCP FloorRelease of one of the site's own requests: a granted one is RELEASED
        (the lock goes with it); a finished one is answered with its final status again."""
        request = self.request(request_id)
        if request.site != site:
            raise FloorError(Refusal.NOT_YOUR_REQUEST, site)
        before = self._snapshot()
        if request.status in FINISHED:
            return self._change(before, [Notice(site, request_id, request.status)])
        if request.request_id == self._granted:
            return self._change(before, [self._end_granted(RequestStatus.RELEASED)])
        return self._change(before, [self._finish(request, RequestStatus.CANCELLED)])

    # ---------------------------------------------------------------- the chair (SOAP)

    def chair_grant(self, site: str) -> FloorChange:
        """setAuxStreamEx controlCode 0: the site sends content. Nothing changes when it
        already holds the floor."""
        self._check_can_send(site)
        before = self._snapshot()
        if self.holder == site:
            return self._change(before, [])
        if self._locked:
            raise FloorError(Refusal.LOCKED, site)
        return self._change(before, self._grant(site, by_chair=True))

    def chair_release(self, site: str) -> FloorChange:
        """setAuxStreamEx controlCode 1: the site stops sending content; its floor (and the
        lock on it) goes. Nothing changes when it does not hold the floor."""
        self._check_site(site)
        before = self._snapshot()
        if self.holder != site:
            return self._change(before, [])
        return self._change(before, [self._end_granted(RequestStatus.RELEASED)])

    def lock(self, site: str) -> FloorChange:
        """lockPresentationEx: the site holds the floor (granted now if it did not) and
        nobody else may take it until unlock(), or until it releases or leaves."""
        self._check_can_send(site)
        before = self._snapshot()
        if self._locked and self.holder != site:
            raise FloorError(Refusal.LOCKED, site)
        notices = [] if self.holder == site else self._grant(site, by_chair=True)
        self._locked = True
        return self._change(before, notices)

    def unlock(self) -> FloorChange:
        """unlockPresentationEx: the holder keeps the floor, others may take it again."""
        before = self._snapshot()
        self._locked = False
        return self._change(before, [])

    # ---------------------------------------------------------------- internals

    def _check_site(self, site: str) -> None:
        if site not in self._content_input:
            raise FloorError(Refusal.UNKNOWN_SITE, site)

    def _check_can_send(self, site: str) -> None:
        self._check_site(site)
        if not self._content_input[site]:
            raise FloorError(Refusal.NO_CONTENT_INPUT, site)

    def _grant(self, site: str, *, by_chair: bool) -> list[Notice]:
        request_id = self._new_id()  # before the revoked request's id is free again
        notices = []
        if self._granted is not None:
            notices.append(self._end_granted(RequestStatus.REVOKED))
        request = FloorRequest(request_id, site, RequestStatus.GRANTED, by_chair)
        self._requests[request.request_id] = request
        self._granted = request.request_id
        notices.append(Notice(site, request.request_id, request.status))
        return notices

    def _end_granted(self, status: RequestStatus) -> Notice:
        assert self._granted is not None
        request = self._requests[self._granted]
        self._granted = None
        self._locked = False
        return self._finish(request, status)

    def _finish(self, request: FloorRequest, status: RequestStatus) -> Notice:
        self._requests.pop(request.request_id, None)
        self._keep_finished(
            FloorRequest(request.request_id, request.site, status, request.by_chair)
        )
        return Notice(request.site, request.request_id, status)

    def _keep_finished(self, request: FloorRequest) -> None:
        self._finished[request.request_id] = request
        self._finished.move_to_end(request.request_id)
        while len(self._finished) > FINISHED_KEPT:
            self._finished.popitem(last=False)

    def _new_id(self) -> int:
        """The next 16-bit request id (1..65535, wrapping), never one still ongoing."""
        candidate = self._last_id
        while True:
            candidate = candidate % MAX_REQUEST_ID + 1
            if candidate not in self._requests:
                break
        self._last_id = candidate
        self._finished.pop(candidate, None)
        return candidate

    def _snapshot(self) -> tuple[str | None, bool]:
        return self.holder, self._locked

    def _change(self, before: tuple[str | None, bool], notices: list[Notice]) -> FloorChange:
        return FloorChange(tuple(notices), before[0], self.holder, before[1], self._locked)
