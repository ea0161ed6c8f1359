"""The encryption rule rtp/negotiation.py applies to each m-line, passed in by its caller:
negotiation fixes none itself. The callers pass rtp/encryption_policy.py's `SdesRule`, the
one mediaEncryptType table for every kind of endpoint: the MCU under the booked setting, a
simulated room system under its own.

A policy is asked, for one m-line, what the peer offers (`sdes`: a usable a=crypto line;
`plain`: the m-line may go unencrypted, i.e. its proto is RTP/AVP(F)) and answers an
`SdesOutcome`: protect it with SDES-SRTP, send it plain, or refuse it with a reason
("encryption-required": the policy wants encryption the peer does not offer;
"encryption-refused": the policy wants none and the peer offers only encrypted media).
What we offer ourselves follows from the same policy (`offers_crypto`, `needs_srtp`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

ENCRYPTION_REQUIRED = "encryption-required"
ENCRYPTION_REFUSED = "encryption-refused"


@dataclass(frozen=True, slots=True)
class SdesOutcome:
    srtp: bool = False  # protect the m-line with SDES-SRTP
    refusal: str | None = None  # ENCRYPTION_REQUIRED or ENCRYPTION_REFUSED; None: accepted
    message: str = ""  # why it was refused


class SdesPolicy(Protocol):
    def __call__(self, sdes: bool, plain: bool) -> SdesOutcome: ...


def offers_crypto(policy: SdesPolicy) -> bool:
    """Our offer carries a=crypto lines: the policy takes SDES-SRTP from a peer offering it."""
    return policy(sdes=True, plain=False).srtp


def needs_srtp(policy: SdesPolicy) -> bool:
    """Our offer is RTP/SAVP(F): the policy refuses a peer that offers only plain RTP."""
    return policy(sdes=False, plain=True).refusal is not None
