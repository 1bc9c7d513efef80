"""`kizuki demo` and `kizuki run` as a user runs them: a real process, real output."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import alive, children_of, free_port

KIZUKI = [sys.executable, "-c", "from kizuki.cli import main; main()"]


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIZUKI_")}
    env.update({"KIZUKI_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def test_demo_runs_the_pipeline_and_leaves_cases_and_notifications(tmp_path: Path) -> None:
    port = free_port()
    result = subprocess.run(
        [
            *KIZUKI,
            "demo",
            "--devices",
            "20",
            "--speed",
            "0",
            "--port",
            str(port),
            "--exit-when-done",
        ],
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert f"http://127.0.0.1:{port}/" in out
    last = [line for line in out.splitlines() if "cases opened" in line][-1]
    opened = int(last.split("cases opened ")[1].split()[0])
    sent = int(last.split("notifications sent ")[1].split()[0])
    # quiet hours follow the replayed (simulated) clock: a notice held by them goes out
    # in the customer's simulated morning, so only one raised in the last night is held
    held = int(last.split("(")[-1].split()[0]) if "held for quiet hours" in last else 0
    assert opened >= 1 and sent >= 1 and sent + held >= opened, last
    assert "broker stopped" in out
    assert "Traceback" not in result.stderr
    # every notice marked sent has its message in the outbox, and no message is there
    # without one: counted after the exit, since notices held for quiet hours on the
    # replayed clock may go out once the demo's clock goes live, after the last line
    outbox = tmp_path / "data" / "demo" / "outbox"
    with sqlite3.connect(tmp_path / "data" / "demo" / "cases.db") as db:
        [(sent_in_the_end,)] = db.execute(
            "SELECT count(*) FROM notifications WHERE status = 'sent'"
        ).fetchall()
    assert sent_in_the_end >= sent
    assert len(list(outbox.iterdir())) == sent_in_the_end
    # cases open on the replayed clock: at the telemetry time that opened them (or, when
    # the case thread lags a flat-out replay on a busy machine, a later replayed time),
    # never after the newest reading the fleet sent, so not on the wall clock
    with sqlite3.connect(tmp_path / "data" / "demo" / "cases.db") as db:
        rows = db.execute("SELECT started_at, opened_at FROM cases").fetchall()
    with sqlite3.connect(tmp_path / "data" / "demo" / "telemetry.db") as db:
        newest_ms = db.execute("SELECT max(ts_ms) FROM points").fetchone()[0]
    newest = datetime.fromtimestamp(newest_ms / 1000, UTC)
    assert newest < datetime.now(UTC)
    ten_days_ago = datetime.now(UTC) - timedelta(days=10, hours=1)
    for started, opened in rows:
        started_at, opened_at = (
            datetime.fromisoformat(t).replace(tzinfo=UTC) for t in (started, opened)
        )
        assert ten_days_ago < started_at <= opened_at <= newest
    assert_escalation_and_a_truthful_resolution(out, tmp_path / "data" / "demo" / "cases.db")


WATCHING = ("We have fixed it and are watching", "修理を行い、経過を見守っています")


def assert_escalation_and_a_truthful_resolution(out: str, cases_db: Path) -> None:
    """The demo's story: a case escalates, and one is resolved as repaired while its device
    is still out of range, so its customer is told "we fixed it and are watching"."""
    [said] = [line for line in out.splitlines() if line.startswith("Resolution: case #")]
    assert "resolved as repaired_on_site while its telemetry is still out of range" in said
    case_id = int(said.split("#")[1].split()[0])
    with sqlite3.connect(cases_db) as db:
        escalated = db.execute("SELECT count(*) FROM case_events WHERE kind = 'escalated'")
        assert escalated.fetchone()[0] >= 1, "no case escalated in the demo"
        code, note = db.execute(
            "SELECT resolution_code, resolution_note FROM cases "
            "WHERE id = ? AND status = 'resolved'",
            (case_id,),
        ).fetchone()
        [(detail,)] = db.execute(
            "SELECT detail FROM case_events WHERE case_id = ? AND kind = 'resolve'", (case_id,)
        ).fetchall()
        notices = db.execute(
            "SELECT subject, status, last_error FROM notifications "
            "WHERE case_id = ? AND kind = 'all_clear'",
            (case_id,),
        ).fetchall()
    assert code == "repaired_on_site" and "keep watching" in note
    assert '"device_out_of_range": true' in detail
    [(subject, status, error)] = notices
    assert any(words in subject for words in WATCHING), notices
    # sent, or held until the customer's quiet hours end (on the replayed clock)
    assert status == "sent" or (status == "pending" and error.startswith("quiet hours")), notices
    assert subject in said


def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*KIZUKI, "demo", "--devices", "10", "--port", str(port)],
        env=env_for(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        children = children_of(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert "broker stopped" in out
    for child in children:  # the broker it started is gone too
        assert not alive(child)


def test_wrong_settings_stop_start_up_with_one_clear_line(tmp_path: Path) -> None:
    cases = [
        ({"KIZUKI_MQTT__URL": "http://broker"}, "KIZUKI_MQTT__URL"),
        ({"KIZUKI_MQTT__URL": f"mqtt://127.0.0.1:{free_port()}"}, "cannot reach MQTT broker"),
        ({"KIZUKI_API__PORT": "eighty"}, "KIZUKI_API__PORT"),
        ({}, "set KIZUKI_MQTT__URL"),
        (
            {
                "KIZUKI_ENVIRONMENT": "production",
                "KIZUKI_API__SECRET_KEY": "kizuki-dev-secret-change-me",
            },
            "KIZUKI_API__SECRET_KEY is a published",
        ),
        (
            {"KIZUKI_ENVIRONMENT": "production", "KIZUKI_API__SECRET_KEY": "short"},
            "KIZUKI_API__SECRET_KEY has 5 characters",
        ),
        (
            {"KIZUKI_ENVIRONMENT": "production", "KIZUKI_API__SECRET_KEY": "x" * 40},
            "KIZUKI_NOTIFY__MODE=apprise",
        ),
    ]
    for extra, expected in cases:
        result = subprocess.run(
            [*KIZUKI, "run", "--port", str(free_port())],
            env=env_for(tmp_path, **extra),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (extra, result.stderr)
        lines = [line for line in result.stderr.splitlines() if line.startswith("kizuki:")]
        assert len(lines) == 1 and expected in lines[0], result.stderr
        assert "Traceback" not in result.stderr


def test_port_taken_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*KIZUKI, "demo", "--port", str(port)],
            env=env_for(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is taken" in result.stderr
