"""The newcomer's path: `kizuki demo`, then answer a customer on their channel and see
their reply arrive in the same case, through the real SMTP endpoint and signed webhooks."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.e2e.test_cli import KIZUKI, env_for


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def wait_for_line(path: Path, text: str, proc: subprocess.Popen[bytes], limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while text not in path.read_text(encoding="utf-8", errors="replace"):
        assert proc.poll() is None, "the demo exited early"
        assert time.monotonic() < deadline, f"no {text!r} from the demo in {limit_s} s"
        time.sleep(0.5)


def column(page: str, channel: str) -> str:
    """One channel's column of the demo inbox."""
    return page.split(f'data-channel="{channel}"', 1)[1].split("</section>", 1)[0]


def wait_for_delivery(web: httpx.Client, channel: str, text: str, limit_s: float = 60) -> str:
    """The inbox column of ``channel`` once it shows ``text`` (the dispatcher delivers in
    the background)."""
    deadline = time.monotonic() + limit_s
    while text not in (found := column(web.get("/demo/inbox").text, channel)):
        assert time.monotonic() < deadline, f"no {text!r} delivered by {channel} in {limit_s} s"
        time.sleep(0.5)
    return found


@contextmanager
def running_demo(tmp_path: Path) -> Iterator[str]:
    """``kizuki demo`` as a newcomer runs it (a small fleet, flat out); yields the web UI's
    address once the fleet has been replayed, then stops it with Ctrl-C."""
    port = free_port()
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        proc = subprocess.Popen(
            [*KIZUKI, "demo", "--devices", "20", "--speed", "0", "--port", str(port)],
            env=env_for(tmp_path),
            stdout=stdout,
            stderr=stderr,
        )
    try:
        wait_for_line(out, "fleet replayed", proc, 240)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err.read_text()[-2000:]
    assert "Traceback" not in err.read_text()


def test_answer_a_customer_and_see_their_reply_in_the_case(tmp_path: Path) -> None:
    with (
        running_demo(tmp_path) as base,
        httpx.Client(base_url=base, timeout=30, follow_redirects=True) as web,
    ):
        form = {
            "username": "demo",
            "password": "demo",
            "csrf_token": csrf(web.get("/login").text),
        }
        web.post("/login", data=form)
        queue = web.get("/cases", params={"status": "open"}).text
        slas = re.findall(r'<span class="sla( [a-z]+)?"', queue)
        assert slas and not [c for c in slas if "overdue" in c], slas  # SLA starts live
        inbox = web.get("/demo/inbox").text
        channels = {}
        for channel in ("email", "sms", "line"):
            section = inbox.split(f'data-channel="{channel}"', 1)[1].split("</section>", 1)[0]
            found = re.search(r'data-notification="(\d+)" data-case="(\d+)"', section)
            if found:
                channels[channel] = (found.group(1), found.group(2))
        assert len(channels) >= 2, channels  # the demo's customers use several channels
        for channel, (notice, case_id) in channels.items():
            reply = {
                "csrf_token": csrf(inbox),
                "notification_id": notice,
                "text": f"Reply by {channel}: when can you come?",
            }
            page = web.post("/demo/inbox/reply", data=reply)
            assert page.url.path == f"/cases/{case_id}"
            assert f'data-direction="in" data-channel="{channel}"' in page.text
            assert f"Reply by {channel}: when can you come?" in page.text
            assert 'data-author="bot"' in page.text  # self-service handed it over
            answer = {"csrf_token": csrf(page.text), "text": "We will call you today."}
            sent = web.post(f"/cases/{case_id}/actions/write", data=answer)
            assert f'data-direction="out" data-channel="{channel}" data-author="user:demo"' in (
                sent.text
            )
        for channel, (_, case_id) in channels.items():  # the customer gets the answer
            section = wait_for_delivery(web, channel, "We will call you today.")
            assert f'data-case="{case_id}"' in section
