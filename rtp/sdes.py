"""SDES keys (RFC 4568): the a=crypto attribute for AES_CM_128_HMAC_SHA1_80 and _32, keys
drawn with `secrets`, and the pylibsrtp policy they make.

Refused (SdesError): an unknown suite is kept as unusable rather than refused (the answerer
picks another line), but a known suite with a key that is not 30 bytes of base64, a bad tag,
an MKI (pylibsrtp keys one master key per stream) or any session parameter is refused."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from pylibsrtp import Policy

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_SALT_BYTES = 30  # 128-bit master key + 112-bit master salt
_LIFETIME = re.compile(r"^(2\^\d{1,2}|\d{1,20})$")


class SdesError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    tag: int
    suite: str
    key_salt: bytes = b""  # empty for a suite we do not know
    lifetime: str | None = None

    @property
    def usable(self) -> bool:
        return self.suite in SUITES

    @classmethod
    def generate(cls, tag: int, suite: str) -> CryptoAttribute:
        if suite not in SUITES:
            raise SdesError(f"unknown crypto suite {suite}")
        return cls(tag, suite, secrets.token_bytes(KEY_SALT_BYTES))

    @classmethod
    def parse(cls, value: str) -> CryptoAttribute:
        parts = value.split()
        if len(parts) < 3:
            raise SdesError("crypto must be '<tag> <suite> <key-params>'")
        tag_text, suite, key_params, *session_params = parts
        if not tag_text.isdigit() or len(tag_text) > 9:
            raise SdesError(f"crypto tag {tag_text!r} is not a number")
        if suite not in SUITES:
            return cls(int(tag_text), suite)
        if session_params:
            raise SdesError(f"crypto session parameters {' '.join(session_params)} not supported")
        if "," in key_params or ";" in key_params:
            raise SdesError("more than one crypto key is not supported")
        if not key_params.startswith("inline:"):
            raise SdesError("crypto key must be 'inline:'")
        key_text, *extras = key_params[len("inline:"):].split("|")
        lifetime = None
        for extra in extras:
            if ":" in extra:
                raise SdesError("crypto MKI is not supported")
            if not _LIFETIME.match(extra):
                raise SdesError(f"bad crypto key lifetime {extra!r}")
            lifetime = extra
        try:
            key = base64.b64decode(key_text, validate=True)
        except (binascii.Error, ValueError):
            raise SdesError("crypto key is not base64") from None
        if len(key) != KEY_SALT_BYTES:
            raise SdesError(f"crypto key is {len(key)} bytes, {suite} needs {KEY_SALT_BYTES}")
        return cls(int(tag_text), suite, key, lifetime)

    def __str__(self) -> str:
        key = base64.b64encode(self.key_salt).decode("ascii")
        lifetime = f"|{self.lifetime}" if self.lifetime else ""
        return f"{self.tag} {self.suite} inline:{key}{lifetime}"

    def policy(self, ssrc_type: int) -> Policy:
        return Policy(key=self.key_salt, ssrc_type=ssrc_type, srtp_profile=SUITES[self.suite])
