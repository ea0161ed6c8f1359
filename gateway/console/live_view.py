"""The console's live view signalling (docs/console.md, "Live view"): three POSTs, each with
the session cookie and the CSRF token, answered JSON.

- POST /console/live/open  confId, view ("conference" or a site URI of the conference)
  -> {"viewer", "sdp"}: the MCU's offer (sendonly H.264 screens, content, Opus);
- POST /console/live/answer  viewer, sdp (the browser's answer) -> {"resultCode": 0};
- POST /console/live/close  viewer -> {"resultCode": 0}.

Translation only: the viewer itself is mcu/media/live_viewer_sessions.py's. The ownership
rule is asked about confId first (an operator views its own conferences only); a viewer is
answered and closed only by the session that opened it.
"""

from __future__ import annotations

from types import SimpleNamespace

from gateway import ownership_check
from gateway.console.actions import Form
from mcu.errors import DomainError, Fault
from mcu.media.live_viewer_sessions import LiveViewerSessions
from mcu.media.live_viewers import Viewpoint
from mcu.ownership import Actor
from mcu.runtime import ConferenceRuntime
from mcu.scheduler import Scheduler

CONFERENCE_VIEW = "conference"
MAX_SDP = 64 * 1024  # an answer of a few m-lines is about 3 KiB
VIEWER_ID_LENGTH = 32


def viewpoint_of(form: Form) -> Viewpoint:
    view = form.text("view")
    return Viewpoint() if view == CONFERENCE_VIEW else Viewpoint(site=view)


def viewer_id_of(form: Form) -> str:
    viewer = form.text("viewer")
    if len(viewer) != VIEWER_ID_LENGTH or any(c not in "0123456789abcdef" for c in viewer):
        raise DomainError(Fault.OUT_OF_RANGE, "viewer is not a viewer id")
    return viewer


def sdp_of(form: Form) -> str:
    value = form.fields.get("sdp")
    if not isinstance(value, str) or not value.strip():
        raise DomainError(Fault.MISSING_PARAMETER, "sdp")
    if len(value) > MAX_SDP or not value.startswith("v=0"):
        raise DomainError(Fault.OUT_OF_RANGE, "sdp is not an SDP answer")
    return value


async def live_request(name: str, form: Form, actor: Actor, owner: str,
                       viewers: LiveViewerSessions, scheduler: Scheduler,
                       runtime: ConferenceRuntime) -> dict[str, object]:
    """Run one live-view request; DomainError on any refusal (nothing changed)."""
    if name == "open":
        conf_id = form.text("confId")
        viewpoint = viewpoint_of(form)
        ownership_check.check(SimpleNamespace(confId=conf_id), actor, scheduler, runtime)
        viewer, sdp = await viewers.open(conf_id, viewpoint, owner)
        return {"viewer": viewer, "sdp": sdp}
    if name == "answer":
        viewer = viewer_id_of(form)
        await viewers.answer(viewer, owner, sdp_of(form))
        return {}
    if name == "close":
        viewers.close_owned(viewer_id_of(form), owner)
        return {}
    raise DomainError(Fault.OUT_OF_RANGE, f"no live-view request {name!r}")
