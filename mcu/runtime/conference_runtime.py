"""ConferenceRuntime: builds the parts of the live conference runtime and holds them.

Callers talk to the part they need (`runtime.control.set_video_source(...)`,
`runtime.status.site_statuses(...)`); the facade itself only reconciles with the scheduler
and lets listeners subscribe to events. See the package docstring (mcu/runtime/__init__.py)
for what each part holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mcu.calls import DEFAULT_MEDIA_TIMEOUT, Dialer, RegistryDialer
from mcu.cdr import CallRecords
from mcu.clock import Clock
from mcu.endpoints import EndpointRegistry
from mcu.events import EventBus, Listener
from mcu.p2p_calls import PointToPointCalls
from mcu.runtime.content_floor import ContentFloors
from mcu.runtime.control import ConferenceControl
from mcu.runtime.lifecycle import Lifecycle
from mcu.runtime.live_conferences import LiveConferences, SchedulerView
from mcu.runtime.receive_reports import ReceiveReports
from mcu.runtime.recording import Recording
from mcu.runtime.site_devices import SiteDevices
from mcu.runtime.status import StatusQueries
from mcu.runtime.voice_switching import VoiceSwitching
from mcu.store import Store

if TYPE_CHECKING:
    from mcu.adhoc import AdhocConferences


class ConferenceRuntime:
    """registry: the reachable terminals (signalling registers them); dialer: how calls are
    placed (default: offer them to the registered endpoint); call_timeout: seconds a call
    may stay unanswered; media_timeout: seconds its media path (ICE, DTLS) has after the
    answer; speaker_hold: seconds a site must stay loudest to become the
    speaker; call_records: where call detail records go (mcu/cdr.py)."""

    def __init__(
        self,
        scheduler: SchedulerView,
        clock: Clock,
        *,
        registry: EndpointRegistry | None = None,
        dialer: Dialer | None = None,
        call_timeout: float = 30.0,
        media_timeout: float = DEFAULT_MEDIA_TIMEOUT,
        speaker_hold: float = 0.0,
        call_records: CallRecords | None = None,
    ) -> None:
        self.scheduler = scheduler
        self.registry = registry if registry is not None else EndpointRegistry()
        self.clock = clock
        # Without a store given (tests, tools) the records live in an in-memory SQLite.
        self.call_records = call_records or CallRecords(Store(":memory:"))
        self.events = EventBus()
        self.conferences = LiveConferences(scheduler, self.events, self.reconcile)
        self.lifecycle = Lifecycle(
            self.conferences,
            dialer if dialer is not None else RegistryDialer(self.registry),
            call_timeout,
            clock,
            self.call_records,
            media_timeout,
        )
        self.status = StatusQueries(self.conferences)
        self.content: ContentFloors = ContentFloors(self.conferences, self._has_content_input)
        self.control = ConferenceControl(self.conferences, self.content)
        self.recording = Recording(self.conferences, self.call_records.store)
        self.devices = SiteDevices(self.conferences, self.registry, self.content)
        self.voice = VoiceSwitching(self.conferences, clock, speaker_hold)
        # what the sites report they receive (signalling `stats`), for display only
        self.receive_reports = ReceiveReports(self.conferences, clock)
        # point-to-point calls ring for the same call timeout as the MCU's own calls
        self.p2p = PointToPointCalls(clock, self.call_records, ring_timeout=call_timeout)
        # the ad-hoc templates a dial-in's access code may name (AdhocConferences.attach)
        self.adhoc: AdhocConferences | None = None

    def _has_content_input(self, uri: str) -> bool:
        return self.devices.device(uri).has_content_input

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Register a listener for runtime events; returns a function that unsubscribes."""
        return self.events.subscribe(listener)

    def reconcile(self) -> None:
        """Bring live state in line with the scheduler: start, update and end conferences."""
        self.lifecycle.reconcile()
