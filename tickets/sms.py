"""How many SMS segments a text costs (GSM 03.38 7-bit, or UCS-2 for anything else).

A GSM-7 text fits 160 characters in one segment and 153 per segment when split
(characters of the extension table count twice); a UCS-2 text (Japanese, emoji) fits
70, and 67 per segment when split.
"""

from __future__ import annotations

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"
MAX_SEGMENTS = 2


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM 03.38 encoding."""
    return all(ch in GSM_BASIC or ch in GSM_EXTENDED for ch in text)


def segments(text: str) -> int:
    """SMS segments needed for ``text`` (0 for the empty text)."""
    if not text:
        return 0
    if is_gsm7(text):
        units = sum(2 if ch in GSM_EXTENDED else 1 for ch in text)
        single, multi = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)  # UTF-16 code units
        single, multi = 70, 67
    return 1 if units <= single else -(-units // multi)


def fit(text: str, max_segments: int = MAX_SEGMENTS, tail: str = "") -> str:
    """``text`` cut at a word (or character) so that ``text + tail`` fits ``max_segments``;
    an ellipsis marks the cut."""
    if segments(text + tail) <= max_segments:
        return text + tail
    gsm = is_gsm7(text + tail)
    dots = "..." if gsm else "…"  # "…" is not GSM-7: it would make the whole text UCS-2
    low, high = 0, len(text)
    while low < high:  # the longest prefix that still fits with the dots and the tail
        mid = (low + high + 1) // 2
        if segments(text[:mid].rstrip() + dots + tail) <= max_segments:
            low = mid
        else:
            high = mid - 1
    cut = text[:low]
    if gsm and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip() + dots + tail
