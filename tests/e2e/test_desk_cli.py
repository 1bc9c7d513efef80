"""The service desk's commands as a user runs them: CSV import and the answer scorecard."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from tests.e2e.test_cli import KIZUKI, env_for

CUSTOMERS = """\ufeffid,name,locale,timezone,quiet_hours,contacts
c-9001,佐藤 花子,ja,Asia/Tokyo,22-7,sms=log://sms/+819011112222; mailto://hanako@example.jp
c-9002,Alex Smith,en,Europe/London,,mailto://alex@example.com
"""
DEVICES = "id,model,customer_id\nac-9001,aircon-x1,c-9001\npump-9002,pump-p3,c-9002\n"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*KIZUKI, *args], env=env_for(tmp_path), capture_output=True, text=True, timeout=120
    )


def test_import_csv_brings_in_customers_contacts_and_devices(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (tmp_path / "devices.csv").write_text(DEVICES, encoding="utf-8")
    args = [
        "import-csv",
        "--customers",
        str(tmp_path / "customers.csv"),
        "--devices",
        str(tmp_path / "devices.csv"),
    ]
    result = run(tmp_path, *args)
    assert result.returncode == 0, result.stderr
    assert "imported 2 customers (3 contact points) and 2 devices" in result.stdout
    with sqlite3.connect(tmp_path / "data" / "cases.db") as db:
        contacts = db.execute(
            "SELECT channel, url FROM contact_points WHERE customer_id = 'c-9001' "
            "ORDER BY preference"
        ).fetchall()
        quiet = db.execute(
            "SELECT quiet_start_hour, quiet_end_hour FROM customers WHERE id = 'c-9001'"
        ).fetchone()
    assert contacts == [("sms", "log://sms/+819011112222"), ("email", "mailto://hanako@example.jp")]
    assert quiet == (22, 7)
    (tmp_path / "bad.csv").write_text("id,model\nac-1,\n", encoding="utf-8")
    bad = run(tmp_path, "import-csv", "--devices", str(tmp_path / "bad.csv"))
    assert bad.returncode == 2 and "devices.csv line 2: model is empty" in bad.stderr


def test_evaluate_answers_prints_accuracy_and_hand_off_rate(tmp_path: Path) -> None:
    result = run(tmp_path, "evaluate-answers", "--no-show-misses")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "self-service answers on 48 labelled questions"
    assert any(line.strip().startswith("en: ") for line in lines)
    assert any(line.strip().startswith("ja: ") for line in lines)
    accuracy = next(line for line in lines if "accuracy:" in line)
    assert float(accuracy.split()[-1].rstrip("%")) >= 85.0
    assert any("hand-off rate:" in line for line in lines)
