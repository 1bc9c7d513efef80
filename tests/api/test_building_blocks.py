"""The small parts: password and key hashing, language choice, the SVG chart."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from typing import Any

import pytest

from api.chart import ChartSpec, render_chart
from api.i18n import MESSAGES, from_accept_language, translator
from api.passwords import hash_password, key_prefix, new_api_key, verify_password

SVG = "{http://www.w3.org/2000/svg}"


def test_passwords_verify_only_themselves() -> None:
    stored = hash_password("s3cret")
    assert verify_password("s3cret", stored)
    assert not verify_password("s3cret ", stored)
    assert hash_password("s3cret") != stored  # salted
    assert not verify_password("s3cret", "garbage")


def test_api_keys_carry_a_public_prefix() -> None:
    key, prefix = new_api_key()
    assert key_prefix(key) == prefix and len(key) > 40
    assert key_prefix("not-ours") is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("ja-JP,ja;q=0.9,en;q=0.8", "ja"),
        ("en-US,ja;q=0.5", "en"),
        ("fr, de", None),
        ("fr;q=1, ja;q=0.2", "ja"),
        ("", None),
        ("ja;q=0", None),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert from_accept_language(header) == expected


def test_every_message_has_both_languages() -> None:
    assert all(en and ja for en, ja in MESSAGES.values())
    assert translator("ja")("sla_due_in", t="2h") == "残り 2h"
    assert translator("en")("unheard-of") == "unheard-of"


def _chart(**overrides: Any) -> ET.Element:
    points = [(1000.0 + i * 3600, 50.0 + i) for i in range(48)]
    spec = ChartSpec(
        points=points,
        unit="Pa",
        normal=(40.0, 70.0),
        limit=150.0,
        onset_ts=1000.0 + 24 * 3600,
        eta_ts=1000.0 + 60 * 3600,
        title="filter <dp>",
    )
    return ET.fromstring(str(render_chart(replace(spec, **overrides))))


def _classes(root: ET.Element) -> set[str]:
    return {el.get("class", "") for el in root.iter()}


def test_chart_marks_band_limit_onset_and_predicted_crossing() -> None:
    root = _chart()
    assert {"series", "normal-band", "limit", "onset", "eta", "trend"} <= _classes(root)
    assert root.find(f"{SVG}title").text == "filter <dp>"  # escaped, still well-formed
    polyline = next(el for el in root.iter(f"{SVG}polyline"))
    assert len(polyline.get("points", "").split()) == 48


def test_chart_says_so_when_the_crossing_is_off_the_chart() -> None:
    far = _chart(eta_ts=1000.0 + 400 * 86400)
    eta = [el for el in far.iter() if el.get("class") == "eta"]
    assert eta and eta[0].tag == f"{SVG}text" and "→" in (eta[0].text or "")


def test_chart_without_points_is_still_valid_svg() -> None:
    root = _chart(points=[], eta_ts=None, onset_ts=None)
    assert root.get("data-points") == "0"
