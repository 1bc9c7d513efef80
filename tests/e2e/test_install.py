"""A fresh install as a service team meets it: first login, agents, logins, manifests,
and start-up mistakes answered with one line saying what to change."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from api.auth import authenticate
from core.profiles import load_profiles
from kizuki.broker import bind_problem
from kizuki.cli import main
from tests.conftest import POSTGRES_URL, free_port
from tests.tickets.conftest import make_event
from tickets.db import make_session_factory
from tickets.models import Case, User
from tickets.service import CaseService
from tickets.settings import TicketsConfig


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in [n for n in os.environ if n.startswith("KIZUKI_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KIZUKI_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def kizuki(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process; (exit status, stdout, stderr)."""
    sys.argv = ["kizuki", *args]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def factory(tmp: Path):  # noqa: ANN201
    return make_session_factory(f"sqlite:///{tmp / 'data' / 'cases.db'}")


def test_first_start_prints_a_one_time_admin_login(capsys, fresh: Path) -> None:  # noqa: ANN001
    code, out, _ = kizuki(capsys, "migrate")
    assert code == 0
    password = out.split("with password ")[1].split()[0]
    with factory(fresh)() as session:
        admin = authenticate(session, "admin", password)
        assert admin is not None and admin.role == "admin"
        assert password not in admin.password_hash
    again = kizuki(capsys, "migrate")[1]
    assert "password" not in again  # only on a database without logins
    other = Path("other")
    os.environ["KIZUKI_DATA_DIR"] = str(other)
    second = kizuki(capsys, "migrate")[1].split("with password ")[1].split()[0]
    assert second != password  # random, never a fixed one


def test_agents_and_logins_from_the_cli_get_cases_routed(capsys, fresh: Path) -> None:  # noqa: ANN001
    manifest = {
        "customers": [
            {
                "id": "c-1",
                "name": "Hanako",
                "locale": "ja",
                "contacts": [{"url": "mailto://c-1@example.com"}],
            }
        ],
        "devices": [{"id": "ac-1", "model": "aircon-x1", "customer_id": "c-1"}],
        "agents": [
            {
                "name": "Ken",
                "email": "ken@example.com",
                "skills": ["plumbing"],
                "languages": ["en"],
                "tier": 1,
            }
        ],
    }
    Path("fleet.json").write_text(json.dumps(manifest), encoding="utf-8")
    code, out, err = kizuki(capsys, "import-fleet", "fleet.json")
    assert code == 0, err
    assert out.strip() == "imported 1 customers, 1 contacts, 1 devices, 1 agents"
    code, out, err = kizuki(
        capsys,
        "agent",
        "add",
        "Yui Tanaka",
        "--email",
        "yui@example.com",
        "--skill",
        "aircon-maintenance",
        "--skill",
        "aircon-repair",
        "--language",
        "ja,en",
        "--product-line",
        "air-conditioning",
        "--tier",
        "2",
        "--capacity",
        "3",
        "--team",
        "tokyo",
    )
    assert code == 0, err
    listed = kizuki(capsys, "agent", "list")[1]
    assert "Yui Tanaka <yui@example.com>\tactive\ttier 2\tcapacity 3" in listed
    assert "teams tokyo" in listed and "languages en,ja" in listed

    service = CaseService(factory(fresh), load_profiles(), _tickets_config(fresh))
    case_id = service.handle(make_event("ac-1", "filter_clog")).case_id
    with factory(fresh)() as session:
        case = session.get_one(Case, case_id)
        assert case.assignee is not None and case.assignee.email == "yui@example.com"

    code, out, _ = kizuki(
        capsys, "user", "add", "yui", "--role", "agent", "--agent", "yui@example.com"
    )
    password = out.split("password (shown once): ")[1].strip()
    with factory(fresh)() as session:
        user = authenticate(session, "yui", password)
        assert user is not None and user.agent is not None and user.agent.name == "Yui Tanaka"
    assert kizuki(capsys, "user", "disable", "yui")[0] == 0
    with factory(fresh)() as session:
        assert authenticate(session, "yui", password) is None
        assert session.scalar(select(User.active).where(User.username == "yui")) is False
    assert "yui\tagent\tdisabled" in kizuki(capsys, "user", "list")[1]
    assert kizuki(capsys, "agent", "disable", "yui@example.com")[0] == 0
    assert "\tdisabled\t" in kizuki(capsys, "agent", "list")[1]


def test_maintenance_windows_from_the_cli(capsys, fresh: Path) -> None:  # noqa: ANN001
    Path("fleet.json").write_text(
        json.dumps({"devices": [{"id": "ac-9", "model": "aircon-x1"}]}), encoding="utf-8"
    )
    kizuki(capsys, "import-fleet", "fleet.json")
    code, out, err = kizuki(
        capsys,
        "maintenance",
        "add",
        "ac-9",
        "--start",
        "2099-01-01T09:00+09:00",
        "--end",
        "2099-01-01T12:00+09:00",
        "--mode",
        "quiet",
        "--reason",
        "filter change",
    )
    assert code == 0, err
    listed = kizuki(capsys, "maintenance", "list")[1]
    assert "ac-9\t2099-01-01T00:00:00+00:00 .. 2099-01-01T03:00:00+00:00\tquiet" in listed
    window = out.split("#")[1].split()[0]
    assert kizuki(capsys, "maintenance", "cancel", window)[0] == 0
    assert kizuki(capsys, "maintenance", "list")[1] == ""
    code, _, err = kizuki(
        capsys, "maintenance", "add", "ac-9", "--start", "tomorrow", "--end", "2099-01-01T12:00"
    )
    assert code == 2 and err.startswith("kizuki: 'tomorrow' is not an ISO date-time")


def _tickets_config(tmp: Path) -> TicketsConfig:
    from kizuki.config import Settings

    return TicketsConfig.of(Settings(data_dir=tmp / "data"))


BROKER = {"KIZUKI_MQTT__URL": "mqtt://127.0.0.1:1"}


def _mistakes(tmp: Path) -> list[tuple[list[str], dict[str, str], str]]:
    (tmp / "dir" / "cases.db").mkdir(parents=True)
    (tmp / "bad").mkdir()
    (tmp / "bad" / "cases.db").write_bytes(b"this is not a database" * 100)
    (tmp / "typo.toml").write_text("[store]\nbatch_sise = 10\n", encoding="utf-8")
    missing_db = POSTGRES_URL.rsplit("/", 1)[0] + "/kizuki_no_such_db"
    return [
        (["run"], {"KIZUKI_STORE__BATCH_SIZE": "0", **BROKER}, "KIZUKI_STORE__BATCH_SIZE"),
        (["run"], {"KIZUKI_INGEST__QUEUE_SIZE": "-5", **BROKER}, "KIZUKI_INGEST__QUEUE_SIZE"),
        (["run"], {"KIZUKI_CONFIG": str(tmp / "typo.toml")}, "'store.batch_sise'; did you mean"),
        (["run"], {"KIZUKI_LOG_LEVEL": "chatty", **BROKER}, "'chatty' is not a log level"),
        (["run"], {"KIZUKI_DATA_DIR": str(tmp / "dir"), **BROKER}, "unable to open database file"),
        (["migrate"], {"KIZUKI_DATA_DIR": str(tmp / "bad")}, "file is not a database"),
        (["migrate"], {"KIZUKI_CASES__DB_URL": "mysql://x/y"}, "is not a case database URL"),
        (["migrate"], {"KIZUKI_CASES__DB_URL": missing_db}, '"kizuki_no_such_db" does not exist'),
        (["create-api-key", "ci", "--role", "superuser"], {}, "role must be one of"),
        (["run"], {"KIZUKI_API__HOST": "192.0.2.1", **BROKER}, "192.0.2.1 is not an address of"),
        (
            ["run"],
            {
                "KIZUKI_ENVIRONMENT": "production",
                "KIZUKI_API__SECRET_KEY": "s" * 40,
                "KIZUKI_NOTIFY__MODE": "apprise",
                **BROKER,
            },
            "KIZUKI_NOTIFY__PUBLIC_BASE_URL",
        ),
    ]


def test_every_start_up_mistake_is_one_line(capsys, fresh: Path, monkeypatch) -> None:  # noqa: ANN001
    for args, env, expected in _mistakes(fresh):
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            code, out, err = kizuki(
                capsys, *args, *(["--port", str(free_port())] if args == ["run"] else [])
            )
        lines = err.strip().splitlines()
        assert code == 2, (args, env, out, err)
        assert len(lines) == 1 and lines[0].startswith("kizuki: ") and expected in lines[0], err


def test_a_lingering_connection_does_not_make_the_port_taken() -> None:
    port = free_port()
    with socket.socket() as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", port))
        server.listen()
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = server.accept()
        accepted.close()  # the server side closes first: its end lingers in TIME_WAIT
        client.close()
    with socket.socket() as naive, pytest.raises(OSError) as refused:
        naive.bind(("127.0.0.1", port))  # what the old check did: "port is taken"
    assert refused.value.errno == errno.EADDRINUSE
    assert bind_problem("127.0.0.1", port) is None  # uvicorn binds with SO_REUSEADDR too
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen()
        assert (
            bind_problem("127.0.0.1", port)
            == f"port {port} on 127.0.0.1 is taken by another program"
        )
