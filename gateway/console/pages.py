"""The console's HTML, rendered on the server (html.escape on every value) from the data of
gateway/console/views.py; gateway/static/console.js only posts forms, swaps the fragments
on a live update and drives the layout picker's drag and drop.

The layout picker draws each of the 50 modes from mcu/layouts.py, the geometry the
compositor uses: every icon is an SVG of the mode's pane rectangles, and each icon carries
its panes (`LayoutMode.to_json`) for the big pane editor. The live view
(`live_view_section`) picks a viewpoint of the selected ongoing conference; its video
elements are made by gateway/static/live_view.js.
"""

from __future__ import annotations

import json
from html import escape

from gateway.console.views import ConferenceDetail, ConferenceRow, TerminalRow
from mcu.layouts import LAYOUT_MODES, LayoutMode
from mcu.model import ConferenceState, SiteCallState

STATIC = "/console/static"


def _page(title: str, body: str, csrf: str = "") -> str:
    meta = f'<meta name="csrf-token" content="{escape(csrf)}">' if csrf else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{escape(title)}</title>{meta}"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel=stylesheet href="{STATIC}/console.css"></head>'
        f"<body>{body}<script src=\"{STATIC}/console.js\"></script></body></html>"
    )


def login_page(message: str = "") -> str:
    note = f'<p class=error id=login-error role=alert>{escape(message)}</p>' if message else ""
    return _page("MCU console: log in", (
        '<main class=login><h1>MCU console</h1>'
        f'{note}<form method=post action="/login" id=login-form>'
        '<label>User <input name=user autocomplete=username required maxlength=64></label>'
        '<label>Password <input name=password type=password autocomplete=current-password'
        ' required maxlength=256></label><button type=submit>Log in</button></form></main>'
    ))


def _hidden(**fields: str) -> str:
    return "".join(f'<input type=hidden name="{escape(k)}" value="{escape(v)}">'
                   for k, v in fields.items())


def action_form(action: str, label: str, fields: dict[str, str], extra: str = "",
                title: str = "") -> str:
    return (f'<form class=act data-action="{escape(action)}" title="{escape(title)}">'
            f"{_hidden(**fields)}{extra}<button type=submit>{escape(label)}</button></form>")


def conferences_fragment(rows: list[ConferenceRow], selected: str | None) -> str:
    if not rows:
        return "<p class=empty>No scheduled or ongoing conference.</p>"
    lines = []
    for row in rows:
        state = "ongoing" if row.state is ConferenceState.ONGOING else "scheduled"
        mark = " class=selected" if row.conf_id == selected else ""
        begin = row.begin.isoformat(timespec="minutes") if row.begin else ""
        end = row.end.isoformat(timespec="minutes") if row.end else ""
        lines.append(
            f'<tr{mark} data-conf="{escape(row.conf_id)}"><td><a href="/?conf={escape(row.conf_id)}">'
            f"{escape(row.name)}</a></td><td>{escape(row.conf_id)}</td>"
            f'<td class="state {state}">{state}{" (recurring)" if row.recurring else ""}</td>'
            f"<td>{escape(begin)}</td><td>{escape(end)}</td><td>"
            + action_form("end", "End" if state == "ongoing" else "Cancel",
                          {"confId": row.conf_id})
            + "</td></tr>")
    return ("<table><thead><tr><th>Name</th><th>Id</th><th>State</th><th>Begin</th><th>End</th>"
            "<th></th></tr></thead><tbody>" + "".join(lines) + "</tbody></table>")


def _site_controls(conf_id: str, uri: str, muted: bool, quiet: bool, volume: int | None,
                   others: list[str]) -> str:
    base = {"confId": conf_id, "uri": uri}
    sources = "".join(f"<option>{escape(o)}</option>" for o in others)
    return "".join([
        action_form("mute", "Unmute" if muted else "Mute", {**base, "muted": "0" if muted else "1"}),
        action_form("quiet", "Unquiet" if quiet else "Quiet", {**base, "quiet": "0" if quiet else "1"}),
        action_form("volume", "Set", base,
                    f'<input name=volume type=number min=0 max=100 value="{volume or 0}" aria-label=volume>'),
        action_form("broadcast", "Broadcast", {**base, "on": "1"}),
        action_form("chair", "Chair", base),
        action_form("floor", "Floor", base),
        action_form("content", "Send content", {"uri": uri, "on": "1"}),
        action_form("content", "Stop content", {"uri": uri, "on": "0"}),
        action_form("lock_presentation", "Lock content", base),
        action_form("video_source", "Watch", {**base, "lock": "0"},
                    f"<select name=source aria-label='video source'>{sources}</select>"),
        action_form("disconnect", "Hang up", base),
        action_form("connect", "Call", base),
        _camera_pad(uri),
    ])


CAMERA_BUTTONS = (("◀", 1), ("▲", 2), ("▼", 3), ("▶", 0), ("+", 4), ("−", 5))


def _camera_pad(uri: str) -> str:
    moves = "".join(
        f'<form class=act data-action=camera>{_hidden(uri=uri, camState="0", camSrc="0", camAction=str(code), camPos="255")}'
        f'<button type=submit title="camAction {code}">{escape(label)}</button></form>'
        for label, code in CAMERA_BUTTONS)
    stop = "".join(
        f'<form class=act data-action=camera>{_hidden(uri=uri, camState="0", camSrc="0", camAction=str(code), camPos="255")}'
        f'<button type=submit>{label}</button></form>' for label, code in (("stop", 8),))
    presets = "".join(
        f'<form class=act data-action=camera>{_hidden(uri=uri, camState="0", camSrc="0", camAction=str(action))}'
        f'<input name=camPos type=number min=0 max=254 value=0 aria-label=preset>'
        f'<button type=submit>{label}</button></form>'
        for label, action in (("Store preset", 18), ("Go to preset", 19)))
    return f'<span class=camera>{moves}{stop}{presets}</span>'


def detail_fragment(detail: ConferenceDetail | None) -> str:
    if detail is None:
        return "<p class=empty>Pick a conference.</p>"
    status = detail.status
    conf_id = status.conf_id
    head = (f"<h3>{escape(status.name)} <small>{escape(conf_id)}</small></h3>"
            f'<p class=facts>chair <b data-fact=chair>{escape(status.chair or "-")}</b>, broadcast '
            f'<b data-fact=broadcast>{escape(status.broadcast or "-")}</b>, speaking '
            f'<b data-fact=speaking>{escape(status.speaking or "-")}</b>, voice switching '
            f'<b data-fact=audio-switch>{"on" if status.audio_switch else "off"}</b>'
            f' (gate {status.switch_gate if status.switch_gate is not None else "-"}), layout '
            f'<b data-fact=layout>{escape(_layout_name(detail.layout.mode))}</b></p>')
    if status.state is not ConferenceState.ONGOING:
        return head + "<p>Scheduled: the sites are called when it begins.</p>"
    conference_actions = "".join([
        action_form("broadcast_cp", "Broadcast CP", {"confId": conf_id, "on": "1"}),
        action_form("broadcast_cp", "Stop CP broadcast", {"confId": conf_id, "on": "0"}),
        action_form("release_chair", "Release chair", {"confId": conf_id}),
        action_form("unlock_presentation", "Unlock content", {"confId": conf_id}),
        action_form("audio_switch", "Voice switching on", {"confId": conf_id, "on": "1"},
                    f'<input name=gate type=number min=0 max=100 value="{status.switch_gate or 0}"'
                    ' aria-label=gate>'),
        action_form("audio_switch", "Voice switching off", {"confId": conf_id, "on": "0"}),
    ])
    uris = [site.uri for site in detail.sites]
    rows = []
    for site in detail.sites:
        state = site.state.name.lower()
        joined = site.state is SiteCallState.IN_CONFERENCE
        rows.append(
            f'<tr data-site="{escape(site.uri)}" data-state="{state}" '
            f'data-muted="{int(site.muted)}" data-quiet="{int(site.quiet)}">'
            f"<td draggable=true class=chip data-uri=\"{escape(site.uri)}\">{escape(site.name or site.uri)}"
            f"<br><small>{escape(site.uri)}</small></td><td>{state}</td>"
            f'<td>{"muted" if site.muted else ""} {"quiet" if site.quiet else ""}'
            f' {"" if site.volume is None else f"vol {site.volume}"}</td><td>'
            + (_site_controls(conf_id, site.uri, site.muted, site.quiet, site.volume,
                              [u for u in uris if u != site.uri]) if joined else
               action_form("connect", "Call", {"confId": conf_id, "uri": site.uri}))
            + "</td></tr>")
    return (head + f'<div class=bar>{conference_actions}</div>'
            "<table class=sites><thead><tr><th>Site</th><th>Call</th><th>Audio</th><th>Control"
            "</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _layout_name(mode: int) -> str:
    return next((m.name for m in LAYOUT_MODES if m.value == mode), str(mode))


def layout_icon(mode: LayoutMode, width: int = 64, height: int = 36) -> str:
    """One mode as SVG: its panes from mcu/layouts.py, in a 16:9 box."""
    rects = "".join(
        f'<rect x="{x * width:.2f}" y="{y * height:.2f}" width="{w * width:.2f}"'
        f' height="{h * height:.2f}"/>' for x, y, w, h in (p.as_floats() for p in mode.panes))
    return (f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'aria-hidden=true>{rects}</svg>')


def layout_picker(detail: ConferenceDetail | None) -> str:
    if detail is None or detail.status.state is not ConferenceState.ONGOING:
        return ""
    conf_id = detail.status.conf_id
    icons = []
    for mode in LAYOUT_MODES:
        over = mode.pane_count > detail.cp_resource
        note = f"{mode.name}: {mode.pane_count} panes" + (
            f", over this conference's cpResouce {detail.cp_resource}" if over else "")
        selected = " selected" if mode.value == detail.layout.mode else ""
        icons.append(
            f'<button type=button class="mode{" over" if over else ""}{selected}" '
            f'data-mode="{mode.value}" data-name="{escape(mode.name)}" title="{escape(note)}" '
            f"data-panes='{escape(json.dumps(mode.to_json()['panes']))}'>"
            f"{layout_icon(mode)}<span>{escape(mode.name)}</span></button>")
    targets = '<option value="0">conference picture</option>' + "".join(
        f'<option value="{escape(s.uri)}">{escape(s.name or s.uri)}\'s picture</option>'
        for s in detail.sites)
    chips = "".join(f'<span class=chip draggable=true data-uri="{escape(s.uri)}">'
                    f"{escape(s.name or s.uri)}</span>" for s in detail.sites)
    current = json.dumps({"mode": detail.layout.mode, "panes": list(detail.layout.sub_pics)})
    return (
        f'<div id=layout-picker data-conf="{escape(conf_id)}" data-current=\'{escape(current)}\'>'
        f'<div class=modes>{"".join(icons)}</div>'
        f'<div class=editor><div id=pane-canvas aria-label="panes"></div>'
        f'<div class=chips>{chips}</div>'
        f'<label>Picture <select id=layout-target>{targets}</select></label>'
        f'<button type=button id=layout-apply>Apply layout</button></div></div>')


def terminals_fragment(rows: list[TerminalRow]) -> str:
    if not rows:
        return "<p class=empty>No terminal registered.</p>"
    body = "".join(
        f'<tr data-terminal="{escape(r.uri)}"><td>{escape(r.name)}<br><small>{escape(r.uri)}</small>'
        f'</td><td class=call>{escape(r.call_state)}{" in " + escape(r.conf_id) if r.conf_id else ""}'
        f"</td><td>{escape(r.model)}<br><small>{escape(r.software)}</small></td>"
        f"<td>{escape(', '.join(r.inputs))}</td><td>{escape(', '.join(r.screens))}</td></tr>"
        for r in rows)
    return ("<table><thead><tr><th>Terminal</th><th>Call</th><th>Device</th><th>Inputs</th>"
            "<th>Screens</th></tr></thead><tbody>" + body + "</tbody></table>")


def schedule_form(names: dict[str, str], cp_resources: list[int], default_cp: int) -> str:
    sites = "".join(
        f'<label class=pick><input type=checkbox name=site value="{escape(uri)}"> '
        f"{escape(name)} <small>{escape(uri)}</small></label>" for uri, name in names.items())
    cps = "".join(f'<option{" selected" if c == default_cp else ""}>{c}</option>'
                  for c in cp_resources)
    return (
        '<form class=act data-action=schedule id=schedule-form>'
        '<label>Name <input name=name required maxlength=64></label>'
        '<label>Begin <input name=begin type=datetime-local> <small>(empty: now)</small></label>'
        '<label>Duration (min) <input name=duration type=number min=1 value=60></label>'
        f'<label>cpResouce <select name=cpResource>{cps}</select></label>'
        '<label>Repeat <select name=frequency><option value="">once</option>'
        '<option value=0>daily</option><option value=1>weekly</option>'
        '<option value=2>monthly</option></select></label>'
        '<label>Occurrences <input name=count type=number min=1 value=5></label>'
        f'<fieldset><legend>Sites</legend>{sites or "<small>none known yet</small>"}'
        '<label>Other URIs <input name=site placeholder="uri"></label></fieldset>'
        '<button type=submit>Schedule</button></form>')


def live_view_section(detail: ConferenceDetail | None) -> str:
    """The live view of an ongoing conference: the viewpoint picker (the conference picture
    or one site's screens and content), Watch/Stop, the screens, the health plot; hidden
    when no ongoing conference is selected."""
    if detail is None or detail.status.state is not ConferenceState.ONGOING:
        return '<section id=live-view hidden><h2>Live view</h2></section>'
    conf_id = detail.status.conf_id
    options = '<option value=conference>the conference picture</option>' + "".join(
        f'<option value="{escape(site.uri)}">{escape(site.name or site.uri)} '
        f'({escape(site.uri)}): its screens</option>' for site in detail.sites)
    return (
        f'<section id=live-view data-conf="{escape(conf_id)}"><h2>Live view</h2>'
        f'<label>Viewpoint <select id=live-viewpoint>{options}</select></label> '
        '<button type=button id=live-watch>Watch</button> '
        '<button type=button id=live-stop disabled>Stop</button> '
        '<span id=live-state>not watching</span>'
        '<div id=live-screens></div>'
        '<h3>Health</h3><div id=health data-conf="' + escape(conf_id) + '">'
        '<svg id=health-plot viewBox="0 0 600 120" width=600 height=120 role=img '
        'aria-label="frame rates and CPU of the last minutes"></svg>'
        '<div id=health-table></div></div>'
        f'<script src="{STATIC}/live_view.js"></script></section>')


def console_page(user: str, role: str, csrf: str, conferences: str, detail: str, picker: str,
                 terminals: str, schedule: str, selected: str | None, live: str = "") -> str:
    logout = f'<form method=post action="/logout">{_hidden(csrf=csrf)}<button>Log out</button></form>'
    return _page("MCU console", (
        f'<header><h1>MCU console</h1><span>{escape(user)} ({escape(role)})</span>{logout}</header>'
        f'<p id=status role=status></p>'
        f'<main data-conf="{escape(selected or "")}">'
        f'<section><h2>Conferences</h2><div id=conferences>{conferences}</div></section>'
        f'<section><h2>Conference</h2><div id=detail>{detail}</div>{picker}</section>'
        f'{live or live_view_section(None)}'
        f'<section><h2>Terminals</h2><div id=terminals>{terminals}</div></section>'
        f'<section><h2>Schedule a conference</h2>{schedule}</section></main>'
    ), csrf)
