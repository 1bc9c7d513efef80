"""Password and API-key hashing.

Passwords: Argon2id through pwdlib, at OWASP's parameters (19 MiB, 2 passes, 1 lane).
Hashes of older releases (scrypt, ``scrypt$n$r$p$salt$hash``) still verify, and
:func:`check_password` hands back an Argon2id hash to store in their place (and for any
Argon2 hash with weaker parameters than today's).
API keys are long random secrets, so one SHA-256 is enough; lookup goes by a public
prefix and the comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher

_HASHER = PasswordHash((Argon2Hasher(time_cost=2, memory_cost=19456, parallelism=1),))
LEGACY_SCHEME = "scrypt"
KEY_PREFIX = "kz"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A salted Argon2id hash of ``password``, with its parameters."""
    return _HASHER.hash(password)


def check_password(password: str, stored: str) -> tuple[bool, str | None]:
    """Whether ``password`` matches ``stored``, and the hash to store instead (or None):
    a match against a legacy scrypt hash or weaker Argon2 parameters is re-hashed."""
    if stored.startswith(LEGACY_SCHEME + "$"):
        ok = _verify_scrypt(password, stored)
        return ok, hash_password(password) if ok else None
    try:
        return _HASHER.verify_and_update(password, stored)
    except PwdlibError:
        return False, None


def verify_password(password: str, stored: str) -> bool:
    """True if ``password`` matches ``stored``."""
    return check_password(password, stored)[0]


def legacy_scrypt_hash(password: str, n: int = 2**14) -> str:
    """A hash as releases before Argon2id made them (to test the upgrade path)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=8, p=1, dklen=32)
    return f"{LEGACY_SCHEME}${n}$8$1${_b64(salt)}${_b64(digest)}"


def _verify_scrypt(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != LEGACY_SCHEME:
            return False
        expected = _unb64(digest)
        got = hashlib.scrypt(
            password.encode(),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def new_api_key() -> tuple[str, str]:
    """A fresh key ``kz_<prefix>_<secret>`` and its public prefix."""
    prefix = secrets.token_hex(4)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(24)}", prefix


def key_prefix(key: str) -> str | None:
    """The public prefix of a key in our format, or None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 8:
        return None
    return parts[1]


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
