"""The eSDK key service's RSA-2048 key: getPublicKey hands out its public half, and
conference passwords that eSDK clients encrypted with it are decrypted here.

eSDK clients fetch the platform's public key (getPublicKey, namespace `esdk_platform`,
base64 of the DER SubjectPublicKeyInfo) and send ConferenceInfoEx.password and
chairmanPassword as base64 of the RSA ciphertext (Java "RSA/ECB/PKCS1Padding"). The
standard itself asks for the 6-digit password in clear, so both are accepted:

- a value of 6 digits is a clear password and passes unchanged;
- a value that is strict base64 of exactly 256 bytes (one RSA-2048 block) is decrypted:
  PKCS#1 v1.5 first (what the eSDK sends), then OAEP with SHA-1 (Java's
  "RSA/ECB/OAEPWithSHA-1AndMGF1Padding"), then OAEP with SHA-512 and MGF1-SHA-1 (Java's
  "RSA/ECB/OAEPWithSHA-512AndMGF1Padding", the transformation of the SDK's RSA2048Utils),
  and the plaintext must be 6 digits;
- anything else passes unchanged, so the scheduler refuses it as "not 6 digits".

Why a PKCS#1 v1.5 plaintext that is not 6 digits counts as "decryption failed" (2130000030)
rather than "bad password": OpenSSL >= 3.2 answers a ciphertext that does not decrypt
with a deterministic random plaintext instead of an error (implicit rejection, against
Bleichenbacher/Marvin oracles), so a wrong key and a wrong plaintext look the same. OAEP
does fail loudly, so an OAEP plaintext that is not 6 digits is a bad password.

The same key decrypts the AES key and IV of the key exchange (`decrypt_secret`, OAEP with
SHA-512 and MGF1-SHA-1 only, as the SDK's RSA2048Utils encrypts them; see
gateway/session_crypto.py).

The key is made the first time it is needed and kept in the data directory (PEM, mode
0600), so a restarted server still decrypts what clients encrypted before.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from mcu.errors import DomainError, Fault

KEY_FILE = "esdk_rsa_key.pem"
KEY_BITS = 2048
BLOCK_BYTES = KEY_BITS // 8
CLEAR_PASSWORD = re.compile(r"^[0-9]{6}$")
_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)
# Java's "RSA/ECB/OAEPWithSHA-512AndMGF1Padding" (SunJCE): SHA-512 digest, MGF1 with SHA-1
OAEP_SHA512_MGF1_SHA1 = padding.OAEP(
    mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA512(), label=None
)


class PasswordKey:
    """The key pair kept at `directory`/esdk_rsa_key.pem."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / KEY_FILE
        self._private: rsa.RSAPrivateKey | None = None

    def public_key_base64(self) -> str:
        """What getPublicKey answers: base64 of the DER SubjectPublicKeyInfo."""
        der = (
            self._key()
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return base64.b64encode(der).decode("ascii")

    def reveal(self, value: str | None) -> str | None:
        """The clear password behind a wire password value (module docstring)."""
        if value is None or CLEAR_PASSWORD.match(value):
            return value
        blob = strict_base64(value)
        if blob is None or len(blob) != BLOCK_BYTES:
            return value
        return self.reveal_block(blob)

    def reveal_block(self, blob: bytes) -> str:
        """The clear password in one RSA block (PKCS#1 v1.5, OAEP SHA-1, OAEP SHA-512);
        PASSWORD_DECRYPTION_FAILED or BAD_PASSWORD where there is none."""
        key = self._key()
        plain = _decrypt(key, blob, padding.PKCS1v15())
        if plain is not None and _is_clear_password(plain):
            return plain.decode("ascii")
        plain = _decrypt(key, blob, _OAEP)
        if plain is None:
            plain = _decrypt(key, blob, OAEP_SHA512_MGF1_SHA1)
        if plain is None:
            raise DomainError(
                Fault.PASSWORD_DECRYPTION_FAILED, "the password does not decrypt with our key"
            )
        if not _is_clear_password(plain):
            raise DomainError(Fault.BAD_PASSWORD, "the decrypted password is not 6 digits")
        return plain.decode("ascii")

    def decrypt_secret(self, blob: bytes) -> bytes | None:
        """The plaintext of one block the SDK encrypted with RSA2048Utils (OAEP, SHA-512,
        MGF1-SHA-1), or None where it does not decrypt (wrong key, wrong padding, not one
        block)."""
        if len(blob) != BLOCK_BYTES:
            return None
        return _decrypt(self._key(), blob, OAEP_SHA512_MGF1_SHA1)

    def _key(self) -> rsa.RSAPrivateKey:
        if self._private is None:
            self._private = self._load() or self._create()
        return self._private

    def _load(self) -> rsa.RSAPrivateKey | None:
        try:
            pem = self.path.read_bytes()
        except FileNotFoundError:
            return None
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size != KEY_BITS:
            raise ValueError(f"{self.path} does not hold an RSA-{KEY_BITS} private key")
        return key

    def _create(self) -> rsa.RSAPrivateKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # written aside and renamed: a crash never leaves half a key behind
        partial = self.path.with_suffix(".tmp")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, self.path)
        return key


def strict_base64(value: str) -> bytes | None:
    """The bytes of `value` when it is strict base64 (white space ignored), else None."""
    try:
        return base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return None


def _decrypt(
    key: rsa.RSAPrivateKey, blob: bytes, scheme: padding.AsymmetricPadding
) -> bytes | None:
    """The plaintext, or None where the block is refused outright (e.g. a value not below
    the modulus, or bad OAEP padding)."""
    try:
        return key.decrypt(blob, scheme)
    except ValueError:
        return None


def _is_clear_password(plain: bytes) -> bool:
    return len(plain) == 6 and plain.isascii() and plain.isdigit()
