"""Who may register a terminal URI: its digest credential, and the limits of failed tries.

The registrar's digest store of SIP, for the signalling's `register` (docs/signalling.md,
"Authentication"; the digest itself: rtc/signalling_auth.py). The MCU keeps HA1 per URI,
never the secret:
- `[terminal_credentials]` of the settings: URI = HA1 (hex SHA-256 of "uri:realm:secret");
- for a URI not listed, when `[terminal_auth] provisioning_key` is set: the HA1 of the secret
  derived from that key (hex HMAC-SHA-256(key, uri)); a lab convenience for many simulated
  terminals (docs/security.md);
- any other URI is unknown and can never register.

An unknown URI and a wrong response get the same answer and are counted alike, per socket and
per URI (mcu/attempt_limits.py): `lock_attempts` failures of either lock it for
`lock_minutes`, during which even the right response is refused, as the SOAP login's lock.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import Enum

from mcu.attempt_limits import AttemptLimits, AttemptPolicy, Refusal
from mcu.clock import Clock
from rtc.signalling_auth import DEFAULT_REALM, digest_ha1, digest_response, provisioned_secret

SOCKET = "socket"
URI = "uri"


@dataclass(frozen=True)
class TerminalAuthSettings:
    realm: str = DEFAULT_REALM
    provisioning_key: str = ""  # "": only the URIs of `credentials` may register
    credentials: Mapping[str, str] = field(default_factory=dict)  # URI -> HA1 (hex)
    lock_attempts: int = 5  # failures per socket and per URI that lock it
    lock_minutes: float = 15.0


class Verdict(Enum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # unknown URI or wrong response: the same to the terminal
    LOCKED = "locked"  # the socket or the URI is locked: nothing was checked


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    refusal: Refusal | None = None  # for LOCKED (and a REFUSED that locked): scope, until


class TerminalCredentials:
    def __init__(self, clock: Clock, settings: TerminalAuthSettings) -> None:
        self.settings = settings
        self.clock = clock
        lock = timedelta(minutes=settings.lock_minutes)
        policy = AttemptPolicy(settings.lock_attempts, lock)
        self.limits = AttemptLimits(clock, {SOCKET: policy, URI: policy})
        # the HA1 an unknown URI is checked against, so that it costs the same work
        self._decoy = digest_ha1("", settings.realm, secrets.token_hex(32))

    @property
    def realm(self) -> str:
        return self.settings.realm

    @staticmethod
    def new_nonce() -> str:
        return secrets.token_hex(16)

    def ha1(self, uri: str) -> str | None:
        """The URI's stored HA1, or the one its provisioned secret gives; None: unknown."""
        listed = self.settings.credentials.get(uri)
        if listed is not None:
            return listed
        if self.settings.provisioning_key:
            secret = provisioned_secret(self.settings.provisioning_key, uri)
            return digest_ha1(uri, self.settings.realm, secret)
        return None

    def check(self, uri: str, nonce: str, response: str, socket_key: str) -> Outcome:
        """One register attempt of `uri` on the socket `socket_key` answering `nonce`."""
        keys = {SOCKET: socket_key, URI: uri}
        refusal = self.limits.refusal(keys)
        if refusal is not None:
            return Outcome(Verdict.LOCKED, refusal)
        known = self.ha1(uri)
        expected = digest_response(known if known is not None else self._decoy, nonce)
        if known is not None and hmac.compare_digest(expected.encode(), response.encode()):
            self.limits.succeeded(keys)
            return Outcome(Verdict.ACCEPTED)
        self.limits.failed(keys)
        return Outcome(Verdict.REFUSED, self.limits.refusal(keys))
