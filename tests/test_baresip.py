"""A real SIP softphone in the MCU's conferences: Debian's baresip 1.0.0 (tests/baresip.py runs
it headless on loopback), driven over its ctrl_tcp interface; conferences booked and watched
over SOAP (zeep from the reference WSDL) on a real server, beside WebRTC simulated terminals.

- (a) baresip dials a conference by access code with the password in the URI
  (`sip:<code>*<password>@mcu`): in conference in the site status; the WebRTC terminal sees
  baresip's picture (the marker card of the clip its avformat camera plays) and hears its
  tone at the ausine frequency; baresip decodes the conference picture (its snapshot PNG
  holds the markers of both sites in their panes) and the WebRTC terminal's voice (the WAV
  its sndfile filter dumps holds that site's partials);
- (b) the MCU dials baresip out as a type 7 site booked by its sip: URI: RINGING while it
  rings (180), in conference once it accepts (200); baresip refusing a call (its 486) ends
  the site not joined with 117 (callee busy), baresip hanging up in conference (BYE) not
  joined;
- (c) SDES-SRTP with baresip (mediaenc=srtp-mand) under mediaEncryptType 1, plain RTP
  under 2; the negotiated protection read from both ends;
- (d) baresip registers with the MCU's registrar with digest credentials ([sip_accounts]);
  a wrong password is refused; the conference booking its number calls it;
- TLS: baresip calls the access code over TLS (`;transport=tls`) on the MCU's TLS port.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from app.process import RunningServer
from gateway.settings import Settings, load_settings
from mcu.calls import CallFailure
from sip.accounts import SipAccounts
from sip.digest import account_ha1
from terminals.marker import read_marker
from terminals.speech import talker_levels
from tests.baresip import Baresip, BaresipOptions, missing_reason, tone_peak_hz, write_marker_clip
from tests.test_sip_endpoint import (
    HEARD,
    IN_CONFERENCE,
    NOT_JOINED,
    book,
    eventually,
    panes,
    sees,
    site_statuses,
    wait_status,
    webrtc_terminal,
    ws_url,
)

pytestmark = pytest.mark.skipif(missing_reason() is not None,
                                reason=missing_reason() or "")

RINGING = 5
TWO_PANES = 2  # presenceMode: two panes side by side
REGISTERED_USER, REGISTERED_PASSWORD = "3001", "bare-s3cret"
TONE_HZ = 1000


@pytest.fixture
def gateway_settings(tmp_path: Path) -> Settings:
    """An MD5 account for baresip (its libre answers MD5 digest only); SIP over TLS on an
    ephemeral port with the self-signed certificate the MCU makes."""
    settings = load_settings(port=0, data_dir=tmp_path / "data")
    accounts = SipAccounts({REGISTERED_USER: {"MD5": account_ha1(
        "MD5", REGISTERED_USER, settings.sip.realm, REGISTERED_PASSWORD)}})
    return dataclasses.replace(settings, sip=dataclasses.replace(
        settings.sip, tls_port=0, accounts=accounts))


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int], Path]:
    """clip(site_index) -> the marker clip of that site (made once per module: ~2 s)."""
    made: dict[int, Path] = {}
    directory = tmp_path_factory.mktemp("clips")

    def clip(site_index: int) -> Path:
        if site_index not in made:
            made[site_index] = write_marker_clip(directory / f"camera-{site_index}.mkv",
                                                 site_index)
        return made[site_index]

    return clip


@pytest.fixture
async def phones(tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """start(name, **options) -> a running Baresip in tmp_path/name; all stopped at the end."""
    started: list[Baresip] = []

    async def start(name: str, **options: object) -> Baresip:
        phone = Baresip(tmp_path / name, BaresipOptions(**options))  # type: ignore[arg-type]
        await phone.start()
        started.append(phone)
        return phone

    yield start
    for phone in started:
        await phone.stop()


def mcu_address(server: RunningServer) -> str:
    assert server.sip is not None
    return f"127.0.0.1:{server.sip.port}"


async def snapshot_panes(phone: Baresip, rects: list[tuple[float, ...]]) -> list[int | None]:
    picture = await phone.snapshot()
    readings = [read_marker(picture, rect) for rect in rects]
    return [reading.site_index if reading else None for reading in readings]


async def test_baresip_dials_in_by_access_code_sees_and_hears_the_conference(
        gateway_server, soap, clock, phones, clips):
    terminal = webrtc_terminal("01780001", 41)
    await terminal.start(ws_url(gateway_server.base_url))
    try:
        phone = await phones("dial-in", user="bare-in", clip=clips(45), tone_hz=TONE_HZ)
        booked = phone.uri  # its From: sip:bare-in@127.0.0.1:<its port>
        conf_id, code = await asyncio.to_thread(
            book, soap, clock.now(), [terminal.uri, booked], password="112233",
            dial_in=frozenset({booked}))
        await wait_status(soap, conf_id, terminal.uri, IN_CONFERENCE, "the terminal joined")
        await phone.dial(f"sip:{code}*112233@{mcu_address(gateway_server)}")
        await phone.event("CALL_ESTABLISHED")
        await wait_status(soap, conf_id, booked, IN_CONFERENCE, "baresip in conference")
        answer = await asyncio.to_thread(soap.conf_ctrl.setContinuousPresenceEx, confId=conf_id,
                                         target="0", presenceMode=TWO_PANES,
                                         subPics=[terminal.uri, booked])
        assert answer == 0
        rects = panes(TWO_PANES)
        terminal.set_panes(rects)
        # the terminal sees baresip's camera (the clip's marker card) beside its own
        await eventually(sees(terminal, [41, 45]), "the terminal sees baresip's marker")
        # ... and hears baresip's ausine tone
        await eventually(lambda: len(terminal.audio.recent_samples()) >= terminal.audio.sample_rate
                         // 2 and abs(tone_peak_hz(terminal.audio.recent_samples(),
                                                   terminal.audio.sample_rate) - TONE_HZ) < 3,
                         f"the terminal hears a {TONE_HZ} Hz tone")
        # baresip decodes the conference picture: both markers in their panes
        readings: list[list[int | None]] = []

        async def baresip_sees_both() -> bool:
            readings.append(await snapshot_panes(phone, rects))
            return readings[-1] == [41, 45]

        await eventually(baresip_sees_both, "baresip's snapshot shows both markers")
        # ... and the terminal's voice: its partials in what baresip decoded (the last 2 s)
        def baresip_hears_the_terminal() -> bool:
            samples, rate = phone.received_audio()
            levels = talker_levels(samples[-2 * rate:], [41], rate)
            return levels.get(41, 0.0) > HEARD

        await eventually(baresip_hears_the_terminal, "baresip hears the terminal")
    finally:
        await terminal.stop()


async def test_the_mcu_dials_baresip_out_it_rings_answers_hangs_up_and_is_dialled_again(
        gateway_server, soap, clock, phones):
    phone = await phones("dial-out", user="bare-out", answermode="manual")
    refusing = await phones("refusing", user="bare-busy", answermode="manual")
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [phone.uri, refusing.uri])
    await phone.event("CALL_INCOMING")
    await wait_status(soap, conf_id, phone.uri, RINGING, "baresip ringing (180)")
    await phone.accept()
    await phone.event("CALL_ESTABLISHED")
    await wait_status(soap, conf_id, phone.uri, IN_CONFERENCE, "baresip in conference (200)")
    # the other one refuses while it rings
    await refusing.event("CALL_INCOMING")
    await refusing.hang_up()
    await wait_status(soap, conf_id, refusing.uri, NOT_JOINED, "the refusing baresip")
    status = (await asyncio.to_thread(site_statuses, soap, conf_id))[refusing.uri]
    assert status.callFailedReason.errCode == CallFailure.CALLEE_BUSY  # its 486 Busy Here
    # in conference, baresip hangs up: BYE, the site not joined
    seen = len(phone.events)
    await phone.hang_up()
    await phone.event("CALL_CLOSED", after=seen)
    await wait_status(soap, conf_id, phone.uri, NOT_JOINED, "baresip hung up")
    # connectSitesEx dials it again: it rings, answers and is in conference once more
    seen = len(phone.events)
    answer = await asyncio.to_thread(soap.conf_mgr.connectSitesEx, confId=conf_id,
                                     siteUris=[phone.uri])
    assert answer == 0
    await phone.event("CALL_INCOMING", after=seen)
    await wait_status(soap, conf_id, phone.uri, RINGING, "baresip ringing again")
    await phone.accept()
    await phone.event("CALL_ESTABLISHED", after=seen)
    await wait_status(soap, conf_id, phone.uri, IN_CONFERENCE,
                      "baresip in conference, dialled by connectSitesEx")


@pytest.mark.parametrize(("encrypt", "mediaenc", "protected"),
                         [(1, "srtp-mand", True), (2, "srtp", False)])
async def test_media_encryption_with_baresip(gateway_server, soap, clock, phones, clips,
                                             encrypt, mediaenc, protected):
    """1 (force) with baresip requiring SDES-SRTP: SRTP both ways; 2 (none) with baresip
    willing to do SRTP (best effort): plain RTP. Either way baresip decodes the picture the
    MCU sends it (its own marker card, alone in the conference)."""
    phone = await phones(f"enc-{encrypt}", user=f"bare-enc{encrypt}", clip=clips(46),
                         mediaenc=mediaenc)
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [phone.uri], encrypt=encrypt)
    await phone.event("CALL_ESTABLISHED")
    await wait_status(soap, conf_id, phone.uri, IN_CONFERENCE, "baresip in conference")
    readings: list[list[int | None]] = []

    async def reads_itself() -> bool:
        readings.append(await snapshot_panes(phone, [(0.0, 0.0, 1.0, 1.0)]))
        return readings[-1] == [46]

    await eventually(reads_itself, "baresip reads its own marker back")
    # what baresip's srtp module reports: SRTP set up for both streams, or for none
    log = phone.log()
    for kind in ("audio", "video"):
        assert (f"srtp: {kind}: SRTP is Enabled" in log) is protected, log[-3000:]
    assert "failed to decrypt" not in log


async def test_srtp_forced_and_a_plain_baresip_is_not_joined(gateway_server, soap, clock,
                                                            phones):
    phone = await phones("plain", user="bare-plain")  # no mediaenc: plain RTP/AVP only
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [phone.uri], encrypt=1)
    await wait_status(soap, conf_id, phone.uri, NOT_JOINED, "the plain baresip refused")
    status = (await asyncio.to_thread(site_statuses, soap, conf_id))[phone.uri]
    assert status.callFailedReason.errCode == CallFailure.DTLS_FAILED  # 12378


async def test_baresip_registers_with_digest_and_is_called_by_its_number(
        gateway_server, soap, clock, phones):
    mcu = mcu_address(gateway_server)
    aor = f"sip:{REGISTERED_USER}@127.0.0.1"
    wrong = await phones("wrong-password", user=REGISTERED_USER, registrar=mcu,
                         password="not-it")
    assert await wrong.registration() == "ERR"
    assert f"sip:{REGISTERED_USER}@{mcu}: 403 Forbidden" in wrong.log()
    await wrong.stop()
    assert gateway_server.sip.registrar.lookup(aor) == []
    phone = await phones("registered", user=REGISTERED_USER, registrar=mcu,
                         password=REGISTERED_PASSWORD)
    assert await phone.registration() == "OK"
    contacts = gateway_server.sip.registrar.lookup(aor)
    assert len(contacts) == 1 and f"@127.0.0.1:{phone.sip_port}" in contacts[0]
    conf_id, _ = await asyncio.to_thread(book, soap, clock.now(), [REGISTERED_USER])
    await phone.event("CALL_ESTABLISHED")
    await wait_status(soap, conf_id, REGISTERED_USER, IN_CONFERENCE,
                      "the registered number in conference")


async def test_baresip_calls_in_over_tls(gateway_server, soap, clock, phones):
    assert gateway_server.sip is not None and gateway_server.sip.tls_port is not None
    phone = await phones("tls", user="bare-tls", transport="tls")
    booked = phone.uri
    conf_id, code = await asyncio.to_thread(book, soap, clock.now(), [booked],
                                            password="555555", dial_in=frozenset({booked}))
    # the account's ;transport=tls is what makes baresip use TLS (it appends it to the dialled
    # URI); the port is the MCU's TLS one
    await phone.dial(f"sip:{code}*555555@127.0.0.1:{gateway_server.sip.tls_port}")
    await phone.event("CALL_ESTABLISHED")
    await wait_status(soap, conf_id, booked, IN_CONFERENCE, "baresip in conference over TLS")
    # the MCU hangs up: its BYE reaches baresip on the TLS connection baresip opened
    seen = len(phone.events)
    answer = await asyncio.to_thread(soap.conf_mgr.disconnectSitesEx, confId=conf_id,
                                     siteUris=[booked])
    assert answer == 0
    await phone.event("CALL_CLOSED", after=seen)
