"""The life cycle of live conferences and the calls of their sites.

reconcile() (the server calls it about once a second; tests call it directly) asks the
scheduler which occurrences are ongoing by the injected clock, starts live state for new
ones (calling their dial-out sites), follows booking changes, and ends the rest (hanging
everybody up).

Calls: connectSitesEx / disconnectSitesEx place and clear calls through the Dialer
(mcu/calls.py); a terminal dialling in is handed over by its endpoint (accept_dial_in).
Each call attempt is isolated: a dialer or endpoint that raises while placing a call ends
that call at once, not joined with 116 naming the error, and the other sites are still called.
A call not answered within call_timeout (loop time) fails; once answered, its media path
has media_timeout to come up (the endpoint starts that clock: Call.media_path_pending). When a site's call ends, the
roles and choices that need it joined (chair, floor, broadcast, presentation, speaker,
video sources watching it) end with it, each with its event. Every call that ends writes
its call detail record (mcu/cdr.py): placed and answered on the runtime's clock, the media
its endpoint reported, and why it ended.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence

from mcu.calls import DEFAULT_MEDIA_TIMEOUT, Call, CallFailure, Dialer
from mcu.cdr import CallEnd, CallRecords, CallTimes, Direction, MultiPointRecord, NegotiatedMedia
from mcu.clock import Clock
from mcu.endpoints import Endpoint
from mcu.errors import DomainError, Fault
from mcu.events import (
    BookingChanged,
    BroadcastChanged,
    ChairChanged,
    ConferenceEnded,
    ConferenceStarted,
    FloorChanged,
    SiteCallStateChanged,
    SpeakerChanged,
    VideoSourceChanged,
)
from mcu.live_conference import LiveConference, LiveSite
from mcu.model import Conference, DialingMode, Occurrence, SiteCallState
from mcu.runtime.live_conferences import LiveConferences, some_booked_sites

log = logging.getLogger(__name__)


class Lifecycle:
    def __init__(
        self,
        conferences: LiveConferences,
        dialer: Dialer,
        call_timeout: float,
        clock: Clock,
        records: CallRecords,
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
    ) -> None:
        if call_timeout <= 0 or media_timeout <= 0:
            raise ValueError("call_timeout and media_timeout must be positive")
        self.conferences = conferences
        self.events = conferences.events
        self.dialer = dialer
        self.call_timeout = call_timeout
        self.media_timeout = media_timeout
        self.clock = clock
        self.records = records
        # conf_id -> the booking its live state last followed (BookingChanged when it differs)
        self._followed: dict[str, tuple[Conference, Occurrence]] = {}

    # ------------------------------------------------------------------ life cycle

    def reconcile(self) -> None:
        """Bring live state in line with the scheduler: start, update and end conferences."""
        ongoing = {conf.conf_id: (conf, occ) for conf, occ in self.conferences.scheduler.ongoing()}
        for live in self.conferences.all():
            current = ongoing.get(live.conf_id)
            if current is None or current[1].begin != live.begin:
                self._end(live)
        for conf_id, (conf, occ) in ongoing.items():
            running = self.conferences.get(conf_id)
            if running is None:
                self._start(conf, occ)
            else:
                self._follow_booking(running, conf, occ)

    def _start(self, conference: Conference, occurrence: Occurrence) -> None:
        self._followed[conference.conf_id] = copy.deepcopy((conference, occurrence))
        live = LiveConference(conference, occurrence)
        for spec in occurrence.sites:
            live.sites[spec.uri] = LiveSite(spec)
        self.conferences.add(live)
        self.events.emit(ConferenceStarted(live.conf_id))
        for site in list(live.sites.values()):
            if site.spec.dialing_mode is DialingMode.MCU_CALLS_SITE:
                self._dial(live, site)

    def _end(self, live: LiveConference) -> None:
        for site in list(live.sites.values()):
            self._hang_up(site, "conference ended")
        self.conferences.remove(live.conf_id)
        self._followed.pop(live.conf_id, None)
        self.events.emit(ConferenceEnded(live.conf_id))

    def _follow_booking(
        self, live: LiveConference, conference: Conference, occurrence: Occurrence
    ) -> None:
        """Sites added to a running conference appear as not joined (connectSitesEx calls
        them); removed ones are hung up. Prolongations just move the end. A change is told
        (BookingChanged: media nodes follow the booking, mcu/nodes/conference_router.py)."""
        live.conference = conference
        live.occurrence = occurrence
        booked = {spec.uri: spec for spec in occurrence.sites}
        for uri, site in list(live.sites.items()):
            if uri not in booked:
                self._hang_up(site, "site removed from the conference")
                del live.sites[uri]
        for uri, spec in booked.items():
            if uri in live.sites:
                live.sites[uri].spec = spec
            else:
                live.sites[uri] = LiveSite(spec)
        followed = self._followed.get(live.conf_id)
        if followed != (conference, occurrence):  # a copy: a booking may change in place
            self._followed[live.conf_id] = copy.deepcopy((conference, occurrence))
            if followed is not None:
                self.events.emit(BookingChanged(live.conf_id))

    # ------------------------------------------------------------------ calls

    def connect_sites(self, conf_id: str, uris: Sequence[str]) -> list[str]:
        """connectSitesEx: call the listed booked sites that are not joined. Unknown URIs are
        skipped; all unknown -> SITE_NOT_FOUND. Returns the URIs actually called."""
        live = self.conferences.running(conf_id)
        sites = some_booked_sites(live, uris)
        called = [site for site in sites if not (site.call and site.call.active)]
        for site in called:
            self._dial(live, site)
        return [site.uri for site in called]

    def disconnect_sites(self, conf_id: str, uris: Sequence[str]) -> list[str]:
        """disconnectSitesEx: hang up the listed sites that are calling, ringing or joined.
        Same unknown-URI rule as connect_sites. Returns the URIs hung up."""
        live = self.conferences.running(conf_id)
        sites = some_booked_sites(live, uris)
        return [site.uri for site in sites
                if self._hang_up(site, "disconnected by the MCU (disconnectSitesEx)")]

    def accept_dial_in(self, conf_id: str, endpoint: Endpoint) -> Call:
        """A terminal calls in (dialingMode 1, or any booked site dialling the conference):
        its endpoint (a WebRtcEndpoint, on the terminal's `join`) hands itself over. The site
        is CALLING until its media path is up (the endpoint answers the call). The MCU
        answers the offer at once; one it could not answer within the call timeout fails
        (116), after its answer the media timeout applies (Call.media_path_pending)."""
        live = self.conferences.running(conf_id)
        site = live.sites.get(endpoint.uri)
        if site is None:
            raise DomainError(Fault.SITE_NOT_IN_CONFERENCE, endpoint.uri)
        if site.call is not None and site.call.active:
            raise DomainError(Fault.SITE_ALREADY_IN_CONFERENCE, endpoint.uri)
        call = Call(live.conf_id, site.spec, self._call_changed, self.media_timeout)
        call.endpoint = endpoint
        call.direction = Direction.DIAL_IN
        call.placed_at = self.clock.now()
        site.call = call
        site.last_failure = None
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state))
        call.start_timeout(self.call_timeout, CallFailure.NETWORK_ERROR.info(
            "dial-in: the MCU did not answer the offer before the call timeout"))
        return call

    def _dial(self, live: LiveConference, site: LiveSite) -> None:
        call = Call(live.conf_id, site.spec, self._call_changed, self.media_timeout)
        call.placed_at = self.clock.now()
        site.call = call
        site.last_failure = None
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state))
        call.start_timeout(self.call_timeout)
        try:
            self.dialer.place_call(call)
        except Exception as error:  # each call attempt is isolated: the others go on
            log.exception("call to %s in %s not placed", site.uri, live.conf_id)
            call.reject(CallFailure.NETWORK_ERROR.info(
                f"the call could not be placed: {type(error).__name__}: {str(error)[:200]}"))

    def _hang_up(self, site: LiveSite, reason: str) -> bool:
        call = site.call
        if call is None or not call.hang_up_local(reason):
            return False
        self.dialer.clear_call(call)
        return True

    def _call_changed(self, call: Call) -> None:
        live = self.conferences.get(call.conf_id)
        site = live.sites.get(call.uri) if live is not None else None
        if live is None or site is None or site.call is not call:
            return  # a call replaced by a newer one, or of a conference that is over
        failure = call.failure if call.state is SiteCallState.NOT_JOINED else None
        if call.state is SiteCallState.IN_CONFERENCE:
            call.answered_at = self.clock.now()
        self.events.emit(SiteCallStateChanged(live.conf_id, site.uri, call.state, failure))
        if call.state is SiteCallState.NOT_JOINED:
            self._record(live, call)
            self._site_left(live, site)

    def _record(self, live: LiveConference, call: Call) -> None:
        """The call detail record of a call that just ended (mcu/cdr.py). A store that
        cannot write is logged: it must not turn a hang-up into an error."""
        ended = self.clock.now()
        spec, booking = call.site, live.conference.spec
        media = call.media or NegotiatedMedia()
        rate = f"{media.rate_kbps}k" if media.rate_kbps else (spec.rate or booking.rate or "")
        record = MultiPointRecord(
            conf_id=live.conf_id,
            conf_name=live.occurrence.name or booking.name,
            conf_creator=live.conference.creator,
            bill_code=booking.bill_code or "",
            site_uri=call.uri,
            site_name=spec.name,
            site_type=spec.type,
            participant_type=spec.participant_type or 0,
            direction=call.direction,
            rate=rate,
            times=CallTimes(call.placed_at or ended, call.answered_at, ended),
            media=media,
            end=CallEnd.of(call.failure, call.end_reason or "hang up"),
        )
        self.records.record(record)

    def _site_left(self, live: LiveConference, site: LiveSite) -> None:
        """Roles and choices that need the site connected end with its call."""
        uri = site.uri
        live.audio_levels.pop(uri, None)
        if site.video_source is not None:
            site.video_source, site.video_source_locked = None, False
            self.events.emit(VideoSourceChanged(live.conf_id, uri, None, False))
        if live.chair == uri:
            live.chair = None
            self.events.emit(ChairChanged(live.conf_id, None))
        if live.floor == uri:
            live.floor = None
            self.events.emit(FloorChanged(live.conf_id, None))
        if live.broadcast_site == uri:
            live.broadcast_site = None
            self.events.emit(BroadcastChanged(live.conf_id, None, live.broadcast_cp))
        if live.speaking == uri:
            live.speaking = None
            self.events.emit(SpeakerChanged(live.conf_id, None))
        for other in live.sites.values():
            if other.video_source == uri:
                other.video_source, other.video_source_locked = None, False
                self.events.emit(VideoSourceChanged(live.conf_id, other.uri, None, False))
