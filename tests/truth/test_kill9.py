"""Finding 1 with a real kill -9: the detection process is SIGKILLed at each step of
one delivery (before the journal write, before the ack, after the ack, after a case
commit), restarted from disk, and the broker redelivers what was not acked. The cases
and notices are the clean stream's. Each kill point is chosen by the test, so the run is
deterministic; the process really dies (no clean-up, no flush)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.truth.rig import outcome
from tests.truth.test_detection import clean  # noqa: F401 - fixture

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from core.profiles import load_profiles
    from kizuki.config import Settings
    from tests.truth.rig import Rig, batches, stream
    from tickets.db import make_session_factory
    from tickets.settings import TicketsConfig

    url, data, start, kill_at, step = sys.argv[1:6]
    start, kill_at, data = int(start), int(kill_at), Path(data)
    cases = {"auto_resolve_after_s": 3600.0, "update_min_interval_s": 0.0}
    settings = TicketsConfig.of(Settings(data_dir=data / "settings", cases=cases))
    rig = Rig(make_session_factory(url), load_profiles(), settings, data / "rig")

    def die(*args):
        os.kill(os.getpid(), signal.SIGKILL)

    def acked(n):
        with open(data / "acked", "w") as f:
            f.write(str(n))
            f.flush()
            os.fsync(f.fileno())

    deliveries = batches(stream())
    for n in range(start, len(deliveries)):
        if n % 20 == 19:
            rig.save()
        if n == kill_at and step == "before_journal":
            rig.journal.append = die
        rig.deliver(deliveries[n])
        if n == kill_at and step == "before_ack":
            die()
        acked(n + 1)
        if n == kill_at and step == "after_ack":
            die()
        if n == kill_at and step == "after_case_commit" and rig.journal.counts()["pending"]:
            rig.journal.done = die
        rig.settle()
        if n == kill_at and step == "after_case_commit":
            die()
    """
)
SCHEDULE = [
    (30, "before_journal"),
    (61, "before_ack"),
    (77, "after_ack"),
    (95, "after_case_commit"),
]


def child(db_url: str, data: Path, start: int, kill_at: int, step: str) -> int:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, db_url, str(data), str(start), str(kill_at), step],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode in (0, -9), done.stderr[-3000:]
    return done.returncode


def test_sigkill_at_each_step_gives_the_same_cases_and_notices(
    clean,  # noqa: F811 - the fixture imported above
    fleet,
    db_url,  # noqa: F811
    tmp_path,
):
    data, start = tmp_path / "kill9", 0
    data.mkdir()
    for kill_at, step in SCHEDULE:
        assert child(db_url, data, start, kill_at, step) == -9, f"not killed at {step}"
        start = int((data / "acked").read_text())
        assert start == (kill_at if step in ("before_journal", "before_ack") else kill_at + 1)
    assert child(db_url, data, start, -1, "none") == 0
    assert outcome(fleet) == clean
