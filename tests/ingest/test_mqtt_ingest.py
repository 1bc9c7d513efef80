"""MqttIngest over the real Mosquitto: bad input, SenML, sinks, broker errors."""

from __future__ import annotations

import base64
import time

import orjson
import pytest

from core.metrics import DEAD_LETTERS
from core.readings import Reading
from ingest.base import IngestError
from ingest.mqtt import MqttIngest
from ingest.parsers import JsonParser
from tests.ingest.helpers import Harness, publish, settings_for, wait_until


def test_each_bad_input_is_dead_lettered_and_neighbours_stored(harness: Harness) -> None:
    now = time.time()
    ac, free = f"ac{harness.unique}", f"x{harness.unique}"
    ok = {"ts": now, "metrics": {"fan_rpm": 1200.0}}
    cases: list[tuple[str, str, object]] = [
        ("not_json", ac, b"{oops"),
        ("bad_schema", ac, {"ts": now, "metrics": 5}),
        ("wrong_type", ac, {"ts": now + 1, "metrics": {"fan_rpm": "fast", "filter_dp_pa": 50}}),
        ("non_finite", ac, b'{"ts": %f, "metrics": {"fan_rpm": Infinity}}' % now),
        (
            "missing_ts",
            ac,
            [{"metrics": {"fan_rpm": 1}}, {"ts": now + 2, "metrics": {"fan_rpm": 1210}}],
        ),
        ("ts_future", ac, {"ts": now + 86400, "metrics": {"fan_rpm": 1}}),
        ("ts_past", ac, {"ts": now - 900 * 86400, "metrics": {"fan_rpm": 1}}),
        ("too_large", ac, {"ts": now, "metrics": {f"m{i}": i for i in range(400)}}),
        ("unknown_metric", ac, {"ts": now + 3, "metrics": {"fan_rpm": 1220, "warp_drive": 9}}),
        ("out_of_range", ac, {"ts": now + 4, "metrics": {"fan_rpm": 1230, "filter_dp_pa": -3}}),
        ("reserved_name", ac, {"ts": now + 5, "metrics": {"fan_rpm": 1240, "time": 5}}),
        ("empty_payload", ac, []),
        ("topic_mismatch", ac, {"ts": now, "device": "someone-else", "metrics": {"fan_rpm": 1}}),
        ("bad_topic", "bad!id", ok),
    ]
    before = {r: DEAD_LETTERS.labels(r)._value.get() for r, _, _ in cases}
    messages = [(harness.topic(ac), orjson.dumps(ok))]
    messages += [
        (harness.topic(d), p if isinstance(p, bytes) else orjson.dumps(p)) for _, d, p in cases
    ]
    messages.append((harness.topic(free), orjson.dumps({"ts": now, "metrics": {"anything": 1}})))
    ingest = harness.start({ac: "aircon-x1"})
    publish(harness.url, messages)
    assert wait_until(lambda: ingest.stats()["acked"] >= len(messages))
    ingest.stop()

    counts = harness.letters.counts()
    assert counts == {reason: 1 for reason, _, _ in cases}
    for reason, _, _ in cases:
        assert DEAD_LETTERS.labels(reason)._value.get() == before[reason] + 1
    kept = harness.letters.list(reason="bad_topic")[0]
    assert kept.payload == orjson.dumps(ok) and kept.topic.endswith("/bad!id/telemetry")
    rpm = [v for _, v in harness.store.query(ac, "fan_rpm", now - 1, now + 10)]
    assert rpm == [1200.0, 1210.0, 1220.0, 1230.0, 1240.0]
    assert harness.store.query(ac, "filter_dp_pa", now - 1, now + 10) == [(round(now + 1, 3), 50.0)]
    assert harness.store.latest(free) == Reading(free, round(now, 3), {"anything": 1.0})


def test_senml_and_timestamp_forms_are_stored(harness: Harness) -> None:
    dev, t0 = f"s{harness.unique}", float(int(time.time()))
    senml = [
        {"bn": f"urn:dev:{dev}:", "bt": t0, "n": "temp", "v": 20.5},
        {"n": "temp", "t": 1, "v": 21},
    ]
    messages = [
        (harness.topic(dev), orjson.dumps(senml)),
        (harness.topic(dev), orjson.dumps({"ts": (t0 + 2) * 1000, "metrics": {"temp": 22}})),
        (
            harness.topic(dev),
            orjson.dumps(
                {
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0 + 3)),
                    "metrics": {"temp": 23},
                }
            ),
        ),
    ]
    ingest = harness.start()
    publish(harness.url, messages)
    assert wait_until(lambda: ingest.stats()["acked"] >= 3)
    ingest.stop()
    assert harness.store.query(dev, "temp", t0, t0 + 10) == [
        (t0, 20.5),
        (t0 + 1, 21.0),
        (t0 + 2, 22.0),
        (t0 + 3, 23.0),
    ]
    assert harness.letters.counts() == {}


def test_failing_sink_does_not_stop_ingest(harness: Harness) -> None:
    dev, now = f"k{harness.unique}", time.time()
    ingest = harness.start(fail_sink=True)
    publish(
        harness.url,
        [
            (harness.topic(dev), orjson.dumps({"ts": now + i, "metrics": {"t": i}}))
            for i in range(50)
        ],
    )
    assert wait_until(lambda: ingest.stats()["acked"] >= 50)
    ingest.stop()
    assert len(harness.store.query(dev, "t", now - 1, now + 100)) == 50
    assert ingest.stats()["sink_errors"] >= 1
    assert sum(len(b) for b in harness.batches) == 50


def test_unreachable_broker_is_one_clear_line(harness: Harness, port: int) -> None:
    harness.url = f"mqtt://127.0.0.1:{port}"
    with pytest.raises(IngestError) as err:
        harness.start()
    assert str(err.value) == (
        f"cannot reach MQTT broker at 127.0.0.1:{port}: connection refused; set KIZUKI_MQTT__URL"
    )


def test_clean_stop_acks_everything_it_committed(harness: Harness) -> None:
    dev, now = f"c{harness.unique}", time.time()
    ingest = harness.start()
    messages = [
        (harness.topic(dev), orjson.dumps({"ts": now + i, "metrics": {"t": i}})) for i in range(300)
    ]
    publish(harness.url, messages)
    assert wait_until(lambda: ingest.stats()["acked"] >= 300)
    ingest.stop()
    again = harness.start()  # same client id and session: nothing may come back
    time.sleep(1.0)
    again.stop()
    assert again.stats()["received"] == 0


def test_poison_numbers_dead_lettered_neighbours_stored_all_acked(harness: Harness) -> None:
    """A JSON integer beyond float range once made float() raise and the batch stick."""
    dev, now, huge = f"p{harness.unique}", time.time(), b"1" + b"0" * 400
    poison = [
        b'{"ts": %f, "metrics": {"t": %s}}' % (now, huge),
        b'{"ts": %s, "metrics": {"t": 1}}' % huge,
        b'[{"bn": "%s/", "bt": %s, "n": "t", "v": 1}]' % (dev.encode(), huge),
    ]
    good = [orjson.dumps({"ts": now + i, "metrics": {"t": i}}) for i in range(30)]
    payloads = good[:10] + poison[:1] + good[10:20] + poison[1:] + good[20:]
    ingest = harness.start()
    publish(harness.url, [(harness.topic(dev), p) for p in payloads])
    assert wait_until(lambda: ingest.stats()["acked"] >= len(payloads))
    ingest.stop()
    assert [v for _, v in harness.store.query(dev, "t", now - 1, now + 60)] == list(range(30))
    assert harness.letters.counts() == {"non_finite": 3}
    assert sorted(d.payload for d in harness.letters.list()) == sorted(poison)
    assert ingest.stats()["acked"] == len(payloads)


class ExplodingParser(JsonParser):
    """The real parser, except that it trips over one payload (a parser bug)."""

    def __call__(self, device_id, payload, now, metrics=None):  # type: ignore[no-untyped-def]
        if b"boom" in payload:
            raise ZeroDivisionError("division by zero")
        return super().__call__(device_id, payload, now, metrics)


def test_parser_failure_dead_letters_only_that_message(harness: Harness) -> None:
    dev, now = f"e{harness.unique}", time.time()
    payloads = [orjson.dumps({"ts": now + i, "metrics": {"t": i}}) for i in range(20)]
    payloads.insert(7, b'{"boom": 1}')
    ingest = MqttIngest(
        settings_for(harness.url, harness.unique),
        harness.store,
        harness.letters,
        parser=ExplodingParser(),
    )
    ingest.start()
    publish(harness.url, [(harness.topic(dev), p) for p in payloads])
    assert wait_until(lambda: ingest.stats()["acked"] >= len(payloads))
    ingest.stop()
    assert len(harness.store.query(dev, "t", now - 1, now + 60)) == 20
    [letter] = harness.letters.list()
    assert (letter.reason, letter.payload) == ("parser_error", b'{"boom": 1}')
    assert letter.detail == "ZeroDivisionError: division by zero"


def test_skew_limits_come_from_the_settings(harness: Harness) -> None:
    dev, now = f"w{harness.unique}", time.time()
    offsets = [-120, -50, 0, 8, 30]  # allowed: 60 s behind, 10 s ahead
    messages = [
        (harness.topic(dev), orjson.dumps({"ts": now + dt, "metrics": {"t": dt}})) for dt in offsets
    ]
    settings = settings_for(
        harness.url, harness.unique, max_future_skew_s=10.0, max_past_skew_s=60.0
    )
    ingest = MqttIngest(settings, harness.store, harness.letters)
    ingest.start()
    publish(harness.url, messages)
    assert wait_until(lambda: ingest.stats()["acked"] >= len(messages))
    ingest.stop()
    stored = [v for _, v in harness.store.query(dev, "t", now - 1000, now + 1000)]
    assert stored == [-50.0, 0.0, 8.0]
    assert harness.letters.counts() == {"ts_past": 1, "ts_future": 1}


def test_binary_payload_is_kept_byte_for_byte(harness: Harness) -> None:
    raw = bytes(range(256))  # not UTF-8, not JSON
    ingest = harness.start()
    publish(harness.url, [(harness.topic(f"b{harness.unique}"), raw)])
    assert wait_until(lambda: ingest.stats()["acked"] >= 1)
    ingest.stop()
    [letter] = harness.letters.list()
    assert letter.reason == "not_json" and letter.payload == raw
    assert base64.b64decode(letter.payload_base64) == raw
    assert letter.payload_preview == raw.decode("utf-8", errors="replace")
