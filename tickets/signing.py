"""HMAC-SHA256 signatures of webhook bodies, in and out.

Header ``X-Kizuki-Timestamp`` carries Unix seconds and ``X-Kizuki-Signature`` carries
``sha256=<hex>`` of ``HMAC(secret, timestamp + "." + body)``. A receiver recomputes it,
compares in constant time and refuses timestamps older than its tolerance (replays).
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Kizuki-Timestamp"
SIGNATURE_HEADER = "X-Kizuki-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Both headers for a signed request."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_s: float,
) -> str | None:
    """None when the signature is good and fresh, else why it is refused."""
    if not secret:
        return "inbound webhooks are not configured (no secret)"
    if not timestamp or not signature:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER}"
    try:
        ts = int(timestamp)
    except ValueError:
        return f"{TIMESTAMP_HEADER} is not Unix seconds"
    if abs(now - ts) > tolerance_s:
        return "timestamp outside the allowed window (replayed or clock skew)"
    if not hmac.compare_digest(sign(secret, ts, body), signature):
        return "bad signature"
    return None
