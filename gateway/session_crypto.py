"""The eSDK key exchange and the session-encrypted passwords that follow it (wire encoding,
no business rule).

What the eSDK TP Java SDK does (its public source: ConferenceServiceExImpl, AES128Utils,
RSA2048Utils, AESCbc128Utils), and what the eSDK platform's KeyService answers:

1. `getPublicKey(secretType="RSA2048")` on `/esdk/services/platformKeyMgr` (namespace
   `esdk_platform`): base64 of the DER SubjectPublicKeyInfo of the platform's RSA-2048 key
   (gateway/password_key.py).
2. `setSecretKey(secretType="AES128", secretKey, iv)`: the SDK's 16-byte AES key and IV, each
   written as 32 lower-case hex characters, RSA-encrypted with that public key as Java's
   "RSA/ECB/OAEPWithSHA-512AndMGF1Padding" does it (OAEP, SHA-512 digest, MGF1 with SHA-1:
   SunJCE keeps SHA-1 for MGF1 whatever the digest), each base64. `negotiate` checks and
   decodes them; the session (gateway/sessions.py) keeps the result as its `cipher`.
3. From then on the SDK sends `ConferenceInfoEx.password` and `chairmanPassword` of
   scheduleConfEx, scheduleRecurrenceConferenceEx, editScheduledConfEx and
   editRecurrenceConferenceEx as base64(AES-128-CBC/PKCS5Padding(utf8(password))) under that
   key and IV. No other request field is encrypted, and the SDK decrypts nothing in the
   answers (it hands `conferenceInfo` to its caller as received), so answers stay in clear.

Older SDK builds negotiate nothing and encrypt with AESCbc128Utils' fixed key and IV
("PASSWORD@ESDKNATIVE12" cut to its first 16 bytes, "INITIAL@NATIVE12"); the eSDK platform
calls that mode "AES128_fixed". `reveal_password` accepts it only for a session that has
not negotiated a key and only where `[key_exchange] accept_fixed_sdk_key` is on.

No key, IV or clear password is ever logged: `SessionCipher` keeps both out of its repr,
and every refusal names what was wrong, never the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import padding as block_padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway import result_codes
from gateway.password_key import BLOCK_BYTES, CLEAR_PASSWORD, PasswordKey, strict_base64
from mcu.errors import DomainError, Fault

RSA_SECRET_TYPE = "RSA2048"
AES_SECRET_TYPE = "AES128"
AES_KEY_BYTES = 16
_AES_BLOCK_BYTES = 16
_HEX = re.compile(r"^[0-9a-fA-F]{32}$")

# AESCbc128Utils of older SDK builds: the key string is 21 bytes, Java keeps the first 16
FIXED_SDK_KEY = b"PASSWORD@ESDKNATIVE12"[:AES_KEY_BYTES]
FIXED_SDK_IV = b"INITIAL@NATIVE12"


@dataclass(frozen=True)
class SessionCipher:
    """AES-128-CBC with PKCS#5 padding under one key and IV, text as base64 of the bytes."""

    key: bytes = field(repr=False)
    iv: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.key) != AES_KEY_BYTES or len(self.iv) != AES_KEY_BYTES:
            raise ValueError("an AES-128 key and IV are 16 bytes each")

    def decrypt(self, blob: bytes) -> str | None:
        """The UTF-8 text of a ciphertext, or None where it is not one under this key (wrong
        length, bad padding, not UTF-8)."""
        if not blob or len(blob) % _AES_BLOCK_BYTES:
            return None
        decryptor = self._cipher().decryptor()
        data = decryptor.update(blob) + decryptor.finalize()
        unpadder = block_padding.PKCS7(_AES_BLOCK_BYTES * 8).unpadder()
        try:
            plain = unpadder.update(data) + unpadder.finalize()
            return plain.decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.iv))


FIXED_SDK_CIPHER = SessionCipher(FIXED_SDK_KEY, FIXED_SDK_IV)


class KeyExchangeRefused(Exception):
    """setSecretKey or getPublicKey refused: `result_code` is the answer, `reason` says why
    without quoting any value."""

    def __init__(self, result_code: int, reason: str) -> None:
        super().__init__(reason)
        self.result_code = result_code
        self.reason = reason


def check_public_key_type(secret_type: str | None) -> None:
    """getPublicKey: empty or RSA2048 (the platform's KeyService), else no such algorithm."""
    if secret_type and secret_type.strip() != RSA_SECRET_TYPE:
        raise KeyExchangeRefused(result_codes.NO_SUCH_ALGORITHM, "secretType is not RSA2048")


def negotiate(
    password_key: PasswordKey, secret_type: str | None, secret_key: str | None, iv: str | None
) -> SessionCipher:
    """setSecretKey's values -> the session's cipher, checked in the platform's order:
    algorithm, presence, RSA decryption, then 32 hex characters each."""
    if secret_type and secret_type.strip() != AES_SECRET_TYPE:
        raise KeyExchangeRefused(result_codes.NO_SUCH_ALGORITHM, "secretType is not AES128")
    if not secret_key:
        raise KeyExchangeRefused(result_codes.KEY_PARAMETER_MISSING, "secretKey is missing")
    if not iv:
        raise KeyExchangeRefused(result_codes.KEY_DATA_INVALID, "iv is missing")
    key_text = _rsa_secret(password_key, secret_key)
    iv_text = _rsa_secret(password_key, iv)
    if key_text is None or iv_text is None:
        raise KeyExchangeRefused(
            result_codes.SECRET_KEY_UNDECRYPTABLE,
            "secretKey or iv does not decrypt with the platform key (RSA OAEP SHA-512)",
        )
    if not (_HEX.match(key_text) and _HEX.match(iv_text)):
        raise KeyExchangeRefused(
            result_codes.KEY_DATA_INVALID, "secretKey and iv must each be 32 hex characters"
        )
    return SessionCipher(bytes.fromhex(key_text), bytes.fromhex(iv_text))


def reveal_password(
    value: str | None,
    cipher: SessionCipher | None,
    accept_fixed_key: bool,
    password_key: PasswordKey,
) -> str | None:
    """The clear password behind a wire password value of this session:

    - absent or 6 digits: as is (the standard's clear password; never a ciphertext, which
      is base64 of at least 16 bytes);
    - strict base64 of one RSA-2048 block (256 bytes): RSA-decrypted
      (PasswordKey.reveal);
    - strict base64 of 16..240 bytes in whole AES blocks: with a negotiated key, decrypted
      with it (a value that does not decrypt is refused with PASSWORD_DECRYPTION_FAILED);
      without one, decrypted with the older SDKs' fixed key when that is accepted and it
      decrypts;
    - anything else unchanged, so the booking rules refuse it as "not 6 digits".
    """
    if value is None or CLEAR_PASSWORD.match(value):
        return value
    blob = strict_base64(value)
    if blob is None:
        return value
    if len(blob) == BLOCK_BYTES:
        return password_key.reveal_block(blob)
    if len(blob) % _AES_BLOCK_BYTES or len(blob) > BLOCK_BYTES:
        return value
    if cipher is not None:
        plain = cipher.decrypt(blob)
        if plain is None:
            raise DomainError(
                Fault.PASSWORD_DECRYPTION_FAILED,
                "the password does not decrypt with the session's AES key",
            )
        return plain
    if accept_fixed_key:
        plain = FIXED_SDK_CIPHER.decrypt(blob)
        if plain is not None:
            return plain
    return value


def _rsa_secret(password_key: PasswordKey, value: str) -> str | None:
    blob = strict_base64(value)
    if blob is None:
        return None
    plain = password_key.decrypt_secret(blob)
    if plain is None:
        return None
    try:
        return plain.decode("ascii")
    except UnicodeDecodeError:
        return None
