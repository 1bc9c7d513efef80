"""Finding 1: anyone could forge an admin session (and feedback links) with the public
development secret, and compose published the API on every interface."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import stat
from pathlib import Path

import httpx
import pytest
import yaml
from itsdangerous import TimestampSigner
from pydantic import SecretStr, ValidationError
from sqlalchemy import select

from api.settings import KNOWN_SECRETS
from kizuki.config import Settings
from kizuki.demo import refuse_public_host
from kizuki.keys import SecretFileError, load_or_create, with_secret
from kizuki.runner import StartupError
from tests.api.world import World
from tests.security.conftest import served
from tickets.feedback import make_token
from tickets.models import Notification, User

ROOT = Path(__file__).resolve().parents[2]
OLD_DEV_SECRET = "kizuki-dev-secret-change-me"


def forged_cookie(secret: str, data: dict[str, object]) -> str:
    """A session cookie as Starlette's SessionMiddleware signs one."""
    payload = base64.b64encode(json.dumps(data).encode())
    return TimestampSigner(secret).sign(payload).decode()


def test_the_first_start_makes_a_private_random_secret_and_keeps_it(tmp_path: Path) -> None:
    first = with_secret(Settings(data_dir=tmp_path / "a")).api.secret_key.get_secret_value()
    again = with_secret(Settings(data_dir=tmp_path / "a")).api.secret_key.get_secret_value()
    other = with_secret(Settings(data_dir=tmp_path / "b")).api.secret_key.get_secret_value()
    assert first == again != other and len(first) >= 32 and first not in KNOWN_SECRETS
    mode = stat.S_IMODE((tmp_path / "a" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_a_secret_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(SecretFileError, match="chmod 600"):
        load_or_create(path)


def test_a_configured_secret_wins_over_the_file(tmp_path: Path) -> None:
    mine = "x" * 40
    settings = with_secret(Settings(data_dir=tmp_path, api={"secret_key": mine}))
    assert settings.api.secret_key.get_secret_value() == mine
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("secret", [OLD_DEV_SECRET, "change-me", "short-but-random-31-chars-xxxxx"])
def test_production_refuses_a_known_or_short_secret(secret: str) -> None:
    with pytest.raises(ValidationError, match="KIZUKI_API__SECRET_KEY"):
        Settings(environment="production", notify={"mode": "apprise"}, api={"secret_key": secret})


def test_a_session_forged_with_the_old_development_secret_gets_nothing(world: World) -> None:
    with world.session_factory() as session:
        admin = session.scalars(select(User).where(User.username == "admin")).one()
    with served(world) as url:
        for claims in ({"uid": admin.id, "csrf": "f"}, {"uid": admin.id, "sv": 0, "csrf": "f"}):
            cookie = forged_cookie(OLD_DEV_SECRET, claims)
            with httpx.Client(base_url=url, cookies={"kizuki_session": cookie}) as attacker:
                page = attacker.get("/cases")
                assert page.status_code == 303 and page.headers["location"].startswith("/login")
                made = attacker.post(
                    "/api/v1/api-keys",
                    json={"name": "pwn", "role": "admin"},
                    headers={"X-CSRF-Token": "f"},
                )
                assert made.status_code == 401


def test_a_feedback_link_forged_with_the_old_development_secret_is_refused(
    world: World,
) -> None:
    with world.session_factory() as session:
        notice = session.scalars(select(Notification)).first()
        assert notice is not None
    old = dataclasses.replace(world.settings.tickets, secret_key=SecretStr(OLD_DEV_SECRET))
    forged = make_token(old, notice.id, notice.case_id)
    with served(world) as url, httpx.Client(base_url=url) as attacker:
        assert attacker.get(f"/feedback/{forged}").status_code == 400


def test_compose_publishes_on_loopback_and_reads_secrets_from_an_untracked_env_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    published = [p for svc in compose["services"].values() for p in svc.get("ports", [])]
    assert published and all(str(p).startswith("127.0.0.1:") for p in published), published
    kizuki = compose["services"]["kizuki"]
    assert ".env" in [e if isinstance(e, str) else e["path"] for e in kizuki["env_file"]]
    text = (ROOT / "docker-compose.yml").read_text()
    defaults = re.findall(r"\$\{(\w*(?:PASSWORD|TOKEN|SECRET)\w*):-", text)
    assert not defaults, f"secrets with a default in compose: {defaults}"
    values = [
        str(v)
        for svc in compose["services"].values()
        for v in (svc.get("environment") or {}).values()
    ]
    assert not [v for v in values if v in KNOWN_SECRETS]
    assert "KIZUKI_API__SECRET_KEY" not in kizuki.get("environment", {})  # no default
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "example.com"])
def test_the_demo_with_its_known_logins_stays_on_loopback(host: str) -> None:
    with pytest.raises(StartupError, match="loopback only"):
        refuse_public_host(host)
    refuse_public_host("127.0.0.1"), refuse_public_host("::1"), refuse_public_host("localhost")
