"""Offer/answer (RFC 3264) for a SIP room system's audio and video: the codecs we can do
(codecs.py), SDES keys (RFC 4568) under the caller's encryption policy (sdes_policy.py: the
MCU passes its booking's mediaEncryptType, a simulated room system its own SRTP setting, as
an encryption_policy.py SdesRule; negotiation applies whichever it is given) and RTCP
feedback (RFC 4585).

Rules (docs/sip_media.md):
- The answerer takes the offer's first codec it supports (the offerer's preference), with the
  fmtp that must match: H.264 profile_idc and packetization-mode; others echo the offer.
- Encryption: the policy is asked, per m-line, what the peer offers (a usable a=crypto line;
  plain RTP allowed, i.e. RTP/AVP(F) rather than RTP/SAVP(F): an answer cannot change the
  proto) and says SDES-SRTP, plain, or a refusal with its reason. Taking SRTP, the first
  usable crypto line of the offer wins (the offerer's order), answered with a fresh key and
  the same tag and suite. Our own offer: RTP/SAVP(F) when the policy refuses plain-only
  peers, a=crypto lines when it takes SDES-SRTP.
- rtcp-fb: the values both sides list for the codec (nack, nack pli, ccm fir, ccm tmmbr).
- An m-line we cannot take is answered with port 0; if neither audio nor video is left the
  call fails with a NegotiationError whose reason names why.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from rtp.codecs import CODECS, IMPOSSIBLE, CodecSpec, Negotiated
from rtp.sdes import SUITES, CryptoAttribute
from rtp.sdes_policy import SdesPolicy, needs_srtp, offers_crypto
from rtp.sdp import MediaDescription, RtpMap, SessionDescription

FEEDBACK = frozenset({"nack", "nack pli", "ccm fir", "ccm tmmbr"})
# level_idc values of H.264 (table A-1; 9 is level 1b), the ones x264 can be set to
H264_LEVELS = frozenset({9, 10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52})
STATIC = {c.static_pt: c for c in CODECS.values() if c.static_pt is not None}


class NegotiationError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason  # "no-common-codec", "impossible-codec", "encryption-required", "encryption-refused"


@dataclass(frozen=True, slots=True)
class CodecOffer:
    """A codec we offer or accept, with the fmtp it needs."""

    name: str
    fmtp: dict[str, str] = field(default_factory=dict)

    @property
    def spec(self) -> CodecSpec:
        return CODECS[self.name.upper()]


DEFAULT_VIDEO = (
    CodecOffer("H264", {"profile-level-id": "640028", "packetization-mode": "1"}),
    CodecOffer("H264", {"profile-level-id": "4d0028", "packetization-mode": "1"}),
    CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "1"}),
    CodecOffer("H264", {"profile-level-id": "42e01f", "packetization-mode": "0"}),
    CodecOffer("VP8"), CodecOffer("VP9"),
    CodecOffer("H263-1998", {"CIF": "1", "QCIF": "1", "CIF4": "1"}),
    CodecOffer("H263", {"CIF": "1", "QCIF": "1", "CIF4": "1"}),
    CodecOffer("H261", {"CIF": "1", "QCIF": "1"}),
)
DEFAULT_AUDIO = (CodecOffer("opus", {"useinbandfec": "1"}), CodecOffer("G722"),
                 CodecOffer("PCMU"), CodecOffer("PCMA"))


@dataclass(frozen=True, slots=True)
class MediaPlan:
    """What one accepted m-line settled: the session (session.py) is built from it."""

    kind: str
    codec: Negotiated
    remote_address: str
    remote_port: int
    remote_rtcp_port: int
    rtcp_mux: bool
    local_crypto: CryptoAttribute | None = None  # our key (protects what we send)
    remote_crypto: CryptoAttribute | None = None  # theirs (what we receive)
    dtmf_payload_type: int | None = None
    direction: str = "sendrecv"
    # other payload types of our offer for the same codec (H.264 of another profile), taken
    # as this one when they come: baresip 1.0.0 answers one of them and sends with another
    same_codec_types: frozenset[int] = frozenset()

    def same_as(self, other: MediaPlan) -> bool:
        """`other` settles this same medium: equal but for `same_codec_types`, which only a
        dial-out's first answer has (taken from our offer's list) and an answer to the
        site's re-offer never does."""
        return replace(other, same_codec_types=self.same_codec_types) == self

    @property
    def encrypted(self) -> bool:
        return self.local_crypto is not None


def _rtpmap_of(media: MediaDescription, pt: int) -> RtpMap | None:
    if pt in media.rtpmap:
        return media.rtpmap[pt]
    spec = STATIC.get(pt)
    return RtpMap(spec.name, spec.clock_rate, spec.channels) if spec else None


def _fmtp_matches(ours: CodecOffer, theirs: dict[str, str]) -> bool:
    if ours.name.upper() != "H264":
        return True
    mode = theirs.get("packetization-mode", "0")
    pli = theirs.get("profile-level-id", "42e01f")
    if len(pli) != 6 or any(c not in "0123456789abcdefABCDEF" for c in pli):
        return False
    return (mode == ours.fmtp.get("packetization-mode", "0")
            and pli[:2].lower() == ours.fmtp.get("profile-level-id", "42e01f")[:2].lower()
            and int(pli[4:], 16) in H264_LEVELS)


def _matches(ours: CodecOffer, rtpmap: RtpMap, fmtp: dict[str, str]) -> bool:
    spec = ours.spec
    if rtpmap.name.upper() != spec.name.upper() or rtpmap.clock_rate != spec.clock_rate:
        return False
    if spec.name == "opus" and rtpmap.channels != 2:
        return False
    return _fmtp_matches(ours, fmtp)


def _choose_codec(media: MediaDescription, ours: tuple[CodecOffer, ...]) -> Negotiated | None:
    for pt in media.payload_types:
        rtpmap = _rtpmap_of(media, pt)
        if rtpmap is None or rtpmap.name.lower() == "telephone-event":
            continue
        fmtp = media.fmtp.get(pt, {})
        for offer in ours:
            if _matches(offer, rtpmap, fmtp):
                feedback = frozenset(media.feedback_of(pt)) & FEEDBACK
                params = dict(fmtp) if offer.name.upper() != "OPUS" else dict(offer.fmtp)
                return Negotiated(offer.spec, pt, params, feedback)
    return None


def _dtmf_type(media: MediaDescription, clock_rate: int) -> int | None:
    for pt in media.payload_types:
        rtpmap = media.rtpmap.get(pt)
        if rtpmap and rtpmap.name.lower() == "telephone-event" and rtpmap.clock_rate == clock_rate:
            return pt
    return None


# SDP encoding names (and static payload types) of the standard's codecs we cannot run
_IMPOSSIBLE_NAMES = {"G728": "G728", "G729": "G729", "G729A": "G729", "G719": "G719",
                     "G7221": "G7221", "SIREN14": "G7221", "MP4A-LATM": "MP4A-LATM",
                     "H264-SVC": "H264-SVC"}
_IMPOSSIBLE_STATIC = {15: "G728", 18: "G729"}


def _impossible(media: MediaDescription) -> list[str]:
    """Why each codec of the standard's list the m-line offers cannot be run."""
    found = []
    for pt in media.payload_types:
        rtpmap = media.rtpmap.get(pt)
        key = _IMPOSSIBLE_NAMES.get(rtpmap.name.upper()) if rtpmap else _IMPOSSIBLE_STATIC.get(pt)
        if key is not None and IMPOSSIBLE[key] not in found:
            found.append(IMPOSSIBLE[key])
    return found


def _choose_crypto(media: MediaDescription, policy: SdesPolicy
                   ) -> tuple[CryptoAttribute | None, CryptoAttribute | None]:
    usable = [c for c in media.crypto if c.usable]
    outcome = policy(sdes=bool(usable), plain=not media.secure)
    if outcome.refusal is not None:
        offered = ("a usable crypto line" if usable else
                   f"no usable crypto suite (we do {', '.join(SUITES)})")
        raise NegotiationError(outcome.refusal, f"the site's {media.kind} is {media.proto} "
                               f"with {offered}: {outcome.message}")
    if not outcome.srtp:
        return None, None
    theirs = usable[0]
    return CryptoAttribute.generate(theirs.tag, theirs.suite), theirs


def answer(offer: SessionDescription, address: str, ports: dict[str, int],
           policy: SdesPolicy,
           video: tuple[CodecOffer, ...] = DEFAULT_VIDEO,
           audio: tuple[CodecOffer, ...] = DEFAULT_AUDIO,
           ) -> tuple[SessionDescription, list[MediaPlan]]:
    """Our answer to `offer` and the plans of the m-lines accepted; `ports` are our RTP ports
    by kind ("audio", "video"). NegotiationError when nothing can be accepted."""
    answer_media: list[MediaDescription] = []
    plans: list[MediaPlan] = []
    failures: list[NegotiationError] = []
    taken: set[str] = set()
    for media in offer.media:
        reply = MediaDescription(media.kind, 0, media.proto, media.formats[:1])
        answer_media.append(reply)
        ours = {"video": video, "audio": audio}.get(media.kind)
        if ours is None or not media.is_rtp or media.port == 0 or media.kind in taken:
            continue
        codec = _choose_codec(media, ours)
        if codec is None:
            impossible = _impossible(media)
            offered = ", ".join(r.name for pt in media.payload_types
                                if (r := _rtpmap_of(media, pt)) is not None) or "nothing known"
            if impossible:
                failures.append(NegotiationError(
                    "impossible-codec", f"the site offers only codecs we cannot run for its "
                    f"{media.kind}: {'; '.join(impossible)}"))
            else:
                failures.append(NegotiationError(
                    "no-common-codec", f"no common {media.kind} codec (site offers {offered})"))
            continue
        try:
            local_key, remote_key = _choose_crypto(media, policy)
        except NegotiationError as exc:
            failures.append(exc)
            continue
        dtmf = _dtmf_type(media, codec.spec.clock_rate) if media.kind == "audio" else None
        remote_address = offer.connection_of(media)
        rtcp_mux = media.rtcp_mux
        plans.append(MediaPlan(media.kind, codec, remote_address, media.port,
                               media.port if rtcp_mux else (media.rtcp_port or media.port + 1),
                               rtcp_mux, local_key, remote_key, dtmf,
                               _answer_direction(media.direction)))
        taken.add(media.kind)
        reply.port = ports[media.kind]
        reply.formats = [str(codec.payload_type)] + ([str(dtmf)] if dtmf is not None else [])
        reply.rtpmap[codec.payload_type] = RtpMap(codec.spec.name, codec.spec.clock_rate,
                                                  codec.spec.channels)
        if codec.fmtp:
            reply.fmtp[codec.payload_type] = dict(codec.fmtp)
        if dtmf is not None:
            reply.rtpmap[dtmf] = RtpMap("telephone-event", codec.spec.clock_rate)
            reply.fmtp[dtmf] = {"0-16": ""}
        if codec.feedback:
            reply.rtcp_fb[str(codec.payload_type)] = set(codec.feedback)
        if local_key is not None:
            reply.crypto = [local_key]
        reply.rtcp_mux = rtcp_mux
        reply.direction = _answer_direction(media.direction)
    if not plans:
        if failures:  # the first failure's reason; every medium's in the message
            raise NegotiationError(failures[0].reason, "; ".join(str(f) for f in failures))
        raise NegotiationError("no-common-codec", "the offer has no audio or video RTP m-line")
    session = SessionDescription(_origin(), address, answer_media)
    return session, plans


def _answer_direction(offered: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(offered, offered)


def _origin() -> str:
    session_id = secrets.randbelow(1 << 62)
    return f"mcu-sim {session_id} 1 IN IP4 127.0.0.1"


def _next_dynamic(used: set[int]) -> int:
    pt = next(p for p in range(96, 128) if p not in used)
    used.add(pt)
    return pt


def offer(address: str, ports: dict[str, int], policy: SdesPolicy,
          video: tuple[CodecOffer, ...] = DEFAULT_VIDEO,
          audio: tuple[CodecOffer, ...] = DEFAULT_AUDIO,
          avpf: bool = True) -> SessionDescription:
    """Our offer: an m-line per kind in `ports`, under `policy`: RTP/SAVP(F) with both
    suites when it refuses plain-only peers (mediaEncryptType 1); RTP/AVP(F) with
    best-effort a=crypto lines when it takes SRTP or plain (0); RTP/AVP(F) without crypto
    when it refuses SRTP (2)."""
    media_list = []
    secure, crypto = needs_srtp(policy), offers_crypto(policy)
    for kind, codecs in (("audio", audio), ("video", video)):
        if kind not in ports:
            continue
        proto = "RTP/" + ("S" if secure else "") + "AVP" + ("F" if avpf else "")
        media = MediaDescription(kind, ports[kind], proto, [])
        used: set[int] = set()
        for codec in codecs:
            spec = codec.spec
            pt = spec.static_pt if spec.static_pt is not None else _next_dynamic(used)
            used.add(pt)
            media.formats.append(str(pt))
            media.rtpmap[pt] = RtpMap(spec.name, spec.clock_rate, spec.channels)
            if codec.fmtp:
                media.fmtp[pt] = dict(codec.fmtp)
            if kind == "video":
                media.rtcp_fb[str(pt)] = set(FEEDBACK)
        if kind == "audio":
            for clock in sorted({c.spec.clock_rate for c in codecs}):
                pt = _next_dynamic(used)
                media.formats.append(str(pt))
                media.rtpmap[pt] = RtpMap("telephone-event", clock)
                media.fmtp[pt] = {"0-16": ""}
        if crypto:
            media.crypto = [CryptoAttribute.generate(1, "AES_CM_128_HMAC_SHA1_80"),
                            CryptoAttribute.generate(2, "AES_CM_128_HMAC_SHA1_32")]
        media_list.append(media)
    return SessionDescription(_origin(), address, media_list)


def accept_answer(our_offer: SessionDescription, reply: SessionDescription,
                  policy: SdesPolicy) -> list[MediaPlan]:
    """The plans an answer to our offer settles (NegotiationError if it settles none, or
    breaks the rules: a codec or crypto tag we did not offer, crypto missing where the
    policy refuses plain RTP)."""
    if len(reply.media) != len(our_offer.media):
        raise NegotiationError("bad-answer", "the answer's m-lines do not match the offer's")
    plans = []
    for ours, theirs in zip(our_offer.media, reply.media, strict=True):
        if theirs.port == 0 or theirs.kind != ours.kind or not theirs.payload_types:
            continue
        pt = theirs.payload_types[0]
        rtpmap = _rtpmap_of(theirs, pt) or _rtpmap_of(ours, pt)
        if pt not in ours.payload_types or rtpmap is None:
            raise NegotiationError("bad-answer", f"the answer picks payload type {pt} we did not offer")
        spec = CODECS.get(rtpmap.name.upper())
        if spec is None or spec.name == "telephone-event":
            raise NegotiationError("bad-answer", f"the answer picks {rtpmap.name}")
        local_key = remote_key = None
        # crypto in an answer to an m-line we offered without any is ignored (RFC 4568
        # section 5.1.2: the answerer only accepts offered attributes; baresip 1.0.0 with
        # best-effort SRTP adds one anyway and, given no key of ours, sends plain RTP)
        usable = [c for c in theirs.crypto if c.usable] if ours.crypto else []
        if usable:
            remote_key = usable[0]
            local_key = next((c for c in ours.crypto if c.tag == remote_key.tag
                              and c.suite == remote_key.suite), None)
            if local_key is None:
                raise NegotiationError("bad-answer", "the answer's crypto tag is not one we offered")
        else:
            outcome = policy(sdes=False, plain=True)
            if outcome.refusal is not None:
                raise NegotiationError(outcome.refusal, "the site answered its "
                                       f"{theirs.kind} without SRTP: {outcome.message}")
        fmtp = theirs.fmtp.get(pt, ours.fmtp.get(pt, {}))
        feedback = frozenset(theirs.feedback_of(pt)) & frozenset(ours.feedback_of(pt))
        dtmf = _dtmf_type(theirs, spec.clock_rate) if theirs.kind == "audio" else None
        mux = theirs.rtcp_mux and ours.rtcp_mux
        same_codec = frozenset(
            other for other in ours.payload_types if other != pt
            and (other_map := _rtpmap_of(ours, other)) is not None
            and other_map.name.upper() == rtpmap.name.upper()
            and other_map.clock_rate == rtpmap.clock_rate)
        plans.append(MediaPlan(theirs.kind, Negotiated(spec, pt, fmtp, feedback),
                               reply.connection_of(theirs), theirs.port,
                               theirs.port if mux else (theirs.rtcp_port or theirs.port + 1),
                               mux, local_key, remote_key, dtmf,
                               _answer_direction(theirs.direction), same_codec))
    if not plans:
        raise NegotiationError("no-common-codec", "the answer accepts no m-line")
    return plans
