"""The demo's content steps (content_share, content_pane, content_take, content_lock,
content_release): the floor granted over SOAP or BFCP, every other terminal's second stream
(or a pane of its main picture) read for the holder's pages; with `--browser` the Chromium
page's main picture read for the shared content (CONTENT_WITH_SPEAKER).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from app.demo.consultation import ConsultationBase
from app.demo.report import Expectation
from app.demo.soap_client import check
from app.demo.steps import (
    CONTENT_FRESH_S,
    CONTENT_POLL_S,
    LOCKED,
    OFF_FLOOR,
    ON_FLOOR,
    PANE_PSNR_DB,
    POLL_S,
    SECOND_STREAM_PSNR_DB,
    Check,
    Observation,
    Step,
    each,
)
from mcu.layouts import AUX_SUFFIX
from mcu.media.pictures import CONTENT_WITH_SPEAKER
from rtc.bfcp.tables import RequestStatus
from rtc.bfcp.transport import ConnectionClosed
from rtc.deadline import within
from terminals.documents import DocumentKind
from terminals.floor_client import FloorRefused
from terminals.marker import read_content_marker


class ContentSteps(ConsultationBase):
    """The steps on the content floor and the second streams."""

    def content_roles(self) -> tuple[str, str, str]:
        """(sharer, taker, denied): the first site in join order whose content starts on a
        radiograph shares it; the first other one starting on a medical record takes the
        floor itself; a third site is denied under the lock."""
        def first_page(uri: str) -> DocumentKind | None:
            source = self.terminals[uri].content_source
            return source.pages[0].kind if source is not None else None

        order = self.join_order
        sharer = next((u for u in order if first_page(u) is DocumentKind.RADIOGRAPH), order[0])
        taker = next((u for u in order if u != sharer and first_page(u) is DocumentKind.RECORD),
                     next(u for u in order if u != sharer))
        denied = next(u for u in order if u not in (sharer, taker))
        return sharer, taker, denied

    def floor_facts(self) -> dict[str, Any]:
        """Blocking (a content step's query): the floor as the SOAP API answers it."""
        answer = check(self.soap.conf_mgr.queryConferencesStatusEx(confIds=[self.conf_id]),
                       "queryConferencesStatusEx")
        status = (answer.conferenceStatuses or [None])[0]
        site_mgr = self.soap.site_mgr

        def result(answer: Any) -> int | str:
            # a site whose call ended answers an error code: recorded, and the check fails
            return answer.result if answer.resultCode == 0 else f"resultCode {answer.resultCode}"

        return {
            "presentation": status.presentation if status is not None else None,
            "isLockPresentation": status.isLockPresentation if status is not None else None,
            "isSendAuxStreamEx": {uri: result(site_mgr.isSendAuxStreamEx(siteUri=uri))
                                  for uri in self.sites},
            "isReceiveRemAuxStrmEx": {uri: result(site_mgr.isReceiveRemAuxStrmEx(siteUri=uri))
                                      for uri in self.sites},
        }

    async def ask_floor(self, uri: str, step: Step) -> None:
        """The person at `uri` presses "share": BFCP FloorRequest; the answer is recorded."""
        try:
            status = await within(self.terminals[uri].request_floor(),
                                  self.options.step_timeout)
            step.floor_requests[uri] = status.name
        except (FloorRefused, ConnectionClosed, TimeoutError) as error:
            step.floor_requests[uri] = f"{type(error).__name__}: {error}"

    def content_checks(self, name: str, holder: str, *, locked: bool = False) -> list[Check]:
        """The floor is `holder`'s (BFCP and SOAP agree), and every other terminal decodes
        its content on the second stream: its site, one of its pages, a frame index, the
        latency and the text's PSNR; the holder's own second stream is idle."""
        receivers = [uri for uri in self.sites if uri != holder]
        pages = {(page.kind.name.lower(), page.page)
                 for page in (self.terminals[holder].content_source.pages
                              if self.terminals[holder].content_source else ())}

        def decodes_holder(uri: str, c: dict[str, Any]) -> bool:
            return (c["receiving"] and c["site"] == holder and (c["kind"], c["page"]) in pages
                    and c["frame_index"] is not None and c["latency_ms"] is not None
                    and c["psnr_db"] is not None and c["psnr_db"] >= SECOND_STREAM_PSNR_DB)

        def floor_is_holders(o: Observation) -> tuple[bool, str]:
            holding = sorted(uri for uri, held in o.holds_floor.items() if held)
            sending = sorted(uri for uri, on in o.sending_content.items() if on)
            lock = o.api.get("isLockPresentation") == LOCKED
            return (o.api.get("presentation") == holder and holding == [holder]
                    and sending == [holder] and lock == locked,
                    f"presentation {o.api.get('presentation')}, locked {lock}, BFCP holders "
                    f"{holding}, sending content {sending}")

        def aux_answers(o: Observation) -> tuple[bool, str]:
            sends = o.api.get("isSendAuxStreamEx", {})
            receives = o.api.get("isReceiveRemAuxStrmEx", {})
            expected_send = {uri: int(uri == holder) for uri in self.sites}
            expected_receive = {uri: int(uri != holder) for uri in self.sites}
            return (sends == expected_send and receives == expected_receive,
                    f"isSendAuxStreamEx {sends}, isReceiveRemAuxStrmEx {receives}")

        lock_text = " (locked)" if locked else ""
        return [
            Check(f"{name}.floor",
                  f"{name}: {holder} holds the floor{lock_text} (BFCP, sending, "
                  "queryConferencesStatusEx presentation)", floor_is_holders),
            Check(f"{name}.second_stream",
                  f"{name}: every other terminal decodes {holder}'s content on its second "
                  f"stream (site, page, frame index, latency; text PSNR >= "
                  f"{SECOND_STREAM_PSNR_DB:g} dB)",
                  lambda o: each(o, decodes_holder, {uri: o.content.get(uri)
                                                      for uri in receivers})),
            Check(f"{name}.holder_idle",
                  f"{name}: {holder}'s own second stream receives nothing",
                  lambda o: each(o, lambda uri, c: not c["receiving"],
                                  {holder: o.content.get(holder)})),
            Check(f"{name}.aux_status",
                  f"{name}: isSendAuxStreamEx 1 for {holder} only, isReceiveRemAuxStrmEx 1 "
                  "for every other site", aux_answers),
        ]

    def content_share(self) -> Step:
        sharer, taker, _ = self.content_roles()
        main = [self.join_order[3], self.join_order[1]]  # cp_2_1's subPics, unchanged

        async def act() -> None:
            check(await self.soap_call(self.soap.site_mgr.setAuxStreamEx, siteUri=sharer,
                                       controlCode=ON_FLOOR), "setAuxStreamEx")

        return Step(
            "content_share", f"setAuxStreamEx {sharer} (controlCode 0): it shares its "
            f"pages ({self.first_kind(sharer)} first)", act, self.everyone("CP_2_1"),
            [*self.content_checks("content_share", sharer),
             Check("content_share.main_unchanged",
                   f"content_share: the main pictures keep the faces (CP_2_1 {main})",
                   lambda o: each(o, lambda uri, panes: panes == main, o.panes))],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S,
        )

    def first_kind(self, uri: str) -> str:
        source = self.terminals[uri].content_source
        return source.pages[0].kind.name.lower() if source is not None else "nothing"

    def content_pane(self) -> Step:
        sharer, taker, _ = self.content_roles()
        sub_pics = [sharer + AUX_SUFFIX, taker]

        async def act() -> None:
            await self.set_layout("CP_2_1", sub_pics)

        def pane_shows(uri: str, c: dict[str, Any]) -> bool:
            return (c["site"] == sharer and c["frame_index"] is not None
                    and c["latency_ms"] is not None and c["psnr_db"] is not None
                    and c["psnr_db"] >= PANE_PSNR_DB)

        return Step(
            "content_pane", f"setContinuousPresenceEx CP_2_1 (2), subPics {sub_pics}", act,
            self.everyone("CP_2_1"),
            [
                Check("content_pane.aux_pane",
                      f"content_pane: every terminal's main picture shows {sharer}'s content "
                      f"in pane 0 (content marker, latency; text PSNR >= {PANE_PSNR_DB:g} dB)",
                      lambda o: each(o, pane_shows, o.content)),
                Check("content_pane.camera_pane",
                      f"content_pane: pane 1 shows {taker}'s camera, pane 0 no camera",
                      lambda o: each(o, lambda uri, panes: panes == [None, taker], o.panes)),
            ],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S, content_pane=0,
        )

    def content_take(self) -> Step:
        sharer, taker, _ = self.content_roles()
        step = Step("content_take", f"{taker} asks for the floor over BFCP (FloorRequest); "
                    f"{sharer} is revoked", self.noop, self.everyone("CP_2_1"), [],
                    query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S)

        async def act() -> None:
            await self.ask_floor(taker, step)

        step.act = act
        step.checks = [
            Check("content_take.granted", f"content_take: {taker}'s FloorRequest is GRANTED",
                  lambda o: (step.floor_requests.get(taker) == RequestStatus.GRANTED.name,
                             f"{taker}: {step.floor_requests.get(taker)}")),
            Check("content_take.revoked",
                  f"content_take: {sharer} was told REVOKED and stopped sending",
                  lambda o: self.revoked(sharer, o)),
            *self.content_checks("content_take", taker),
        ]
        return step

    def revoked(self, uri: str, o: Observation) -> tuple[bool, str]:
        floor = self.terminals[uri].floor
        last = floor.last_status.name if floor is not None and floor.last_status else None
        return (last == RequestStatus.REVOKED.name and not o.holds_floor.get(uri)
                and not o.sending_content.get(uri),
                f"{uri}: last BFCP status {last}, holds {o.holds_floor.get(uri)}, "
                f"sending {o.sending_content.get(uri)}")

    async def noop(self) -> None:
        return None

    def content_lock(self) -> Step:
        _, taker, denied = self.content_roles()
        step = Step("content_lock", f"lockPresentationEx {taker}; {denied} asks for the floor "
                    "over BFCP", self.noop, self.everyone("CP_2_1"), [],
                    query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S)

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.lockPresentationEx,
                                       confId=self.conf_id, siteUri=taker),
                  "lockPresentationEx")
            await self.ask_floor(denied, step)

        step.act = act
        step.checks = [
            Check("content_lock.denied", f"content_lock: {denied}'s FloorRequest is DENIED",
                  lambda o: (step.floor_requests.get(denied) == RequestStatus.DENIED.name
                             and not o.holds_floor.get(denied),
                             f"{denied}: {step.floor_requests.get(denied)}, holds "
                             f"{o.holds_floor.get(denied)}")),
            *self.content_checks("content_lock", taker, locked=True),
        ]
        return step

    def content_release(self) -> Step:
        _, taker, _ = self.content_roles()

        async def act() -> None:
            check(await self.soap_call(self.soap.conf_ctrl.unlockPresentationEx,
                                       confId=self.conf_id), "unlockPresentationEx")
            check(await self.soap_call(self.soap.site_mgr.setAuxStreamEx, siteUri=taker,
                                       controlCode=OFF_FLOOR), "setAuxStreamEx")

        def nothing_shared(o: Observation) -> tuple[bool, str]:
            holding = sorted(uri for uri, held in o.holds_floor.items() if held)
            sending = sorted(uri for uri, on in o.sending_content.items() if on)
            return (o.api.get("presentation") is None and not holding and not sending
                    and o.api.get("isLockPresentation") != LOCKED,
                    f"presentation {o.api.get('presentation')}, locked "
                    f"{o.api.get('isLockPresentation')}, BFCP holders {holding}, "
                    f"sending content {sending}")

        def aux_off(o: Observation) -> tuple[bool, str]:
            sends = o.api.get("isSendAuxStreamEx", {})
            receives = o.api.get("isReceiveRemAuxStrmEx", {})
            off = dict.fromkeys(self.sites, 0)
            return (sends == off and receives == off,
                    f"isSendAuxStreamEx {sends}, isReceiveRemAuxStrmEx {receives}")

        return Step(
            "content_release", f"unlockPresentationEx; setAuxStreamEx {taker} (controlCode 1)",
            act, self.everyone("CP_2_1"),
            [
                Check("content_release.floor_free",
                      "content_release: nobody holds the floor and nobody sends content",
                      nothing_shared),
                Check("content_release.streams_stop",
                      f"content_release: no second stream received content in the last "
                      f"{CONTENT_FRESH_S:g} s",
                      lambda o: each(o, lambda uri, c: not c["receiving"], o.content)),
                Check("content_release.aux_status",
                      "content_release: isSendAuxStreamEx and isReceiveRemAuxStrmEx answer 0 "
                      "for every site", aux_off),
            ],
            query=self.floor_facts, reads_content=True, poll_s=CONTENT_POLL_S,
        )

    async def record_browser_content(self) -> None:
        """With `--browser`: the Chromium page negotiates no content stream, so while content
        is shared the MCU shows it in its main picture (CONTENT_WITH_SPEAKER: the page in the
        left three quarters); read after content_share (expectation browser.content_main)."""
        sharer, _, _ = self.content_roles()
        index = self.terminals[sharer].site_index
        rect = tuple(CONTENT_WITH_SPEAKER.panes[0].as_floats())
        deadline = time.monotonic() + self.options.step_timeout
        seen: int | None = None
        while True:
            picture = await self.browser.terminal.picture()
            if picture is not None:
                reading = await asyncio.to_thread(read_content_marker, picture, rect)
                seen = reading.site_index if reading is not None else None
            if seen == index or time.monotonic() > deadline:
                break
            await asyncio.sleep(POLL_S)
        self.report.expectations.append(Expectation(
            "browser.content_main", "content_share",
            f"browser: Chromium (no second stream) shows {sharer}'s content in its main "
            "picture (CONTENT_WITH_SPEAKER)",
            seen == index, f"content marker of site index {seen}, expected {index}"))
