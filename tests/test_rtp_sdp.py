"""SDP for SIP room systems (rtp/sdp.py, rtp/sdes.py, rtp/negotiation.py): bad SDP refused
with a clear error, offer/answer choices (codec, H.264 profile and mode, crypto suite, the
booking's mediaEncryptType) and the failures a site gets when nothing fits."""

from __future__ import annotations

import base64

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcu.model import MediaEncryptType as Encryption
from rtp import sdp
from rtp.encryption_policy import SdesRule
from rtp.negotiation import CodecOffer, NegotiationError, accept_answer, answer, offer
from rtp.sdes import CryptoAttribute

KEY = base64.b64encode(bytes(range(30))).decode()


def room_offer(video: str = "", audio: str = "", proto: str = "RTP/AVP", crypto: str = "") -> str:
    """An offer as a room system writes it."""
    lines = ["v=0", "o=room 1 1 IN IP4 192.0.2.10", "s=call", "c=IN IP4 192.0.2.10", "t=0 0"]
    crypto_lines = crypto.split("\n") if crypto else []
    if audio:
        first, *rest = audio.split("\n")
        lines += [f"m=audio 49170 {proto} {first}", *rest, *crypto_lines]
    if video:
        first, *rest = video.split("\n")
        lines += [f"m=video 49172 {proto} {first}", *rest, *crypto_lines]
    return "\r\n".join(line for line in lines if line) + "\r\n"


H264_HIGH = "97\na=rtpmap:97 H264/90000\na=fmtp:97 profile-level-id=640028;packetization-mode=1\na=rtcp-fb:97 nack\na=rtcp-fb:97 nack pli"
H263 = "34\na=rtpmap:34 H263/90000\na=fmtp:34 CIF=1;QCIF=1"
C80 = f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}"
C32 = f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{KEY}|2^31"


def _answer(text: str, encryption: Encryption = Encryption.AUTO):
    return answer(sdp.parse(text), "127.0.0.1", {"audio": 40000, "video": 40002}, SdesRule(encryption))


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "v=0"),
    ("v=1\r\n", "v=0"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\n", "connection"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.999\r\nt=0 0\r\n", "not an IP"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP6 1.2.3.4\r\nt=0 0\r\n", "does not match"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 99999 RTP/AVP 0\r\n", "port"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0 abc\r\n", "payload type"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/AVP 0\r\na=rtpmap:8 PCMA/8000\r\n", "not in the m-line"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/AVP 96\r\na=rtpmap:96 opus\r\n", "rtpmap"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA\r\n", "bytes"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:%%%%\r\n", "base64"),
    (f"v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{KEY}|2^20|1:4\r\n", "MKI"),
    ("v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\ngarbage\r\n", "not '<type>=<value>'"),
    ("v=0\r\no=x\r\ns=-\r\nt=0 0\r\n", "o= needs"),
    ("v=0\r\n" + "a=x\r\n" * 20000, "longer than"),
    (b"v=0\r\n\xff\xfe", "UTF-8"),
])
def test_bad_sdp_is_refused_with_a_clear_error(text: str | bytes, fragment: str) -> None:
    with pytest.raises(sdp.SdpError, match=None) as caught:
        sdp.parse(text)
    assert fragment in str(caught.value)


def test_a_room_offer_is_parsed_and_written_back() -> None:
    text = room_offer(video=H264_HIGH, audio="9 0 101\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16")
    parsed = sdp.parse(text)
    video = parsed.media[1]
    assert video.fmtp[97] == {"profile-level-id": "640028", "packetization-mode": "1"}
    assert video.feedback_of(97) == {"nack", "nack pli"}
    again = sdp.parse(sdp.serialize(parsed))
    assert again.media[1].fmtp == video.fmtp and again.media[0].payload_types == [9, 0, 101]


def test_answer_takes_the_offerers_first_supported_codec_and_its_feedback() -> None:
    text = room_offer(video="98 97 34\na=rtpmap:98 H264/90000\na=fmtp:98 profile-level-id=6e0028;packetization-mode=1\n"
                      + H264_HIGH.split("\n", 1)[1] + "\na=fmtp:34 CIF=1",
                      audio="18 9 0 101\na=rtpmap:101 telephone-event/8000")
    reply, plans = _answer(text)
    video = next(p for p in plans if p.kind == "video")
    audio = next(p for p in plans if p.kind == "audio")
    assert (video.codec.name, video.codec.payload_type) == ("H264", 97)  # 6e (High 10) skipped
    assert video.codec.feedback == {"nack", "nack pli"}
    assert (audio.codec.name, audio.dtmf_payload_type) == ("G722", 101)  # G.729 (18) skipped
    assert (audio.remote_address, audio.remote_port, audio.remote_rtcp_port) == ("192.0.2.10", 49170, 49171)
    written = sdp.serialize(reply)
    assert "m=video 40002 RTP/AVP 97" in written and "a=rtcp-fb:97 nack pli" in written
    assert "a=crypto" not in written


@pytest.mark.parametrize(("lines", "suite", "tag"), [
    (C80 + "\n" + C32, "AES_CM_128_HMAC_SHA1_80", 1),
    (C32 + "\n" + C80, "AES_CM_128_HMAC_SHA1_32", 2),
    ("a=crypto:5 AES_256_CM_HMAC_SHA1_80 inline:xyz\n" + C32, "AES_CM_128_HMAC_SHA1_32", 2),
])
def test_crypto_suite_chosen_in_the_offerers_order(lines: str, suite: str, tag: int) -> None:
    reply, plans = _answer(room_offer(video=H263, proto="RTP/SAVP", crypto=lines))
    plan = plans[0]
    assert plan.encrypted and plan.local_crypto.suite == plan.remote_crypto.suite == suite
    assert plan.local_crypto.tag == tag and len(plan.local_crypto.key_salt) == 30
    assert plan.local_crypto.key_salt != plan.remote_crypto.key_salt  # our own fresh key
    answered = sdp.parse(sdp.serialize(reply)).media[0].crypto
    assert [(c.tag, c.suite, c.key_salt) for c in answered] == [(tag, suite, plan.local_crypto.key_salt)]


def test_fresh_keys_every_time() -> None:
    keys = {CryptoAttribute.generate(1, "AES_CM_128_HMAC_SHA1_80").key_salt for _ in range(50)}
    assert len(keys) == 50


@pytest.mark.parametrize(("proto", "crypto", "encryption", "reason", "encrypted"), [
    ("RTP/AVP", "", Encryption.AUTO, None, False),
    ("RTP/AVP", C80, Encryption.AUTO, None, True),  # best-effort SRTP taken
    ("RTP/SAVP", C80, Encryption.AUTO, None, True),
    ("RTP/AVP", "", Encryption.FORCE, "encryption-required", None),
    ("RTP/AVP", C80, Encryption.FORCE, None, True),
    ("RTP/SAVP", "", Encryption.FORCE, "encryption-required", None),
    ("RTP/SAVP", C80, Encryption.NONE, "encryption-refused", None),
    ("RTP/AVP", C80, Encryption.NONE, None, False),  # best-effort crypto ignored
])
def test_media_encrypt_type(proto: str, crypto: str, encryption: Encryption,
                            reason: str | None, encrypted: bool | None) -> None:
    text = room_offer(video=H263, proto=proto, crypto=crypto)
    if reason is not None:
        with pytest.raises(NegotiationError) as caught:
            _answer(text, encryption)
        assert caught.value.reason == reason
    else:
        _reply, plans = _answer(text, encryption)
        assert plans[0].encrypted is encrypted


def test_no_common_codec() -> None:
    with pytest.raises(NegotiationError) as caught:
        _answer(room_offer(video="96\na=rtpmap:96 AV1/90000", audio="3\na=rtpmap:3 GSM/8000"))
    assert caught.value.reason == "no-common-codec" and "AV1" in str(caught.value)


def test_h264_profile_and_mode_must_match() -> None:
    text = room_offer(video="97\na=rtpmap:97 H264/90000\na=fmtp:97 profile-level-id=580028;packetization-mode=1")
    with pytest.raises(NegotiationError, match="no common video codec"):
        _answer(text)  # extended profile (0x58)
    _reply, plans = _answer(room_offer(video="97\na=rtpmap:97 H264/90000"))  # defaults: 42e01f, mode 0
    assert plans[0].codec.packetization_mode == 0


def test_a_site_offering_only_impossible_codecs_gets_the_reason() -> None:
    text = room_offer(audio="18 15 96\na=rtpmap:96 G7221/16000\na=fmtp:96 bitrate=24000")
    with pytest.raises(NegotiationError) as caught:
        _answer(text)
    assert caught.value.reason == "impossible-codec"
    for name in ("G.729A", "G.728", "G.722.1"):
        assert name in str(caught.value)


def test_one_medium_failing_leaves_the_other() -> None:
    reply, plans = _answer(room_offer(video="96\na=rtpmap:96 AV1/90000", audio="0"))
    assert [p.kind for p in plans] == ["audio"]
    assert sdp.parse(sdp.serialize(reply)).media[1].port == 0  # video declined, not dropped


@pytest.mark.parametrize("encryption", list(Encryption))
def test_our_offer_and_their_answer(encryption: Encryption) -> None:
    ours = offer("127.0.0.1", {"audio": 40000, "video": 40002}, SdesRule(encryption))
    parsed = sdp.parse(sdp.serialize(ours))
    assert [m.proto for m in parsed.media] == (["RTP/SAVPF"] * 2 if encryption is Encryption.FORCE else ["RTP/AVPF"] * 2)
    assert all(len(m.crypto) == (0 if encryption is Encryption.NONE else 2) for m in parsed.media)
    reply, their_plans = answer(parsed, "127.0.0.2", {"audio": 50000, "video": 50002},
                                SdesRule(encryption),
                                video=(CodecOffer("VP8"),), audio=(CodecOffer("PCMA"),))
    our_plans = accept_answer(ours, sdp.parse(sdp.serialize(reply)), SdesRule(encryption))
    assert [(p.kind, p.codec.name, p.remote_port) for p in our_plans] == [("audio", "PCMA", 50000), ("video", "VP8", 50002)]
    for mine, theirs in zip(our_plans, their_plans, strict=True):
        assert mine.encrypted == theirs.encrypted == (encryption is not Encryption.NONE)
        if mine.encrypted:  # each side decrypts with the other's key
            assert mine.remote_crypto.key_salt == theirs.local_crypto.key_salt
            assert theirs.remote_crypto.key_salt == mine.local_crypto.key_salt


def test_an_answer_picking_what_we_did_not_offer_is_refused() -> None:
    ours = offer("127.0.0.1", {"audio": 40000}, SdesRule(Encryption.NONE),
                 audio=(CodecOffer("PCMU"),))
    bad = "v=0\r\no=x 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 5004 RTP/AVPF 8\r\n"
    with pytest.raises(NegotiationError) as caught:
        accept_answer(ours, sdp.parse(bad), SdesRule(Encryption.NONE))
    assert caught.value.reason == "bad-answer"


_SDP_LINES = st.sampled_from([
    "v=0", "o=x 1 1 IN IP4 192.0.2.1", "o=x", "s=-", "t=0 0", "c=IN IP4 192.0.2.1",
    "c=IN IP6 ::1", "c=IN IP4 ::1", "m=audio 5004 RTP/AVP 0 8 101", "m=video 0 RTP/SAVPF 96 34",
    "m=video 5006 RTP/AVPF 96 97", "m=application 9 UDP/BFCP *", "m=audio 70000 RTP/AVP 0",
    "a=rtpmap:96 H264/90000", "a=rtpmap:97 H264/90000", "a=rtpmap:101 telephone-event/8000",
    "a=fmtp:96 profile-level-id=64ff28;packetization-mode=1", "a=fmtp:97 profile-level-id=zz",
    "a=fmtp:96 packetization-mode=2", "a=rtcp-fb:* nack", "a=rtcp-fb:96", "a=rtcp:",
    "a=rtcp:5007 IN IP4 192.0.2.1", "a=rtcp-mux", "a=sendonly", "a=inactive", "a=ptime:0",
    f"a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:{KEY}", "a=crypto:1 AES_CM_128_HMAC_SHA1_80",
    "a=crypto:x F8_128_HMAC_SHA1_80 inline:abc", "a=rtpmap:34 H263/90000/2", "a=fmtp:34 CIF=1",
    "a=rtpmap:0 PCMU/0", "a=rtpmap:8 PCMA/8000", "bogus", "a=",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SDP_LINES, max_size=25), st.sampled_from(list(Encryption)))
def test_any_sdp_is_parsed_or_refused_and_any_offer_answered_or_refused(lines, encryption) -> None:
    try:
        parsed = sdp.parse("\r\n".join(["v=0", *lines]) + "\r\n")
    except sdp.SdpError:
        return
    try:
        reply, plans = answer(parsed, "127.0.0.1", {"audio": 40000, "video": 40002},
                              SdesRule(encryption))
    except NegotiationError as exc:
        assert exc.reason in {"no-common-codec", "impossible-codec", "encryption-required",
                              "encryption-refused"}
        return
    assert sdp.parse(sdp.serialize(reply)).media and plans
