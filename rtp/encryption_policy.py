"""An encryption setting with mediaEncryptType's meaning applied to one call: what its media
is protected with, or why the call is refused. The MCU applies a conference's booked
setting to each site's call (mcu/media/sip_call_media.py, mcu/media/webrtc_endpoint.py); a
simulated SIP room system applies its own SRTP setting, which has the same three values
(terminals/sip_room.py). Neither side's package owns it: rtp/ holds it, beside the SDES
negotiation (negotiation.py) that asks its `SdesRule` per m-line through `SdesPolicy`.

WS/T 546 table 4, mediaEncryptType: 0 AutoEncrypt (encrypted when the site can, else not),
1 ForceEncrypt (a site that cannot encrypt cannot join), 2 None (not encrypted, whatever
the site can). An endpoint says only what the peer offered (`PeerOffer`); `decide` gives the
outcome, the same for every kind of endpoint:

| booked   | peer offers                    | outcome                                          |
|----------|--------------------------------|--------------------------------------------------|
| 0 auto   | DTLS-SRTP                      | DTLS-SRTP                                        |
| 0 auto   | SDES-SRTP (with or without RTP)| SDES-SRTP                                        |
| 0 auto   | plain RTP only                 | plain RTP                                        |
| 1 force  | DTLS-SRTP or SDES-SRTP         | that one (DTLS-SRTP first)                       |
| 1 force  | plain RTP only                 | refused: 12378, encryption mode mismatch         |
| 2 none   | plain RTP (with or without SDES)| plain RTP                                       |
| 2 none   | DTLS-SRTP only (WebRTC)        | DTLS-SRTP, exempt (reported as such)             |
| 2 none   | SDES-SRTP only (RTP/SAVP)      | refused: 12378, encryption mode mismatch         |
| any      | nothing usable                 | refused: 12378                                   |

Why the WebRTC exemption rather than a refusal (docs/gateway.md, "Formats, protocols and
encryption honoured"): WebRTC media is DTLS-SRTP by definition (RFC 8827 section 6.5:
"implementations MUST NOT implement ... unencrypted RTP"); a browser or WebRTC terminal
cannot send plain RTP at all. A booking with 2 asks that no media be encrypted for the
sake of endpoints that cannot decrypt (legacy room systems); refusing the WebRTC sites
would make such a conference unusable for the only terminals that cannot comply, while
their encryption takes nothing from the other sites. So they join encrypted and the site's
negotiated media says so (`Protection.exempt`): never silently.

12378 is the platform's own code for exactly this (error-codes-smc.tsv: 会场加密模式与会议
不匹配, "the site's encryption mode does not match the conference's"): a refusal's
`code`. `MediaEncryptType` is defined here and re-exported by mcu/model.py, the domain's
enumerations of WS/T 546.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rtp.sdes_policy import ENCRYPTION_REFUSED, ENCRYPTION_REQUIRED, SdesOutcome

ENCRYPTION_MISMATCH = 12378  # mcu.calls.CallFailure.DTLS_FAILED: the same platform code


class MediaEncryptType(enum.IntEnum):
    """WS/T 546 table 4's mediaEncryptType; a room system's SRTP setting with its meaning."""

    AUTO = 0
    FORCE = 1
    NONE = 2


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a call is refused: `code` ENCRYPTION_MISMATCH, `description` the rule's words
    (`SdesRule` hands them to negotiation, whose error the MCU reports as a SIP site's
    callFailedReason: 12378 and these words)."""

    code: int
    description: str


class MediaSecurity(enum.StrEnum):
    """What a call's media is protected with (as the site's negotiated media reports it)."""

    DTLS_SRTP = "DTLS-SRTP"  # RFC 5764: keys from a DTLS handshake (WebRTC)
    SDES_SRTP = "SDES-SRTP"  # RFC 4568: keys in the SDP's a=crypto lines (SIP)
    PLAIN = "RTP"  # no encryption


@dataclass(frozen=True, slots=True)
class PeerOffer:
    """What the peer offered (or, answering, accepts): which protections it can use."""

    dtls_srtp: bool = False
    sdes_srtp: bool = False
    plain: bool = False

    @classmethod
    def webrtc(cls) -> PeerOffer:
        """A WebRTC peer: DTLS-SRTP and nothing else (RFC 8827)."""
        return cls(dtls_srtp=True)


@dataclass(frozen=True, slots=True)
class Protection:
    """The outcome: `security` the call uses, or `refusal` (security None). `exempt`: the
    booking asked for no encryption and the site cannot do without (a WebRTC site)."""

    security: MediaSecurity | None
    refusal: Refusal | None = None
    exempt: bool = False


def decide(booked: MediaEncryptType, offer: PeerOffer) -> Protection:
    """The rule of the module's table."""
    if booked is MediaEncryptType.NONE:
        if offer.plain:
            return Protection(MediaSecurity.PLAIN)
        if offer.dtls_srtp:
            return Protection(MediaSecurity.DTLS_SRTP, exempt=True)
        return _refused(booked, offer, "the conference sends no encryption, the site "
                                       "offers only encrypted media")
    encrypted = _best_encrypted(offer)
    if encrypted is not None:
        return Protection(encrypted)
    if booked is MediaEncryptType.FORCE:
        return _refused(booked, offer, "the conference forces encryption, the site offers "
                                       "none")
    if offer.plain:
        return Protection(MediaSecurity.PLAIN)
    return _refused(booked, offer, "the site offers no media protection the MCU has")


def _best_encrypted(offer: PeerOffer) -> MediaSecurity | None:
    if offer.dtls_srtp:
        return MediaSecurity.DTLS_SRTP
    if offer.sdes_srtp:
        return MediaSecurity.SDES_SRTP
    return None


def _refused(booked: MediaEncryptType, offer: PeerOffer, why: str) -> Protection:
    offered = [name for name, present in (("DTLS-SRTP", offer.dtls_srtp),
                                          ("SDES-SRTP", offer.sdes_srtp),
                                          ("RTP", offer.plain)) if present]
    detail = (f"media encryption mismatch: mediaEncryptType {int(booked)} "
              f"({booked.name.lower()}): {why} (offered: {', '.join(offered) or 'nothing'})")
    return Protection(None, Refusal(ENCRYPTION_MISMATCH, detail))


@dataclass(frozen=True, slots=True)
class SdesRule:
    """The table above for one SDES m-line of a SIP call, in the form rtp/negotiation.py
    takes (rtp/sdes_policy.py SdesPolicy): rtp/ asks it rather than keeping a rule of its
    own. A refusal's reason is ENCRYPTION_REFUSED under 2 (none), else ENCRYPTION_REQUIRED."""

    booked: MediaEncryptType

    def __call__(self, sdes: bool, plain: bool) -> SdesOutcome:
        protection = decide(self.booked, PeerOffer(sdes_srtp=sdes, plain=plain))
        if protection.refusal is not None:
            reason = (ENCRYPTION_REFUSED if self.booked is MediaEncryptType.NONE
                      else ENCRYPTION_REQUIRED)
            return SdesOutcome(refusal=reason, message=protection.refusal.description)
        return SdesOutcome(srtp=protection.security is MediaSecurity.SDES_SRTP)
