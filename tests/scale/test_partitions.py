"""The partition scheme: the stable hash, who owns what, and the settings that say so."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter

import nats
import pytest

from core.partitions import block_of, describe, fnv1a_32, parse_partitions, partition_of
from ingest.base import PayloadError
from ingest.topics import PartitionSubjectParser
from kizuki.scale import WorkerSettings
from tests.scale.cluster import Cluster


def test_fnv1a_is_gos_hash_fnv_new32a() -> None:
    # reference values of the FNV-1a 32-bit test suite
    assert fnv1a_32(b"") == 0x811C9DC5
    assert fnv1a_32(b"a") == 0xE40C292C
    assert fnv1a_32(b"foobar") == 0xBF9CF968


def test_devices_spread_over_partitions_and_stay_put() -> None:
    ids = [f"dev-{i:05d}" for i in range(8000)]
    counts = Counter(partition_of(d, 8) for d in ids)
    assert sorted(counts) == list(range(8))
    assert max(counts.values()) < 1.15 * min(counts.values())
    assert [partition_of(d, 8) for d in ids] == [partition_of(d, 8) for d in ids]


def test_nats_servers_put_each_device_in_the_partition_python_computes(cluster: Cluster) -> None:
    devices = [f"unit-{i}" for i in range(300)]

    async def route() -> dict[str, int]:
        nc = await nats.connect(servers=cluster.urls)
        got: dict[str, int] = {}
        done = asyncio.Event()

        async def seen(msg: nats.aio.msg.Msg) -> None:
            _, p, _, device, _ = msg.subject.split(".")
            got[device] = int(p)
            if len(got) == len(devices):
                done.set()

        await nc.subscribe("part.>", cb=seen)
        await nc.flush()
        for device in devices:
            await nc.publish(f"devices.{device}.telemetry", b"{}")
        await asyncio.wait_for(done.wait(), 20)
        await nc.close()
        return got

    got = asyncio.run(route())
    assert got == {d: partition_of(d, cluster.partitions) for d in devices}


def test_ownership_from_ranges_and_from_an_ordinal() -> None:
    assert parse_partitions("0-3,6", 8) == {0, 1, 2, 3, 6}
    assert describe(parse_partitions("0-3,6", 8)) == "0-3,6"
    blocks = [block_of(i, 3, 8) for i in range(3)]
    assert sorted(p for b in blocks for p in b) == list(range(8))  # each exactly once
    assert WorkerSettings(of=8, count=2, name="kizuki-1").ownership().owned == {4, 5, 6, 7}
    assert WorkerSettings(of=8, count=2, ordinal=0).ownership().owned == {0, 1, 2, 3}
    assert WorkerSettings().ownership() is None


@pytest.mark.parametrize(
    ("spec", "why"),
    [("0-8", "outside 0-7"), ("3-1", "backwards"), ("a", "not N or N-M"), ("1,,2", "empty")],
)
def test_a_bad_partition_spec_is_one_clear_error(spec: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_partitions(spec, 8)


def _kizuki(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KIZUKI_")}
    return subprocess.run(
        [sys.executable, "-c", "from kizuki.cli import main; main()", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_kizuki_run_refuses_unclear_ownership_in_one_line() -> None:
    no_of = _kizuki("run", "--no-api", "--partitions", "0-3")
    assert no_of.returncode == 2 and "set `of`" in no_of.stderr
    outside = _kizuki("run", "--no-api", "--partitions", "0-9", "--of", "8")
    assert outside.returncode == 2 and "outside 0-7" in outside.stderr
    mqtt = _kizuki(
        "run", "--no-api", "--partitions", "0-3", "--of", "8", KIZUKI_MQTT__URL="mqtt://127.0.0.1:1"
    )
    assert mqtt.returncode == 2 and "KIZUKI_INGEST__TRANSPORT=nats" in mqtt.stderr
    nats_alone = _kizuki("run", "--no-api", KIZUKI_INGEST__TRANSPORT="nats")
    assert nats_alone.returncode == 2 and "--partitions 0-3 --of 8" in nats_alone.stderr
    for done in (no_of, outside, mqtt, nats_alone):
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_subject_of_another_partition_or_count_is_refused() -> None:
    parse = PartitionSubjectParser("part", 8, {0, 1, 2, 3})
    device = next(d for d in (f"d{i}" for i in range(100)) if partition_of(d, 8) == 2)
    assert parse(f"part.2.devices.{device}.telemetry") == device
    with pytest.raises(PayloadError) as wrong:
        parse(f"part.3.devices.{device}.telemetry")
    assert wrong.value.reason == "bad_partition"
    other = next(d for d in (f"d{i}" for i in range(100)) if partition_of(d, 8) == 5)
    with pytest.raises(PayloadError) as mine:
        parse(f"part.5.devices.{other}.telemetry")
    assert mine.value.reason == "not_owned"
