"""Where settings come from: environment, the KIZUKI_MQTT_URL shorthand, a TOML file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kizuki.config import ConfigFileError, Settings
from tests.e2e.test_cli import KIZUKI, env_for


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("KIZUKI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_are_embedded() -> None:
    settings = Settings()
    assert settings.mqtt.url is None and settings.store.backend == "sqlite"
    assert settings.cases_url == "sqlite:///.kizuki/cases.db"


def test_toml_file_in_the_working_directory(tmp_path: Path) -> None:
    (tmp_path / "kizuki.toml").write_text(
        '[mqtt]\nurl = "mqtt://broker.example:1883"\n[api]\nport = 8123\n', encoding="utf-8"
    )
    settings = Settings()
    assert settings.mqtt.url == "mqtt://broker.example:1883" and settings.api.port == 8123


def test_environment_beats_the_file_and_the_shorthand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[mqtt]\nurl = "mqtt://from-file:1883"\n', encoding="utf-8")
    monkeypatch.setenv("KIZUKI_CONFIG", str(other))
    assert Settings().mqtt.url == "mqtt://from-file:1883"
    monkeypatch.setenv("KIZUKI_MQTT_URL", "mqtt://shorthand:1883")
    assert Settings().mqtt.url == "mqtt://shorthand:1883"
    monkeypatch.setenv("KIZUKI_MQTT__URL", "mqtt://nested:1883")
    assert Settings().mqtt.url == "mqtt://nested:1883"


def test_missing_named_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIZUKI_CONFIG", "/nonexistent/kizuki.toml")
    with pytest.raises(ConfigFileError, match="KIZUKI_CONFIG"):
        Settings()


@pytest.mark.parametrize(
    ("text", "expected"),
    [("port = [", "cannot read settings file"), ('[api]\nport = "x"\n', "KIZUKI_API__PORT")],
)
def test_bad_file_stops_the_cli_with_one_line(tmp_path: Path, text: str, expected: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text, encoding="utf-8")
    result = subprocess.run(
        [*KIZUKI, "run"],
        env=env_for(tmp_path, KIZUKI_CONFIG=str(config)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("kizuki: ") and expected in result.stderr
    assert "Traceback" not in result.stderr
