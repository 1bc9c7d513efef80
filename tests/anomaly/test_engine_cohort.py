"""The engine gives the detector bank each device's peers: its customer's time zone."""

from __future__ import annotations

from pathlib import Path

from tickets.db import make_session_factory, migrate
from tickets.directory import DbDeviceDirectory
from tickets.registry import import_manifest


def test_a_device_s_cohort_is_its_customer_s_time_zone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cases.db'}"
    migrate(url)
    factory = make_session_factory(url)
    import_manifest(
        factory,
        {
            "customers": [
                {"id": "c-1", "name": "A", "locale": "ja", "timezone": "Asia/Tokyo"},
                {"id": "c-2", "name": "B", "locale": "en", "timezone": "Europe/London"},
            ],
            "devices": [
                {"id": "ac-1", "model": "aircon-x1", "customer_id": "c-1"},
                {"id": "ac-2", "model": "aircon-x1", "customer_id": "c-2"},
                {"id": "ac-3", "model": "aircon-x1", "customer_id": "c-1"},
            ],
        },
    )
    zone = DbDeviceDirectory(factory).zone_of  # what the engine gives the bank
    assert [zone(d) for d in ("ac-1", "ac-2", "ac-3")] == [
        "Asia/Tokyo",
        "Europe/London",
        "Asia/Tokyo",
    ]
    assert zone("unknown-device") is None
