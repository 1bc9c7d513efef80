"""Payload decoding without a broker: formats, timestamps and reason codes."""

from __future__ import annotations

import orjson
import pytest

from core.profiles import load_profiles
from core.readings import Reading
from ingest.base import PayloadError
from ingest.parsers import JsonParser, Limits
from ingest.timestamps import parse_ts
from ingest.topics import TopicParser

NOW = 1_750_000_000.0
AIRCON = load_profiles()["aircon-x1"].metrics


def decode(doc: object, profile: object = None, device: str = "ac-1") -> tuple[list, list]:
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    out = JsonParser(Limits(max_payload_bytes=2048))(device, payload, NOW, profile)  # type: ignore[arg-type]
    return out.readings, [p.reason for p in out.problems]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.25, 1_700_000_000.25),
        (1_700_000_000_250, 1_700_000_000.25),  # epoch milliseconds
        ("2023-11-14T22:13:20Z", 1_700_000_000.0),
        ("2023-11-14T22:13:20.5", 1_700_000_000.5),  # no offset: UTC
        ("2023-11-15T07:13:20+09:00", 1_700_000_000.0),
    ],
)
def test_timestamp_forms(value: object, expected: float) -> None:
    assert parse_ts(value) == expected


@pytest.mark.parametrize(
    ("doc", "reasons"),
    [
        (b"{not json", ["not_json"]),
        (b'{"ts": 1750000000, "metrics": {"t": NaN}}', ["non_finite"]),
        ([1, 2], ["bad_schema", "bad_schema"]),
        ({"ts": NOW, "metrics": []}, ["bad_schema"]),
        ({"metrics": {"t": 1}}, ["missing_ts"]),
        ({"ts": True, "metrics": {"t": 1}}, ["wrong_type"]),
        ({"ts": "yesterday", "metrics": {"t": 1}}, ["wrong_type"]),
        ({"ts": NOW + 3600, "metrics": {"t": 1}}, ["ts_future"]),
        ({"ts": NOW - 500 * 86400, "metrics": {"t": 1}}, ["ts_past"]),
        ({"ts": NOW, "device": "ac-2", "metrics": {"t": 1}}, ["topic_mismatch"]),
        ({"ts": NOW, "metrics": {"t": "x" * 3000}}, ["too_large"]),
        (b"[]", ["empty_payload"]),
        (b"", ["empty_payload"]),
        (b"  \n", ["empty_payload"]),
        (b'{"ts": 1%s, "metrics": {"t": 1}}' % (b"0" * 400), ["non_finite"]),
        (b'{"ts": 1750000000, "metrics": {"t": -1%s}}' % (b"0" * 400), ["non_finite"]),
        (b'{"ts": 1750000000, "metrics": {"t": 1e400}}', ["non_finite"]),
        (b'[{"bn": "ac-1/", "bt": 1%s, "n": "t", "v": 1}]' % (b"0" * 400), ["non_finite"]),
        (b'[{"bn": "ac-1/", "bt": 1750000000, "n": "t", "v": 1%s}]' % (b"0" * 400), ["non_finite"]),
        ({"ts": "9999-12-31T23:59:59-23:59", "metrics": {"t": 1}}, ["ts_future"]),
        ({"ts": NOW, "metrics": {"time": 1}}, ["reserved_name"]),
        ({"ts": NOW, "metrics": {"_field": 1, "device": 2}}, ["reserved_name"] * 2),
    ],
)
def test_refused_payloads_say_why(doc: object, reasons: list[str]) -> None:
    readings, problems = decode(doc)
    assert readings == []
    assert problems == reasons


def test_bad_metric_drops_only_itself() -> None:
    readings, problems = decode({"ts": NOW, "metrics": {"a": "hot", "b": 2, "c": None, "d": 1}})
    assert readings == [Reading("ac-1", NOW, {"b": 2.0, "d": 1.0})]
    assert problems == ["wrong_type", "wrong_type"]


def test_profile_refuses_unknown_and_impossible_metrics() -> None:
    doc = {"ts": NOW, "metrics": {"fan_rpm": 1200, "bogus": 1, "filter_dp_pa": -5}}
    readings, problems = decode(doc, AIRCON)
    assert readings == [Reading("ac-1", NOW, {"fan_rpm": 1200.0})]
    assert problems == ["unknown_metric", "out_of_range"]


def test_list_keeps_good_entries() -> None:
    doc = [
        {"ts": NOW, "metrics": {"t": 1}},
        {"metrics": {"t": 2}},
        {"ts": NOW + 1, "metrics": {"t": 3}},
    ]
    readings, problems = decode(doc)
    assert [r.metrics["t"] for r in readings] == [1.0, 3.0]
    assert problems == ["missing_ts"]


def test_senml_records_group_by_time() -> None:
    doc = [
        {"bn": "urn:dev:ac-1:", "bt": NOW, "n": "fan_rpm", "v": 1200, "u": "rpm"},
        {"n": "filter_dp_pa", "v": 55.5},
        {"n": "fan_rpm", "t": 60, "v": 1190},
        {"n": "compressor_on", "t": 60, "vb": True},
    ]
    readings, problems = decode(doc)
    assert problems == []
    assert readings == [
        Reading("ac-1", NOW, {"fan_rpm": 1200.0, "filter_dp_pa": 55.5}),
        Reading("ac-1", NOW + 60, {"fan_rpm": 1190.0, "compressor_on": 1.0}),
    ]


def test_senml_refusals() -> None:
    doc = [
        {"bn": "ac-9/", "bt": NOW, "n": "t", "v": 1},
        {"bn": "ac-1/", "n": "s", "vs": "on"},
        {"n": "t", "t": -NOW + 5, "v": 1},
        {"n": "t", "v": 20.5},
    ]
    readings, problems = decode(doc)
    assert readings == [Reading("ac-1", NOW, {"t": 20.5})]
    assert problems == ["topic_mismatch", "wrong_type", "missing_ts"]


def test_topics() -> None:
    device_from_topic = TopicParser()
    assert device_from_topic("devices/ac-00001/telemetry") == "ac-00001"
    assert TopicParser("site/7/devices/+/telemetry")("site/7/devices/p-1/telemetry") == "p-1"
    for bad in ("devices/a/b/telemetry", "devices/bad id!/telemetry", "devices/a/status"):
        with pytest.raises(PayloadError) as err:
            device_from_topic(bad)
        assert err.value.reason == "bad_topic"
