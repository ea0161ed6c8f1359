"""The console's control actions: each one reads its form fields and calls the same domain
operation as the SOAP operation named beside it (docs/console.md, "Control"), so every rule
(ranges, who must be joined, the gate, the panes of a mode) is the runtime's or the
scheduler's, checked before anything changes; a refusal is the DomainError's result code
(gateway/result_codes.py, the SOAP table).

Before an action runs, the ownership rule is asked about the conference it names, exactly
as for a SOAP request (gateway/ownership_check.py: by confId, or by the ongoing conference
of the site a site-only action names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from multidict import MultiDictProxy

from gateway import ownership_check
from gateway.convert import site_uris
from mcu.errors import DomainError, Fault
from mcu.live_conference import CameraCommand
from mcu.ownership import Actor
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler

MAX_FIELD = 512
MAX_URIS = 64
MAX_PANES = 64


class Form:
    """The fields of one action's POST, read with their checks (MISSING_PARAMETER when
    absent, OUT_OF_RANGE when not a number or over a length)."""

    def __init__(self, fields: MultiDictProxy) -> None:
        self.fields = fields

    def text(self, name: str, required: bool = True) -> str:
        value = self.fields.get(name)
        if not isinstance(value, str) or not value.strip():
            if required:
                raise DomainError(Fault.MISSING_PARAMETER, name)
            return ""
        if len(value) > MAX_FIELD:
            raise DomainError(Fault.OUT_OF_RANGE, f"{name} is over {MAX_FIELD} characters")
        return value.strip()

    def number(self, name: str, required: bool = True) -> int | None:
        value = self.text(name, required)
        if not value:
            return None
        try:
            return int(value)
        except ValueError:
            raise DomainError(Fault.OUT_OF_RANGE, f"{name} {value!r} is not a number") from None

    def needed_number(self, name: str) -> int:
        value = self.number(name)
        assert value is not None  # required: number() raised otherwise
        return value

    def flag(self, name: str) -> bool:
        value = self.text(name)
        if value not in ("0", "1"):
            raise DomainError(Fault.OUT_OF_RANGE, f"{name} must be 0 or 1")
        return value == "1"

    def uris(self, name: str = "uri") -> list[str]:
        """Site URIs by the one site-URI list rule (gateway/convert.py `site_uris`)."""
        values = [v for v in self.fields.getall(name, []) if isinstance(v, str)]
        if len(values) > MAX_URIS or any(len(v) > MAX_FIELD for v in values):
            raise DomainError(Fault.OUT_OF_RANGE, f"{name}: too many or too long")
        return site_uris(values, name)

    def panes(self) -> list[str]:
        """subPics in pane order, "" for an empty pane (as setContinuousPresenceEx)."""
        values = [v.strip() if isinstance(v, str) else "" for v in self.fields.getall("pane", [])]
        if len(values) > MAX_PANES or any(len(v) > MAX_FIELD for v in values):
            raise DomainError(Fault.OUT_OF_RANGE, "pane: too many or too long")
        return values


@dataclass(frozen=True)
class Domain:
    runtime: ConferenceRuntime
    scheduler: Scheduler


Action = Callable[[Domain, Form], object]  # what the operation returns is not used


def _end(domain: Domain, form: Form) -> None:
    """delScheduledConfEx without beginTime: an ongoing occurrence ends now, a scheduled
    conference is cancelled (Scheduler.delete); the runtime follows at once."""
    domain.scheduler.delete(form.text("confId"))
    domain.runtime.reconcile()


def _camera(domain: Domain, form: Form) -> None:
    """ctrlCameraEx: camState 0 (the site's own camera) or 1 (the far end's)."""
    position = form.number("camPos", required=False)
    command = CameraCommand(form.needed_number("camState"), form.needed_number("camAction"),
                            position, form.needed_number("camSrc"))
    domain.runtime.devices.control_camera(form.text("uri"), command)



ACTIONS: dict[str, Action] = {
    # connectSitesEx / disconnectSitesEx
    "connect": lambda d, f: d.runtime.lifecycle.connect_sites(f.text("confId"), f.uris()),
    "disconnect": lambda d, f: d.runtime.lifecycle.disconnect_sites(f.text("confId"), f.uris()),
    "end": _end,  # delScheduledConfEx
    # setSitesMuteEx / setSitesQuietEx (muted / quiet: 1 = on)
    "mute": lambda d, f: d.runtime.control.set_sites_mute(f.text("confId"), f.uris(),
                                                          f.flag("muted")),
    "quiet": lambda d, f: d.runtime.control.set_sites_quiet(f.text("confId"), f.uris(),
                                                            f.flag("quiet")),
    # setConfSiteVolumeEx
    "volume": lambda d, f: d.runtime.control.set_site_volumes(
        f.text("confId"), [(f.text("uri"), f.needed_number("volume"))]),
    # setBroadcastSiteEx / setBroadcastContinuousPresenceEx (on: 1 = start)
    "broadcast": lambda d, f: d.runtime.control.set_broadcast_site(
        f.text("confId"), f.text("uri"), f.flag("on")),
    "broadcast_cp": lambda d, f: d.runtime.control.set_broadcast_cp(f.text("confId"),
                                                                    f.flag("on")),
    # requestConfChairEx / releaseConfChairEx
    "chair": lambda d, f: d.runtime.control.request_conf_chair(f.text("confId"), f.text("uri")),
    "release_chair": lambda d, f: d.runtime.control.release_conf_chair(f.text("confId")),
    # setVideoSourceEx
    "video_source": lambda d, f: d.runtime.control.set_video_source(
        f.text("confId"), f.text("uri"), f.text("source"), f.flag("lock")),
    # setAudioSwitchEx (voice switching and its gate)
    "audio_switch": lambda d, f: d.runtime.control.set_audio_switch(
        f.text("confId"), f.flag("on"), f.number("gate", required=False)),
    # setFloorEx
    "floor": lambda d, f: d.runtime.control.set_floor(f.text("confId"), f.text("uri")),
    # lockPresentationEx / unlockPresentationEx (the content floor)
    "lock_presentation": lambda d, f: d.runtime.control.lock_presentation(f.text("confId"),
                                                                          f.text("uri")),
    "unlock_presentation": lambda d, f: d.runtime.control.unlock_presentation(f.text("confId")),
    # setContinuousPresenceEx
    "layout": lambda d, f: d.runtime.control.set_continuous_presence(
        f.text("confId"), f.text("target", required=False) or "0", f.needed_number("mode"),
        f.panes()),
    "camera": _camera,  # ctrlCameraEx
    # setAuxStreamEx: the site starts (on 1) or stops sending content, taking the floor
    "content": lambda d, f: d.runtime.devices.set_aux_stream(f.text("uri"), f.flag("on")),
}


SITE_ACTIONS = frozenset({"camera", "content"})  # act on the conference of the site they name


def run_action(name: str, fields: MultiDictProxy, actor: Actor, domain: Domain) -> None:
    """Check ownership of what the action names, then run it; DomainError on refusal."""
    action = ACTIONS.get(name)
    if action is None:
        raise DomainError(Fault.NOT_SUPPORTED, f"no console action {name!r}")
    form = Form(fields)
    # the conference the action acts on: its confId, or for a site-only action (as
    # ctrlCameraEx) the ongoing conference of its site, whatever else the form carries
    if name in SITE_ACTIONS:
        named = SimpleNamespace(confId=None, siteUri=fields.get("uri"))
    else:
        named = SimpleNamespace(confId=fields.get("confId"), siteUri=None)
    ownership_check.check(named, actor, domain.scheduler, domain.runtime)
    action(domain, form)
