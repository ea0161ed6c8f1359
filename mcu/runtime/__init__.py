"""The live conference runtime: the state of running conferences that control operations act
on and status queries answer from.

`ConferenceRuntime` (conference_runtime.py) builds the parts and holds them as attributes;
callers use the part they need:

- `runtime.conferences` (live_conferences.py, LiveConferences): the live conferences by id,
  the event bus, and the lookups every part shares (`running(conf_id)`, `conference_of(uri)`,
  booked/connected site checks, CP target resolution). Also `SchedulerView`, what the
  runtime needs of the scheduler.
- `runtime.lifecycle` (lifecycle.py, Lifecycle): reconcile with the scheduler (start,
  follow booking changes, end) and the calls: connect/disconnect sites, dial-in, call
  state changes and what ends when a site leaves.
- `runtime.status` (status.py, StatusQueries): what queryConferencesStatusEx,
  queryConfSitesStatusEx, getContinuousPresenceInfoEx/ParamEx and queryConfCtrlPwdEx
  answer, with their records ConferenceStatus, SiteStatus, CpInfo.
- `runtime.control` (control.py, ConferenceControl): conference control: video source,
  broadcast, continuous presence, local video, audio switch, mute/quiet/volume, chair,
  floor, presentation lock.
- `runtime.content` (content_floor.py, ContentFloors): the content floor of each live
  conference (mcu/floor.py): setAuxStreamEx / lockPresentationEx as its chair, sites
  joining and leaving, the BFCP identities handed to calls and the changes made over BFCP.
- `runtime.recording` (recording.py, Recording): recording and live-broadcast flags and
  queryBroadInfoEx (BroadInfo).
- `runtime.devices` (site_devices.py, SiteDevices): a site's aux stream, video inputs and
  outputs, stream sources, cameras, device version.
- `runtime.voice` (voice_switching.py, VoiceSwitching): the audio levels the media engine
  reports and who is speaking, on the injected clock.
- `runtime.receive_reports` (receive_reports.py, ReceiveReports): the last receive report
  (frame rate, latency) of each connected site, for display only (console health, /metrics).

`runtime.reconcile()` and `runtime.subscribe(listener)` stay on the facade. Every part
validates first and raises DomainError without changing anything, then changes the live
state (mcu/live_conference.py) and emits one event per change (mcu/events.py) for the
media engine and the signalling hub. Values are domain values, not wire values: flags are
bools, "no value" is None; the gateway converts. Everything runs on one asyncio loop; call
timeouts use loop time. docs/runtime.md maps the SOAP operations to the parts.
"""

from mcu.runtime.conference_runtime import ConferenceRuntime
from mcu.runtime.live_conferences import SchedulerView
from mcu.runtime.recording import BroadInfo
from mcu.runtime.status import ConferenceStatus, CpInfo, SiteStatus
from mcu.runtime.voice_switching import SPEAKER_HOLD_SECONDS

__all__ = [
    "SPEAKER_HOLD_SECONDS",
    "BroadInfo",
    "ConferenceRuntime",
    "ConferenceStatus",
    "CpInfo",
    "SchedulerView",
    "SiteStatus",
]
