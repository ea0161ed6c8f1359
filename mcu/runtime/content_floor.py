"""The content floor of each live conference (mcu/floor.py), driven by the SOAP chair
operations, by the BFCP participants (gateway/bfcp_floor.py) and by sites joining/leaving.

- setAuxStreamEx controlCode 0/1: the MCU, as chair, grants/releases the floor for a site
  (`grant`, `release`); lockPresentationEx / unlockPresentationEx pin and unpin it (`lock`,
  `unlock`). Refusals are `FloorError`s (a DomainError: its fault is the SOAP result code);
  a refused operation changes nothing.
- A site is in the floor once its call is IN_CONFERENCE, with what its terminal declared
  (TerminalDevice.has_content_input: a source plugged into an aux input of the device it
  declared, or capabilities.content_send when it declared none), read again when its
  terminal reports a cable plugged or unplugged (`redeclare`); its
  call ending releases the floor (and the lock) if it held it.
- Every change emits PresentationChanged(conf_id, holder, locked) when the holder or the lock
  changed (ConferenceStatus.presentation is the holder; the media plane starts/stops the
  content path on it), and is handed to `publisher` (the BFCP server's publish, which tells
  the participants) unless it came through BFCP, whose server publishes it itself.
- BFCP identities (RFC 8856): one BFCP conference id per live conference (process-wide
  counter, 1..2**32-1) and one user id per site (1..65535, stable for the conference's life),
  handed out in the call's signalling by `bfcp_identity` when a BFCP server listens
  (`bfcp_address`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from mcu.errors import DomainError, Fault
from mcu.events import (
    ConferenceEnded,
    PresentationChanged,
    RuntimeEvent,
    SiteCallStateChanged,
)
from mcu.floor import FloorChange
from mcu.live_conference import LiveConference
from mcu.model import SiteCallState
from mcu.runtime.live_conferences import LiveConferences, connected_site

MAX_BFCP_CONFERENCE_ID = 2**32 - 1
MAX_BFCP_USER_ID = 2**16 - 1

ContentInput = Callable[[str], bool]  # site URI -> its terminal declared a content input
Publisher = Callable[[int, FloorChange], None]  # BFCP conference id, change -> participants


@dataclass(frozen=True)
class BfcpAddress:
    host: str
    port: int
    tls: bool


@dataclass(frozen=True)
class BfcpIdentity:
    """What one call is told about its floor (RFC 8856 SDP attributes, in the signalling)."""

    conference_id: int
    user_id: int
    floor_id: int
    address: BfcpAddress


class ContentFloors:
    def __init__(self, conferences: LiveConferences, content_input: ContentInput) -> None:
        self.conferences = conferences
        self.events = conferences.events
        self._content_input = content_input
        self._by_bfcp_id: dict[int, str] = {}  # BFCP conference id -> conf_id
        self._next_bfcp_id = itertools.count(1)
        self.bfcp_address: BfcpAddress | None = None
        self.publisher: Publisher | None = None
        self.events.subscribe(self._on_event)

    # ---------------------------------------------------------------- the chair (SOAP)

    def grant(self, uri: str, live: LiveConference) -> None:
        """setAuxStreamEx controlCode 0: the site sends content (revoking the holder)."""
        self._declare(live, uri)
        self._apply(live, live.content_floor.chair_grant(uri))

    def release(self, uri: str, live: LiveConference) -> None:
        """setAuxStreamEx controlCode 1: the site stops sending; nothing when it does not
        hold the floor."""
        self._apply(live, live.content_floor.chair_release(uri))

    def lock(self, conf_id: str, uri: str) -> None:
        """lockPresentationEx: the site holds the floor and nobody else may take it."""
        live = self.conferences.running(conf_id)
        connected_site(live, uri)
        self._declare(live, uri)
        self._apply(live, live.content_floor.lock(uri))

    def unlock(self, conf_id: str) -> None:
        """unlockPresentationEx: the holder keeps the floor, others may take it again."""
        live = self.conferences.running(conf_id)
        self._apply(live, live.content_floor.unlock())

    def redeclare(self, uri: str, live: LiveConference) -> None:
        """The site's terminal changed what it has (a content source plugged or unplugged):
        the floor reads it again; a holder left without a content input loses the floor."""
        self._declare(live, uri)

    # ---------------------------------------------------------------- BFCP

    def bfcp_identity(self, conf_id: str, uri: str) -> BfcpIdentity | None:
        """The floor identity of `uri`'s call in the conference; None when no BFCP server
        listens, the conference is not live, or its user ids are exhausted."""
        address = self.bfcp_address
        live = self.conferences.get(conf_id)
        if address is None or live is None:
            return None
        if not live.bfcp_conference_id:
            live.bfcp_conference_id = self._new_bfcp_conference_id()
            self._by_bfcp_id[live.bfcp_conference_id] = conf_id
        user_id = next((u for u, site in live.bfcp_users.items() if site == uri), None)
        if user_id is None:
            if len(live.bfcp_users) >= MAX_BFCP_USER_ID:
                return None
            user_id = max(live.bfcp_users, default=0) + 1
            live.bfcp_users[user_id] = uri
        return BfcpIdentity(
            live.bfcp_conference_id, user_id, live.content_floor.floor_id, address
        )

    def bfcp_conference(self, bfcp_conference_id: int) -> LiveConference | None:
        """The live conference a BFCP conference id names, or None."""
        conf_id = self._by_bfcp_id.get(bfcp_conference_id)
        return None if conf_id is None else self.conferences.get(conf_id)

    def changed_by_bfcp(self, bfcp_conference_id: int, change: FloorChange) -> None:
        """A change a participant made over BFCP (its server tells the participants)."""
        live = self.bfcp_conference(bfcp_conference_id)
        if live is not None:
            self._apply(live, change, publish=False)

    # ---------------------------------------------------------------- internals

    def _new_bfcp_conference_id(self) -> int:
        while True:
            candidate = next(self._next_bfcp_id)
            if candidate > MAX_BFCP_CONFERENCE_ID:
                self._next_bfcp_id = itertools.count(1)
                continue
            if candidate not in self._by_bfcp_id:
                return candidate

    def _declare(self, live: LiveConference, uri: str) -> None:
        """(Re)declare the site in the floor with what its terminal declares now."""
        try:
            has_input = self._content_input(uri)
        except DomainError as error:
            if error.fault is not Fault.SITE_NOT_CONNECTED:
                raise
            has_input = False
        self._apply(live, live.content_floor.join(uri, has_content_input=has_input))

    def _apply(self, live: LiveConference, change: FloorChange, *, publish: bool = True) -> None:
        if change.holder_changed or change.locked_before != change.locked_after:
            self.events.emit(
                PresentationChanged(live.conf_id, change.holder_after, change.locked_after)
            )
        if publish and change.changed and self.publisher is not None and live.bfcp_conference_id:
            self.publisher(live.bfcp_conference_id, change)

    def _on_event(self, event: RuntimeEvent) -> None:
        if isinstance(event, SiteCallStateChanged):
            live = self.conferences.get(event.conf_id)
            if live is None:
                return
            if event.state is SiteCallState.IN_CONFERENCE:
                self._declare(live, event.uri)
            elif event.state is SiteCallState.NOT_JOINED:
                self._apply(live, live.content_floor.leave(event.uri))
        elif isinstance(event, ConferenceEnded):
            for bfcp_id, conf_id in list(self._by_bfcp_id.items()):
                if conf_id == event.conf_id:
                    del self._by_bfcp_id[bfcp_id]
