"""Fleet manifest import, demo agents, the DB-backed device directory, migrations."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

import tickets
from tests.tickets.conftest import MANIFEST, FakeClock, make_event
from tickets.db import alembic_config, make_engine, migrate
from tickets.directory import DbDeviceDirectory
from tickets.models import Agent, Base, Case, ContactPoint, Customer, Device
from tickets.registry import (
    ManifestError,
    channel_of,
    import_manifest,
    language_of,
    seed_demo_agents,
)
from tickets.service import CaseService

ALEMBIC_INI = Path(tickets.__file__).with_name("alembic.ini")


def test_manifest_import_is_idempotent_and_keeps_contact_order(session_factory):
    first = import_manifest(session_factory, MANIFEST)
    assert (first.customers, first.contacts, first.devices) == (2, 2, 4)
    changed = {
        **MANIFEST,
        "customers": [
            {
                **MANIFEST["customers"][0],
                "contacts": [{"url": "json://127.0.0.1:9/hook"}, {"url": "mailto://a@b.example"}],
            }
        ],
    }
    import_manifest(session_factory, changed)
    with session_factory() as session:
        assert session.scalar(select(Customer).where(Customer.id == "c-ja")).quiet_start_hour == 22
        contacts = session.scalars(
            select(ContactPoint)
            .where(ContactPoint.customer_id == "c-ja")
            .order_by(ContactPoint.preference)
        ).all()
        assert [(c.preference, c.channel) for c in contacts] == [(0, "webhook"), (1, "email")]
        device = session.get_one(Device, "pu-1")
        assert (device.model, device.product_line, device.customer_id) == (
            "pump-p3",
            "pumps",
            "c-en",
        )
        assert len(session.scalars(select(Device)).all()) == 4


def test_manifest_errors_are_clear(session_factory):
    with pytest.raises(ManifestError, match="unknown customer 'nobody'"):
        import_manifest(
            session_factory,
            {"devices": [{"id": "x", "model": "aircon-x1", "customer_id": "nobody"}]},
        )
    with pytest.raises(ManifestError, match="lacks 'model'"):
        import_manifest(session_factory, {"devices": [{"id": "x"}]})


def test_channel_names_from_apprise_urls():
    assert [
        channel_of(u)
        for u in (
            "mailto://x",
            "json://h/p",
            "slack://a/b",
            "line://t",
            "twilio://a",
            "log://",
            "weird://z",
        )
    ] == [
        "email",
        "webhook",
        "slack",
        "line",
        "sms",
        "log",
        "other",
    ]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "weird://z", "http://example.com/x", "x"])
def test_contact_urls_of_unregistered_schemes_are_refused(session_factory, url):
    with pytest.raises(ManifestError, match="is not one of"):
        import_manifest(session_factory, {"customers": [{"id": "c", "contacts": [{"url": url}]}]})


def test_demo_agents_seed_once(session_factory):
    assert seed_demo_agents(session_factory) == 5
    assert seed_demo_agents(session_factory) == 0
    with session_factory() as session:
        langs = {lang for a in session.scalars(select(Agent)) for lang in a.languages}
    assert langs == {"ja", "en"}


def test_directory_answers_from_the_db_and_caches(session_factory):
    ticks = [0.0]
    directory = DbDeviceDirectory(session_factory, negative_ttl_s=30, monotonic=lambda: ticks[0])
    assert directory("ac-1") is None
    import_manifest(session_factory, MANIFEST)
    assert directory("ac-1") is None  # a miss is cached ...
    ticks[0] = 31.0
    assert directory("ac-1") == "aircon-x1"  # ... for negative_ttl_s only
    with session_factory.begin() as session:
        session.get_one(Device, "ac-1").model = "changed"
    assert directory.model_of("ac-1") == "aircon-x1"  # hits are cached
    assert directory.refresh() == 4 and directory("ac-1") == "changed"


def test_migrations_match_the_models_and_rerun_cleanly(db_url):
    migrate(db_url)  # second run: already at head
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            indexes = {ix["name"] for ix in inspect(conn).get_indexes("cases")}
        assert diff == []
        assert "uq_cases_one_open" in indexes
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(db_url):
    command.downgrade(alembic_config(db_url), "base")
    engine = make_engine(db_url)
    try:
        assert "cases" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    migrate(db_url)


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def alembic_cli(tmp_path: Path, db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m alembic -c tickets/alembic.ini ...`` with the case DB given the way an
    operator would: ``KIZUKI_CASES__DB_URL``, from a directory without kizuki.toml."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIZUKI_")}
    env["KIZUKI_CASES__DB_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ALEMBIC_INI), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_plain_alembic_cli_takes_the_url_from_the_kizuki_settings(db_url, tmp_path):
    down = alembic_cli(tmp_path, db_url, "downgrade", "base")
    assert down.returncode == 0, down.stderr
    assert "cases" not in tables(db_url)
    up = alembic_cli(tmp_path, db_url, "upgrade", "head")
    assert up.returncode == 0, up.stderr
    assert "Running upgrade 0001 -> 0002" in up.stderr
    assert {"cases", "notifications", "delivery_attempts", "messages"} <= tables(db_url)
    current = alembic_cli(tmp_path, db_url, "current")
    head = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_current_head()
    assert f"{head} (head)" in current.stdout


def test_alembic_config_with_only_sqlalchemy_url(db_url):
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", db_url.replace("%", "%%"))  # ini interpolation
    command.downgrade(config, "0001")
    assert "cases" in tables(db_url)
    command.upgrade(config, "head")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "stored"),
    [("ja-JP", "ja"), ("en_US", "en"), ("JA", "ja"), (" en-GB ", "en"), (None, "en"), ("", "en")],
)
def test_customer_locale_is_stored_as_its_language(given, stored):
    assert language_of(given) == stored


def test_regional_locale_gets_japanese_notices_and_a_japanese_speaking_agent(
    session_factory, profiles, settings
):
    import_manifest(
        session_factory,
        {
            "customers": [
                {
                    "id": "c-jp",
                    "name": "佐藤 花子",
                    "locale": "ja-JP",
                    "contacts": [{"url": "log://"}],
                }
            ],
            "devices": [{"id": "ac-9", "model": "aircon-x1", "customer_id": "c-jp"}],
        },
    )
    seed_demo_agents(session_factory)
    service = CaseService(session_factory, profiles, settings, clock=FakeClock())
    case_id = service.handle(make_event("ac-9", "refrigerant_leak")).case_id
    with session_factory() as session:
        assert session.get_one(Customer, "c-jp").locale == "ja"
        case = session.get_one(Case, case_id)
        [notice] = case.notifications
        assert case.assignee is not None and "ja" in case.assignee.languages
        assert notice.locale == "ja" and "冷媒" in notice.subject
