"""The live conference runtime driven directly: life cycle against the scheduler, each control
operation changing exactly its own state, refusals changing nothing, events emitted."""

from __future__ import annotations

import asyncio
import copy
from datetime import UTC, datetime, timedelta

import pytest

from mcu.calls import Call
from mcu.clock import ManualClock
from mcu.endpoints import undeclared_device
from mcu.errors import DomainError, Fault
from mcu.events import (
    BroadcastChanged,
    CameraCommanded,
    ChairChanged,
    ConferenceEnded,
    ConferenceStarted,
    LayoutChanged,
    PresentationChanged,
    SiteCallStateChanged,
    SiteMuted,
    SpeakerChanged,
    StreamSourcesChanged,
)
from mcu.live_conference import CameraCommand, CpSetting
from mcu.model import (
    Conference,
    ConferenceSpec,
    ConferenceState,
    DialingMode,
    Occurrence,
    SiteCallState,
    SiteSpec,
)
from mcu.runtime import ConferenceRuntime
from rtc.deadline import within

BEGIN = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
A, B, C = "01010086", "01010010", "01010099"


# ---------------------------------------------------------------------------- test doubles


class FakeScheduler:
    """The three queries the runtime makes of mcu/scheduler.py, over one-occurrence
    conferences held in memory."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.conferences: dict[str, Conference] = {}

    def book(
        self,
        conf_id: str,
        uris: list[str],
        *,
        dial_in: frozenset[str] = frozenset(),
        begin: datetime = BEGIN,
        hours: int = 2,
        **spec_fields,
    ) -> Conference:
        sites = [
            SiteSpec(
                uri,
                name=f"site-{uri}",
                dialing_mode=DialingMode.SITE_CALLS_IN
                if uri in dial_in
                else DialingMode.MCU_CALLS_SITE,
            )
            for uri in uris
        ]
        spec = ConferenceSpec(
            f"conf-{conf_id}", begin, timedelta(hours=hours), sites, **spec_fields
        )
        occurrence = Occurrence(begin, spec.duration, list(sites), spec.name)
        conference = Conference(conf_id, spec, "8000" + conf_id, "123456", "", None, [occurrence])
        self.conferences[conf_id] = conference
        return conference

    def get(self, conf_id: str) -> Conference:
        if conf_id not in self.conferences:
            raise DomainError(Fault.CONFERENCE_NOT_FOUND, conf_id)
        return self.conferences[conf_id]

    def state(self, conf_id: str) -> tuple[ConferenceState, Occurrence]:
        occurrence = self.get(conf_id).occurrences[0]
        now = self.clock.now()
        if now < occurrence.begin:
            return ConferenceState.SCHEDULED, occurrence
        if now < occurrence.end:
            return ConferenceState.ONGOING, occurrence
        return ConferenceState.ENDED, occurrence

    def knows_site(self, uri: str) -> bool:
        return any(
            site.uri == uri for conference in self.conferences.values() for site in conference.spec.sites
        )

    def ongoing(self) -> list[tuple[Conference, Occurrence]]:
        running = []
        for conf_id, conference in self.conferences.items():
            state, occurrence = self.state(conf_id)
            if state is ConferenceState.ONGOING:
                running.append((conference, occurrence))
        return running


class FakeTerminal:
    """A registered endpoint. behaviour: "answer" rings then answers, "ring" rings forever,
    "reject" refuses, "silent" never reacts."""

    def __init__(self, uri: str, behaviour: str = "answer") -> None:
        self._uri = uri
        self.behaviour = behaviour
        self.device = undeclared_device()
        self.offered: list[Call] = []
        self.ended: list[Call] = []

    @property
    def uri(self) -> str:
        return self._uri

    def offer_call(self, call: Call) -> None:
        self.offered.append(call)
        asyncio.get_running_loop().call_soon(self._respond, call)

    def _respond(self, call: Call) -> None:
        if self.behaviour == "reject":
            call.reject()
            return
        if self.behaviour in ("answer", "ring"):
            call.ringing()
        if self.behaviour == "answer":
            asyncio.get_running_loop().call_soon(call.answer)

    def call_ended(self, call: Call) -> None:
        self.ended.append(call)


class Recorder:
    def __init__(self, runtime: ConferenceRuntime) -> None:
        self.events: list[object] = []
        runtime.subscribe(self.events.append)

    def of(self, kind: type) -> list:
        return [event for event in self.events if isinstance(event, kind)]

    def clear(self) -> None:
        self.events.clear()


async def wait_for_state(
    runtime: ConferenceRuntime, conf_id: str, uri: str, state: SiteCallState
) -> None:
    """Wait (bounded, generous) until the site reaches state: timers run on the loop, the
    test never asserts on how long that took."""

    async def poll() -> None:
        while runtime.status.site_statuses(conf_id, [uri])[0].state is not state:
            await asyncio.sleep(0.005)

    await within(poll(), timeout=10)


def make_runtime(call_timeout: float = 0.05):
    clock = ManualClock(BEGIN - timedelta(minutes=5))
    scheduler = FakeScheduler(clock)
    runtime = ConferenceRuntime(scheduler, clock, call_timeout=call_timeout)
    return clock, scheduler, runtime


async def joined_conference(uris=(A, B, C), **spec_fields):
    """An ongoing conference whose sites all answered."""
    clock, scheduler, runtime = make_runtime()
    for uri in uris:
        runtime.registry.register(FakeTerminal(uri))
    scheduler.book("100", list(uris), **spec_fields)
    clock.set(BEGIN)
    runtime.reconcile()
    for uri in uris:
        await wait_for_state(runtime, "100", uri, SiteCallState.IN_CONFERENCE)
    return clock, scheduler, runtime


def snapshot(runtime: ConferenceRuntime, conf_id: str = "100"):
    """Everything observable about a conference, to prove a refusal changed nothing."""
    return copy.deepcopy(
        (
            runtime.status.conference_status(conf_id),
            runtime.status.site_statuses(conf_id),
            runtime.status.cp_param(conf_id, "0"),
        )
    )


# ---------------------------------------------------------------------------- life cycle


async def test_scheduled_conference_answers_booked_sites_not_joined_without_live_state():
    clock, scheduler, runtime = make_runtime()
    scheduler.book("100", [A, B])
    runtime.reconcile()
    assert runtime.conferences.ids() == []
    statuses = runtime.status.site_statuses("100")
    assert [(s.uri, s.state, s.volume) for s in statuses] == [
        (A, SiteCallState.NOT_JOINED, None),
        (B, SiteCallState.NOT_JOINED, None),
    ]
    status = runtime.status.conference_status("100")
    assert status.state is ConferenceState.SCHEDULED
    assert status.chair is None and status.audio_switch is None
    with pytest.raises(DomainError) as refused:
        runtime.control.set_sites_mute("100", [A], True)
    assert refused.value.fault is Fault.CONFERENCE_NOT_ONGOING


async def test_unknown_conference_and_unknown_site():
    _, scheduler, runtime = make_runtime()
    scheduler.book("100", [A])
    assert runtime.status.conference_status("999").state is ConferenceState.NOT_EXIST
    with pytest.raises(DomainError) as refused:
        runtime.lifecycle.connect_sites("999", [A])
    assert refused.value.fault is Fault.CONFERENCE_NOT_FOUND
    assert runtime.status.site_statuses("100", ["nobody"])[0].state is SiteCallState.NOT_EXIST


async def test_begin_calls_dial_out_sites_only_and_end_hangs_up_everyone():
    clock, scheduler, runtime = make_runtime()
    terminals = {uri: FakeTerminal(uri) for uri in (A, B, C)}
    for terminal in terminals.values():
        runtime.registry.register(terminal)
    scheduler.book("100", [A, B, C], dial_in=frozenset({C}))
    recorder = Recorder(runtime)
    clock.set(BEGIN)
    runtime.reconcile()
    assert recorder.of(ConferenceStarted) == [ConferenceStarted("100")]
    assert [call.uri for call in terminals[A].offered] == [A]
    assert terminals[C].offered == []  # dial-in sites call us
    await wait_for_state(runtime, "100", A, SiteCallState.IN_CONFERENCE)
    await wait_for_state(runtime, "100", B, SiteCallState.IN_CONFERENCE)
    assert runtime.status.site_statuses("100", [C])[0].state is SiteCallState.NOT_JOINED

    call = runtime.lifecycle.accept_dial_in("100", terminals[C])
    # accepted, but in conference only once its endpoint says media flows
    assert runtime.status.site_statuses("100", [C])[0].state is SiteCallState.CALLING
    call.answer(terminals[C])
    assert runtime.status.site_statuses("100", [C])[0].state is SiteCallState.IN_CONFERENCE

    clock.set(BEGIN + timedelta(hours=2))
    runtime.reconcile()
    assert runtime.conferences.ids() == []
    assert recorder.of(ConferenceEnded) == [ConferenceEnded("100")]
    hung_up = {
        e.uri for e in recorder.of(SiteCallStateChanged) if e.state is SiteCallState.NOT_JOINED
    }
    assert hung_up == {A, B, C}
    assert all(len(terminal.ended) == 1 for terminal in terminals.values())
    assert runtime.status.conference_status("100").state is ConferenceState.ENDED
    with pytest.raises(DomainError) as refused:
        runtime.lifecycle.connect_sites("100", [A])
    assert refused.value.fault is Fault.CONFERENCE_NOT_ONGOING


async def test_control_operation_catches_up_with_a_conference_that_just_began():
    clock, scheduler, runtime = make_runtime()
    scheduler.book("100", [A])
    clock.set(BEGIN)  # the server's periodic reconcile has not run yet
    runtime.control.set_sites_mute("100", [A], True)
    assert runtime.status.site_statuses("100", [A])[0].muted is True


async def test_sites_added_to_a_running_conference_appear_and_removed_ones_are_hung_up():
    clock, scheduler, runtime = await joined_conference((A, B))
    conference = scheduler.conferences["100"]
    occurrence = conference.occurrences[0]
    occurrence.sites = [occurrence.sites[0], SiteSpec(C, name="late")]
    runtime.reconcile()
    statuses = {s.uri: s.state for s in runtime.status.site_statuses("100")}
    assert statuses == {A: SiteCallState.IN_CONFERENCE, C: SiteCallState.NOT_JOINED}


# ---------------------------------------------------------------------------- mute / quiet / volume


async def test_mute_quiet_volume_change_only_their_sites_and_emit_events():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.control.set_sites_mute("100", [A, B], True)
    runtime.control.set_sites_quiet("100", [C], True)
    runtime.control.set_site_volumes("100", [(A, 80), (C, 0)])
    by_uri = {s.uri: s for s in runtime.status.site_statuses("100")}
    assert (by_uri[A].muted, by_uri[B].muted, by_uri[C].muted) == (True, True, False)
    assert (by_uri[A].quiet, by_uri[B].quiet, by_uri[C].quiet) == (False, False, True)
    assert (by_uri[A].volume, by_uri[B].volume, by_uri[C].volume) == (80, 50, 0)
    assert recorder.of(SiteMuted) == [SiteMuted("100", A, True), SiteMuted("100", B, True)]


@pytest.mark.parametrize(
    "operation, fault",
    [
        (lambda rt: rt.control.set_sites_mute("100", [A, "ghost"], True), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.control.set_sites_quiet("100", [], True), Fault.MISSING_PARAMETER),
        (lambda rt: rt.control.set_site_volumes("100", [(A, 70), (B, 101)]), Fault.OUT_OF_RANGE),
        (lambda rt: rt.control.set_site_volumes("100", [(A, -1)]), Fault.OUT_OF_RANGE),
        (
            lambda rt: rt.control.set_site_volumes("100", [(A, 70), ("ghost", 10)]),
            Fault.SITE_NOT_IN_CONFERENCE,
        ),
        (lambda rt: rt.control.set_audio_switch("100", True, 101), Fault.OUT_OF_RANGE),
        (lambda rt: rt.control.set_audio_switch("100", True, -1), Fault.OUT_OF_RANGE),
        (lambda rt: rt.control.set_continuous_presence("100", "0", 50), Fault.BAD_LAYOUT),
        (lambda rt: rt.control.set_continuous_presence("100", "0", 35), Fault.BAD_LAYOUT),  # 9 panes > 4
        (lambda rt: rt.control.set_continuous_presence("100", "3", 2), Fault.NOT_SUPPORTED),
        (lambda rt: rt.control.set_continuous_presence("100", "(ghost)", 2), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.control.set_video_source("100", A, "ghost"), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.control.set_broadcast_site("100", "ghost", True), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.control.set_local_video("100", ["ghost"], False), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.devices.set_video_output(A, 7, 0), Fault.OUT_OF_RANGE),
        (lambda rt: rt.devices.set_video_output(A, 0, 4), Fault.OUT_OF_RANGE),
        (lambda rt: rt.devices.set_stream_sources(A, [], 1), Fault.MISSING_PARAMETER),
        (lambda rt: rt.devices.set_stream_sources(A, [0, 9], 1), Fault.OUT_OF_RANGE),
        (lambda rt: rt.devices.set_stream_sources(A, [0], 0), Fault.OUT_OF_RANGE),  # port 0: no aux
        (lambda rt: rt.control.request_chair("ghost"), Fault.SITE_NOT_IN_CONFERENCE),
        (lambda rt: rt.control.release_chair(A), Fault.NOT_CHAIR),
        (lambda rt: rt.lifecycle.connect_sites("100", ["ghost", "phantom"]), Fault.SITE_NOT_FOUND),
        (lambda rt: rt.lifecycle.disconnect_sites("100", []), Fault.MISSING_PARAMETER),
    ],
)
async def test_refusals_change_nothing(operation, fault):
    _, _, runtime = await joined_conference()
    before = snapshot(runtime)
    outputs_before = runtime.devices.video_outputs(A), runtime.devices.stream_sources(A)
    recorder = Recorder(runtime)
    with pytest.raises(DomainError) as refused:
        operation(runtime)
    assert refused.value.fault is fault
    assert snapshot(runtime) == before
    assert (runtime.devices.video_outputs(A), runtime.devices.stream_sources(A)) == outputs_before
    assert recorder.events == []


# ---------------------------------------------------------------------------- broadcast, floor, chair


async def test_broadcast_site_and_broadcast_cp_replace_each_other():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.control.set_broadcast_site("100", A, True)
    assert runtime.status.conference_status("100").broadcast == A
    runtime.control.set_broadcast_cp("100", True)
    assert runtime.status.conference_status("100").broadcast is None
    runtime.control.set_broadcast_site("100", B, True)
    runtime.control.set_broadcast_site("100", A, False)  # A is not broadcast: nothing to stop
    assert runtime.status.conference_status("100").broadcast == B
    runtime.control.set_broadcast_site("100", B, False)
    assert runtime.status.conference_status("100").broadcast is None
    assert recorder.of(BroadcastChanged) == [
        BroadcastChanged("100", A, False),
        BroadcastChanged("100", None, True),
        BroadcastChanged("100", B, False),
        BroadcastChanged("100", None, False),
    ]


async def test_broadcast_needs_a_joined_site():
    _, _, runtime = await joined_conference()
    runtime.lifecycle.disconnect_sites("100", [C])
    with pytest.raises(DomainError) as refused:
        runtime.control.set_broadcast_site("100", C, True)
    assert refused.value.fault is Fault.SITE_NOT_CONNECTED


async def test_floor_broadcasts_and_unmutes_the_site():
    _, _, runtime = await joined_conference()
    runtime.control.set_sites_mute("100", [B], True)
    runtime.control.set_floor("100", B)
    assert runtime.status.conference_status("100").broadcast == B
    assert runtime.status.site_statuses("100", [B])[0].muted is False


async def test_chair_is_held_by_one_site_at_a_time():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.control.request_conf_chair("100", A)
    runtime.control.request_conf_chair("100", A)  # already chair: no change
    with pytest.raises(DomainError) as refused:
        runtime.control.request_chair(B)
    assert refused.value.fault is Fault.CHAIR_TAKEN
    with pytest.raises(DomainError) as not_chair:
        runtime.control.release_chair(B)
    assert not_chair.value.fault is Fault.NOT_CHAIR
    assert runtime.status.conference_status("100").chair == A
    runtime.control.release_chair(A)
    runtime.control.request_chair(B)
    assert runtime.status.conference_status("100").chair == B
    runtime.control.release_conf_chair("100")
    assert runtime.status.conference_status("100").chair is None
    assert recorder.of(ChairChanged) == [
        ChairChanged("100", A),
        ChairChanged("100", None),
        ChairChanged("100", B),
        ChairChanged("100", None),
    ]


async def test_roles_end_when_the_site_leaves():
    _, _, runtime = await joined_conference()
    runtime.control.request_conf_chair("100", A)
    runtime.control.set_broadcast_site("100", A, True)
    runtime.control.lock_presentation("100", A)
    runtime.control.set_video_source("100", B, A)
    runtime.lifecycle.disconnect_sites("100", [A])
    status = runtime.status.conference_status("100")
    assert (status.chair, status.broadcast, status.presentation) == (None, None, None)
    assert status.presentation_locked is False
    assert runtime.status.site_statuses("100", [B])[0].video_source is None


# ---------------------------------------------------------------------------- video, audio switching, CP


async def test_video_source_is_reported_per_site():
    _, _, runtime = await joined_conference()
    runtime.control.set_video_source("100", A, B)
    by_uri = {s.uri: s for s in runtime.status.site_statuses("100")}
    assert (by_uri[A].video_source, by_uri[B].video_source) == (B, None)


async def test_audio_switch_gate_zero_keeps_the_previous_gate():
    _, _, runtime = await joined_conference()
    assert runtime.status.conference_status("100").switch_gate == 15
    runtime.control.set_audio_switch("100", True, 40)
    runtime.control.set_audio_switch("100", False)
    runtime.control.set_audio_switch("100", True, 0)
    status = runtime.status.conference_status("100")
    assert (status.audio_switch, status.switch_gate) == (True, 40)


async def test_speaker_is_the_loudest_unmuted_site_above_the_gate():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.control.set_audio_switch("100", True, 20)
    assert runtime.voice.report_audio_levels("100", {A: 10, B: 30, C: 25}) == B
    runtime.control.set_sites_mute("100", [B], True)
    assert runtime.voice.report_audio_levels("100", {B: 90}) == C
    assert runtime.voice.report_audio_levels("100", {C: 5}) == C  # nobody above the gate: C stays
    assert runtime.status.conference_status("100").speaking == C
    assert recorder.of(SpeakerChanged) == [SpeakerChanged("100", B), SpeakerChanged("100", C)]


async def test_speaker_takes_over_once_loudest_for_the_hold_on_the_runtime_clock():
    clock, _, runtime = await joined_conference()
    runtime.voice.speaker_hold = 1.0
    recorder = Recorder(runtime)
    assert runtime.voice.report_audio_levels("100", {A: 50, B: 10}) is None  # A waits
    clock.advance(timedelta(seconds=0.5))
    assert runtime.voice.report_audio_levels("100", {A: 50}) is None
    assert runtime.voice.report_audio_levels("100", {B: 80}) is None  # B louder: B waits anew
    clock.advance(timedelta(seconds=0.75))
    assert runtime.voice.report_audio_levels("100", {B: 80}) is None
    clock.advance(timedelta(seconds=0.25))
    assert runtime.voice.report_audio_levels("100", {B: 80}) == B
    assert runtime.voice.candidate("100") is None
    assert recorder.of(SpeakerChanged) == [SpeakerChanged("100", B)]


async def test_continuous_presence_per_conference_and_per_site():
    _, _, runtime = await joined_conference(cp_resource=4)
    recorder = Recorder(runtime)
    runtime.control.set_continuous_presence("100", "0", 2, [A, B])
    runtime.control.set_continuous_presence("100", f"({C})", 11, [A, f"{B}(%AUX1)", "", C])
    assert runtime.status.cp_param("100", "") == CpSetting(2, (A, B))
    assert runtime.status.cp_param("100", f"({C})") == CpSetting(11, (A, f"{B}(%AUX1)", "", C))
    assert runtime.status.cp_param("100", A) == CpSetting(2, (A, B))  # A sees the conference picture
    assert recorder.of(LayoutChanged) == [
        LayoutChanged("100", "", 2, (A, B)),
        LayoutChanged("100", C, 11, (A, f"{B}(%AUX1)", "", C)),
    ]
    info = runtime.status.cp_info("100")
    assert info.cp_resource == 4
    assert info.targets == ("0", f"({A})", f"({B})", f"({C})")
    assert (
        11 in info.supported_modes and 35 not in info.supported_modes and 0 in info.supported_modes
    )


async def test_sub_pics_beyond_the_modes_panes_are_dropped():
    _, _, runtime = await joined_conference(cp_resource=4)
    recorder = Recorder(runtime)
    runtime.control.set_continuous_presence("100", "0", 11, [A, B, C, A, B])  # CP_4_1: 4 panes
    assert runtime.status.cp_param("100", "0") == CpSetting(11, (A, B, C, A))
    runtime.control.set_continuous_presence("100", "0", 0, [A])  # CP_None takes no subPics
    assert runtime.status.cp_param("100", "0") == CpSetting(0, ())
    assert recorder.of(LayoutChanged) == [
        LayoutChanged("100", "", 11, (A, B, C, A)),
        LayoutChanged("100", "", 0, ()),
    ]


async def test_cp_param_of_a_scheduled_conference_is_cp_none():
    _, scheduler, runtime = make_runtime()
    scheduler.book("100", [A])
    assert runtime.status.cp_param("100", "0") == CpSetting()
    assert runtime.status.cp_info("100").targets == ("0", f"({A})")


# ---------------------------------------------------------------------------- presentation and aux


async def test_aux_stream_takes_the_token_unless_locked():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.devices.set_aux_stream(A, True)
    assert (
        runtime.devices.is_sending_aux(A)
        and runtime.devices.is_receiving_aux(B)
        and not runtime.devices.is_receiving_aux(A)
    )
    runtime.control.lock_presentation("100", B)
    assert not runtime.devices.is_sending_aux(A)  # the token moved to B
    with pytest.raises(DomainError) as refused:
        runtime.devices.set_aux_stream(A, True)
    assert refused.value.fault is Fault.PRESENTATION_LOCKED
    with pytest.raises(DomainError) as refused_lock:
        runtime.control.lock_presentation("100", C)
    assert refused_lock.value.fault is Fault.PRESENTATION_LOCKED
    status = runtime.status.conference_status("100")
    assert (status.presentation, status.presentation_locked, status.presentation_lock_holder) == (
        B,
        True,
        B,
    )
    runtime.control.unlock_presentation("100")
    runtime.devices.set_aux_stream(A, True)
    assert runtime.status.conference_status("100").presentation == A
    runtime.devices.set_aux_stream(A, False)
    assert runtime.status.conference_status("100").presentation is None
    assert recorder.of(PresentationChanged)[-1] == PresentationChanged("100", None, False)


async def test_terminal_inputs_and_version_come_from_the_registered_device():
    _, scheduler, runtime = await joined_conference()
    assert [port.id for port in runtime.devices.aux_stream_sources(A)] == [1, 2, 4]
    assert [port.id for port in runtime.devices.main_stream_sources(A)] == [0, 1, 2, 4]
    assert [(p.id, p.connected) for p in runtime.devices.video_input_states(A)][:2] == [
        (0, True),
        (1, True),
    ]
    assert runtime.devices.has_aux_source(A) is True
    assert runtime.devices.site_version(A).model == "MCU-SIM Terminal"
    runtime.devices.set_video_output(A, 0, 3)  # its one screen, HD1
    runtime.devices.set_stream_sources(A, [0, 1], 1)
    assert runtime.devices.video_outputs(A) == {0: 3}
    assert runtime.devices.stream_sources(A) == ((0, 1), 1)
    for call, fault in [
        (lambda: runtime.devices.set_video_output(A, 5, 3), Fault.OUT_OF_RANGE),  # no SD1
        (lambda: runtime.devices.set_stream_sources(A, [0, 1], 4), Fault.SOURCE_NOT_CONNECTED),
    ]:
        with pytest.raises(DomainError) as refused:
            call()
        assert refused.value.fault is fault
    assert runtime.devices.video_outputs(A) == {0: 3}
    assert runtime.devices.stream_sources(A) == ((0, 1), 1)
    with pytest.raises(DomainError) as unknown:
        runtime.devices.site_version("ghost")  # known nowhere
    assert unknown.value.fault is Fault.SITE_NOT_FOUND
    scheduler.book("200", ["01019999"])  # booked, no terminal registered: known but offline
    with pytest.raises(DomainError) as unreachable:
        runtime.devices.site_version("01019999")
    assert unreachable.value.fault is Fault.SITE_NOT_CONNECTED


# ---------------------------------------------------------------------------- camera


async def test_camera_commands_go_to_the_camera_s_site_and_refusals_change_nothing():
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.devices.control_camera(A, CameraCommand(0, 0, 255, 0))  # pan A's own camera right
    runtime.devices.control_camera(A, CameraCommand(0, 18, 3, 0))  # store preset 3
    assert [(e.uri, e.cam_state, e.action, e.position, e.source, e.requested_by)
            for e in recorder.of(CameraCommanded)] == [
        (A, 0, 0, None, 0, A), (A, 0, 18, 3, 0, A)]
    assert runtime.devices.camera_state(A).last_command == CameraCommand(0, 18, 3, 0)
    # far end: nobody watched yet (no video source, broadcast, pane or speaker)
    with pytest.raises(DomainError) as nobody:
        runtime.devices.control_camera(A, CameraCommand(1, 4, 255, 0))
    assert nobody.value.fault is Fault.FAR_END_CAMERA_UNAVAILABLE
    runtime.control.set_broadcast_site("100", C, True)
    runtime.devices.control_camera(A, CameraCommand(1, 4, 255, 0))  # the broadcast site's
    assert recorder.of(CameraCommanded)[-1].uri == C
    runtime.control.set_video_source("100", A, B)  # its own choice beats the broadcast
    runtime.devices.control_camera(A, CameraCommand(1, 4, 255, 0))
    assert (recorder.of(CameraCommanded)[-1].uri, recorder.of(CameraCommanded)[-1].requested_by) \
        == (B, A)
    before = copy.deepcopy(runtime.devices.camera_state(A))
    recorder.clear()
    for bad, fault in [
        (CameraCommand(2, 4, 255, 0), Fault.OUT_OF_RANGE),
        (CameraCommand(0, 24, 255, 0), Fault.OUT_OF_RANGE),
        (CameraCommand(0, 22, None, 0), Fault.NOT_SUPPORTED),  # source switched: a notice
        (CameraCommand(0, 23, None, 0), Fault.NOT_SUPPORTED),  # camera PiP: not offered
        (CameraCommand(0, 21, None, 9), Fault.OUT_OF_RANGE),  # select source: no input 9
        (CameraCommand(0, 21, None, 2), Fault.SOURCE_NOT_CONNECTED),  # A's input 2: empty
        (CameraCommand(0, 4, 3, 0), Fault.OUT_OF_RANGE),  # camPos on a non-preset action
        (CameraCommand(0, 18, None, 0), Fault.MISSING_PARAMETER),
        (CameraCommand(0, 18, 255, 0), Fault.OUT_OF_RANGE),
        (CameraCommand(0, 4, None, 9), Fault.OUT_OF_RANGE),  # no such input
        (CameraCommand(0, 4, None, 1), Fault.NO_CAMERA),  # input 1 is the PC
        (CameraCommand(1, 4, None, 2), Fault.NO_CAMERA),  # nothing plugged into B's input 2
    ]:
        with pytest.raises(DomainError) as refused:
            runtime.devices.control_camera(A, bad)
        assert refused.value.fault is fault, bad
    assert runtime.devices.camera_state(A) == before
    assert recorder.of(CameraCommanded) == []
    assert recorder.of(StreamSourcesChanged) == []
    assert runtime.devices.stream_sources(A) == ((), None)


async def test_select_source_makes_the_input_the_main_source_of_the_camera_s_site():
    """camAction 21: camSrc becomes the only main source (the aux kept), of the site itself
    (camState 0) or of the site it watches (camState 1); no camera is told to move."""
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    runtime.devices.set_stream_sources(A, [0, 1], 1)
    runtime.devices.control_camera(A, CameraCommand(0, 21, 255, 1))  # A shows its PC
    assert runtime.devices.stream_sources(A) == ((1,), 1)
    runtime.control.set_video_source("100", A, B)
    runtime.devices.control_camera(A, CameraCommand(1, 21, None, 0))  # B shows its camera
    assert runtime.devices.stream_sources(B) == ((0,), None)
    assert [(e.uri, e.main_sources, e.aux_source) for e in recorder.of(StreamSourcesChanged)] \
        == [(A, (0, 1), 1), (A, (1,), 1), (B, (0,), None)]
    assert recorder.of(CameraCommanded) == []
    assert runtime.devices.camera_state(A).last_command == CameraCommand(1, 21, None, 0)


async def test_stream_sources_bound_the_multi_picture():
    """At most four main sources, each once; a refusal changes nothing."""
    _, _, runtime = await joined_conference()
    recorder = Recorder(runtime)
    for main in ([0, 0], [0, 1, 0], [0, 1, 2, 4, 0]):
        with pytest.raises(DomainError) as refused:
            runtime.devices.set_stream_sources(A, main, 1)
        assert refused.value.fault is Fault.OUT_OF_RANGE, main
    assert recorder.of(StreamSourcesChanged) == []
    assert runtime.devices.stream_sources(A) == ((), None)


# ---------------------------------------------------------------------------- recording, live, password


async def test_recording_and_live_broadcast_follow_the_booking():
    _, _, runtime = await joined_conference()
    runtime.recording.set_recording(A, True)
    runtime.recording.set_live_broadcast(B, True)
    info = runtime.recording.broad_info(C)
    assert (info.recording_supported, info.recording_active) == (True, True)
    assert (info.live_supported, info.live_active) == (True, True)
    runtime.recording.set_recording(A, False)
    assert runtime.recording.broad_info(A).recording_active is False
    assert runtime.status.has_chair_password(A) is False


async def test_recording_refused_when_the_conference_has_none():
    _, _, runtime = await joined_conference(is_recording=0)
    with pytest.raises(DomainError) as recording:
        runtime.recording.set_recording(A, True)
    assert recording.value.fault is Fault.RECORDING_NOT_SUPPORTED
    with pytest.raises(DomainError) as live:
        runtime.recording.set_live_broadcast(A, True)
    assert live.value.fault is Fault.LIVE_BROADCAST_NOT_SUPPORTED
    info = runtime.recording.broad_info(A)
    assert info == type(info)(False, False, None, None)


async def test_local_video_is_reported_while_joined():
    _, _, runtime = await joined_conference()
    runtime.control.set_local_video("100", [A], False)
    by_uri = {s.uri: s for s in runtime.status.site_statuses("100")}
    assert (by_uri[A].local_video_open, by_uri[B].local_video_open) == (False, True)


async def test_a_failing_listener_does_not_fail_the_operation():
    _, _, runtime = await joined_conference()

    def broken(event: object) -> None:
        raise RuntimeError("media engine exploded")

    runtime.subscribe(broken)
    runtime.control.set_sites_mute("100", [A], True)
    assert runtime.status.site_statuses("100", [A])[0].muted is True


# ---------------------------------------------------------------------------- with the real scheduler


async def test_runtime_follows_the_real_scheduler(tmp_path):
    from mcu.scheduler import Scheduler
    from mcu.store import Store

    clock = ManualClock(BEGIN - timedelta(hours=1))
    store = Store(tmp_path / "mcu.sqlite")
    try:
        scheduler = Scheduler(store, clock)
        conference = scheduler.schedule(
            ConferenceSpec(
                "ward round", BEGIN, timedelta(hours=1), [SiteSpec(A, "a"), SiteSpec(B, "b")]
            )
        )
        runtime = ConferenceRuntime(scheduler, clock, call_timeout=0.05)
        runtime.registry.register(FakeTerminal(A))
        runtime.reconcile()
        assert [s.state for s in runtime.status.site_statuses(conference.conf_id)] == [
            SiteCallState.NOT_JOINED,
            SiteCallState.NOT_JOINED,
        ]
        clock.set(BEGIN)
        runtime.reconcile()
        await wait_for_state(runtime, conference.conf_id, A, SiteCallState.IN_CONFERENCE)
        await wait_for_state(runtime, conference.conf_id, B, SiteCallState.NOT_JOINED)
        assert runtime.status.site_statuses(conference.conf_id, [B])[0].call_failed_reason.code == 109
        clock.set(BEGIN + timedelta(hours=1))
        runtime.reconcile()
        assert runtime.conferences.ids() == []
        assert runtime.status.conference_status(conference.conf_id).state is ConferenceState.ENDED
    finally:
        store.close()
