"""The demo's conference steps: continuous presence (cp_4_1, cp_2_1), voice switching with
its measured switch delay, mute, broadcast, video source and the end of the conference,
each with the checks of what every terminal must decode and hear.
"""

from __future__ import annotations

import asyncio
import time

from app.demo.consultation import ConsultationBase
from app.demo.soap_client import check
from app.demo.steps import (
    FULL_SCREEN,
    HEARD,
    LOUDER_BY,
    LOUDEST_MARGIN,
    MUTED,
    NOT_HEARD,
    ONGOING,
    SETTLE_S,
    START,
    STOP,
    SWITCH_GATE,
    SWITCH_ON,
    SWITCH_POLL_S,
    SWITCH_SLACK_S,
    Check,
    Observation,
    Step,
    each,
    pane_rects,
    same_everywhere,
)
from mcu.runtime import SPEAKER_HOLD_SECONDS


class ConferenceSteps(ConsultationBase):
    """The steps on the conference's pictures and sound (built once the join order is known)."""

    def cp_4_1(self) -> Step:
        async def act() -> None:
            await self.set_layout("CP_4_1", [])

        return Step(
            "cp_4_1", "setContinuousPresenceEx CP_4_1 (11), no subPics", act,
            self.everyone("CP_4_1"),
            [
                Check("cp_4_1.all_sites",
                      "CP_4_1: every terminal sees the 4 sites, one in each pane",
                      lambda o: each(o, lambda uri, panes: sorted(
                          p or "" for p in panes) == sorted(self.sites), o.panes)),
                Check("cp_4_1.same_order",
                      "CP_4_1: every terminal sees the same automatic assignment (join order)",
                      lambda o: same_everywhere(o.panes)),
                Check("cp_4_1.n_minus_1",
                      "N-1: no terminal hears itself, each hears the 3 others",
                      lambda o: each(o, self.hears_all_but_itself, o.heard)),
            ],
        )

    def hears_all_but_itself(self, uri: str, heard: dict[str, float]) -> bool:
        return all(
            heard.get(talker, 0.0) < NOT_HEARD if talker == uri
            else heard.get(talker, 0.0) >= HEARD
            for talker in self.sites
        )

    def cp_2_1(self) -> Step:
        j = self.join_order
        chosen = [j[3], j[1]]

        async def act() -> None:
            await self.set_layout("CP_2_1", chosen)

        return Step(
            "cp_2_1", f"setContinuousPresenceEx CP_2_1 (2), subPics {chosen}", act,
            self.everyone("CP_2_1"),
            [Check("cp_2_1.sub_pics",
                   f"CP_2_1: every terminal sees the chosen subPics {chosen}",
                   lambda o: each(o, lambda uri, panes: panes == chosen, o.panes))],
        )

    def voice_switching(self) -> Step:
        j = self.join_order
        loud = j[3]
        expected = [loud, j[0], j[1], j[2]]

        delays: dict[str, float | None] = {}

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setAudioSwitchEx,
                                       confId=self.conf_id, switchGate=SWITCH_GATE,
                                       isSwitch=SWITCH_ON), "setAudioSwitchEx")
            await self.set_layout("CP_4_1", [])
            # The talker is silent while the switch settles on another speaker, so the
            # measured switch starts from its first louder word, not from a tie.
            self.terminals[loud].speech.set_silent(True)
            await asyncio.sleep(SETTLE_S)
            delays.update(await self.measure_switch(loud))

        def delay_in_bounds(o: Observation) -> tuple[bool, str]:
            hold_ms, slack_ms = SPEAKER_HOLD_SECONDS * 1000, SWITCH_SLACK_S * 1000
            return each(o, lambda uri, ms: hold_ms <= ms <= hold_ms + slack_ms, delays)

        def loudest_everywhere(o: Observation) -> tuple[bool, str]:
            def loudest(uri: str, heard: dict[str, float]) -> bool:
                others = [level for talker, level in heard.items() if talker not in (uri, loud)]
                loudness = heard.get(loud, 0.0)
                return uri == loud or (
                    loudness >= HEARD and loudness >= LOUDEST_MARGIN * max(others, default=0.0))

            return each(o, loudest, o.heard)

        return Step(
            "voice_switching",
            f"{loud} talks {LOUDER_BY:g}x louder; setAudioSwitchEx on (gate {SWITCH_GATE}); "
            "setContinuousPresenceEx CP_4_1, no subPics",
            act, self.everyone("CP_4_1"),
            [
                Check("voice_switching.speaking",
                      f"voice switching: queryConferencesStatusEx shows {loud} speaking",
                      lambda o: (o.api.get("speaking") == loud,
                                 f"speaking: {o.api.get('speaking')}")),
                Check("voice_switching.loudest",
                      f"voice switching: every other terminal hears {loud} loudest",
                      loudest_everywhere),
                Check("voice_switching.main_pane",
                      f"voice switching: {loud} moves to the main pane ({expected})",
                      lambda o: each(o, lambda uri, panes: panes == expected, o.panes)),
                Check("voice_switching.delay",
                      f"voice switching: every other terminal shows {loud} in the main pane "
                      f"{SPEAKER_HOLD_SECONDS:g} s (the hold) to "
                      f"{SPEAKER_HOLD_SECONDS + SWITCH_SLACK_S:g} s after its louder speech left",
                      delay_in_bounds),
            ],
            query=self.conference_facts,
            measured=delays,
        )

    async def measure_switch(self, loud: str) -> dict[str, float | None]:
        """`loud` talks louder; per other terminal (and the browser), the milliseconds from its
        first louder audio block leaving it (its send log) to the arrival at that terminal of
        the first decoded picture read with it in the main pane; None when that was not seen
        within the step's timeout.

        The end is the frame's arrival as the terminal recorded it (PaneStatus.received_at),
        not the moment the reading finished: reading the markers runs in a worker thread
        and, on a busy machine, the loop that awaits it lags, which is the reader's delay,
        not the MCU's. The browser's picture is grabbed from its <video> element with no
        arrival time: the moment of the grab's request is its end (it shows a frame that
        had arrived by then, or in the few ms the page takes to serve the request)."""
        speech = self.terminals[loud].speech
        speech.set_silent(False)
        speech.talk_louder(LOUDER_BY)
        deadline = time.monotonic() + self.options.step_timeout
        main = pane_rects("CP_4_1")[0]

        async def loud_seen_at(uri: str) -> float | None:
            """When the picture read now, if it shows `loud` in the main pane, arrived
            (time.time()); None when it does not show it."""
            if self.browser is not None and uri == self.browser.uri:
                grabbed_at = time.time()
                reading = (await self.browser.terminal.read_panes([main]))[0]
                shown = reading is not None and reading.site_index == self.terminals[
                    loud].site_index
                return grabbed_at if shown else None
            panes = await self.terminals[uri].read_panes()
            if panes and panes[0].site_uri == loud:
                return panes[0].received_at
            return None

        async def watch(uri: str) -> float | None:
            while time.monotonic() < deadline:
                seen_at = await loud_seen_at(uri)
                if seen_at is not None and speech.louder_sent_at is not None:
                    return round((seen_at - speech.louder_sent_at) * 1000, 1)
                await asyncio.sleep(SWITCH_POLL_S)
            return None

        watched = [uri for uri in self.sites if uri != loud]
        for uri in watched:  # the main pane alone: a quarter of the marker reading
            self.terminals[uri].set_panes([main])
        if self.browser is not None:
            watched.append(self.browser.uri)
        return dict(zip(watched, await asyncio.gather(*(watch(uri) for uri in watched)),
                        strict=True))

    def mute(self) -> Step:
        muted = self.join_order[1]
        others = [uri for uri in self.sites if uri != muted]

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setSitesMuteEx, confId=self.conf_id,
                                       siteUris=[muted], isMute=MUTED), "setSitesMuteEx")

        return Step(
            "mute", f"setSitesMuteEx {muted} (isMute 0)", act, self.everyone("CP_4_1"),
            [
                Check("mute.not_heard", f"mute: no other terminal hears {muted}",
                      lambda o: each(o, lambda uri, heard: heard.get(muted, 1.0) < NOT_HEARD,
                                      {uri: o.heard.get(uri, {}) for uri in others})),
                Check("mute.still_hears", f"mute: {muted} still hears the 3 others",
                      lambda o: each(o, self.hears_all_but_itself,
                                      {muted: o.heard.get(muted, {})})),
                Check("mute.status", f"mute: queryConfSitesStatusEx shows {muted} muted",
                      lambda o: (o.api.get("isMute") == MUTED, f"isMute: {o.api.get('isMute')}")),
            ],
            query=lambda: self.conference_facts() | {"isMute": self.site_status(muted).isMute},
        )

    def broadcast(self) -> Step:
        j = self.join_order
        broadcaster = j[2]
        others = [uri for uri in self.sites if uri != broadcaster]
        own_picture = [broadcaster] + [uri for uri in j if uri != broadcaster]

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setBroadcastSiteEx,
                                       confId=self.conf_id, siteUri=broadcaster,
                                       isBroadcast=START), "setBroadcastSiteEx")

        views: dict[str, str | None] = {uri: FULL_SCREEN for uri in others}
        views[broadcaster] = "CP_4_1"
        return Step(
            "broadcast", f"setBroadcastSiteEx {broadcaster} (isBroadcast 0)", act, views,
            [
                Check("broadcast.full_screen",
                      f"broadcast: every other terminal sees {broadcaster} full screen",
                      lambda o: each(o, lambda uri, panes: panes == [broadcaster],
                                      {uri: o.panes.get(uri) for uri in others})),
                Check("broadcast.own_picture",
                      f"broadcast: {broadcaster} keeps the CP picture, itself in the main pane",
                      lambda o: each(o, lambda uri, panes: panes == own_picture,
                                      {broadcaster: o.panes.get(broadcaster)})),
                Check("broadcast.status",
                      f"broadcast: queryConferencesStatusEx shows {broadcaster} broadcast",
                      lambda o: (o.api.get("broadcast") == broadcaster,
                                 f"broadcast: {o.api.get('broadcast')}")),
            ],
            query=self.conference_facts,
        )

    def video_source(self) -> Step:
        j = self.join_order
        broadcaster, viewer, source = j[2], j[0], j[1]
        others = [uri for uri in self.sites if uri != viewer]
        cp_picture = [j[3], j[0], j[1], j[2]]  # the speaker still in the main pane

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.setBroadcastSiteEx,
                                       confId=self.conf_id, siteUri=broadcaster,
                                       isBroadcast=STOP), "setBroadcastSiteEx")
            check(await self.soap_call(self.soap.conf_ctrl.setVideoSourceEx,
                                       confId=self.conf_id, siteUri=viewer,
                                       videoSourceUri=source, isLock=0), "setVideoSourceEx")

        views: dict[str, str | None] = {uri: "CP_4_1" for uri in others}
        views[viewer] = FULL_SCREEN
        return Step(
            "video_source",
            f"setBroadcastSiteEx {broadcaster} (isBroadcast 1); "
            f"setVideoSourceEx {viewer} watches {source}",
            act, views,
            [
                Check("video_source.full_screen",
                      f"video source: {viewer} sees {source} full screen",
                      lambda o: each(o, lambda uri, panes: panes == [source],
                                      {viewer: o.panes.get(viewer)})),
                Check("video_source.others_cp",
                      f"video source: the others are back on the CP picture {cp_picture}",
                      lambda o: each(o, lambda uri, panes: panes == cp_picture,
                                      {uri: o.panes.get(uri) for uri in others})),
                Check("video_source.status",
                      f"video source: queryConfSitesStatusEx shows {viewer} watching {source}",
                      lambda o: (o.api.get("videoSource") == source,
                                 f"videoSource: {o.api.get('videoSource')}")),
            ],
            query=lambda: self.conference_facts() | {
                "videoSource": self.site_status(viewer).videoSource},
        )

    def end(self) -> Step:
        async def act() -> None:
            check(await self.soap_call(self.soap.conf_mgr.delScheduledConfEx,
                                       confId=self.conf_id, beginTime=self.begin),
                  "delScheduledConfEx")

        return Step(
            "end", "delScheduledConfEx", act, self.everyone(None),
            [
                Check("end.hung_up", "end: every terminal was hung up (no call left)",
                      lambda o: each(o, lambda uri, state: state == "idle", o.states)),
                Check("end.status", "end: queryConferencesStatusEx no longer shows it ongoing",
                      lambda o: (o.api.get("status") not in (None, ONGOING),
                                 f"status: {o.api.get('status')}")),
            ],
            query=self.conference_facts,
        )
