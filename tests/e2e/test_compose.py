"""The production files: docker-compose.yml, the Dockerfile and requirements.lock (Docker
itself is not run here; tests/ingest/test_deploy.py validates with `docker-compose config`)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from kizuki.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def _is_setting(parts: list[str], model: type[BaseModel] = Settings) -> bool:
    field = model.model_fields.get(parts[0])
    if field is None:
        return False
    if len(parts) == 1:
        return True
    inner = field.annotation
    return (
        isinstance(inner, type) and issubclass(inner, BaseModel) and _is_setting(parts[1:], inner)
    )


def test_every_kizuki_variable_in_compose_is_a_setting() -> None:
    env = compose()["services"]["kizuki"]["environment"]
    names = [n for n in env if n.startswith("KIZUKI_")]
    assert len(names) > 10
    unknown = [n for n in names if not _is_setting(n.removeprefix("KIZUKI_").lower().split("__"))]
    assert unknown == []


def test_broker_tls_relay_and_healthchecks() -> None:
    services = compose()["services"]
    kizuki, mosquitto = services["kizuki"], services["mosquitto"]
    env = kizuki["environment"]
    assert env["KIZUKI_MQTT__URL"].startswith("mqtts://") and ":8883" in env["KIZUKI_MQTT__URL"]
    mounted = {v.split(":")[1] for v in kizuki["volumes"]}
    for name in ("TLS_CA_FILE", "TLS_CERT_FILE", "TLS_KEY_FILE"):
        assert str(Path(env[f"KIZUKI_MQTT__{name}"]).parent) in mounted
    assert env["KIZUKI_NOTIFY__SMTP__HOST"] and env["KIZUKI_NOTIFY__PUBLIC_BASE_URL"]
    assert kizuki["healthcheck"]["test"] == ["CMD", "kizuki", "ready"]
    assert "1883" in mosquitto["healthcheck"]["test"][1]
    assert kizuki["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    conf_d = [v for v in mosquitto["volumes"] if v.endswith("/mosquitto/config/conf.d:ro")]
    assert conf_d and (ROOT / "deploy/mosquitto/conf.d/tls.conf").is_file()


def test_the_image_installs_the_lock_then_every_package() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert docker.index("requirements.lock") < docker.index("COPY core/")
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    for include in packages["packages"]["find"]["include"]:
        name = include.rstrip("*")
        assert re.search(rf"^COPY {name}/ {name}/$", docker, re.M), f"{name}/ not in the image"
    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "lock.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout
