"""The engine polls a real IMAP mailbox (pymap) when inbound.imap_url is set, and a
customer's e-mail reply lands in their case's conversation."""

from __future__ import annotations

import imaplib
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from tests.e2e.conftest import engine_settings, wait_until
from tests.tickets.conftest import make_event
from tests.tickets.test_conversation import imap_server
from tickets.models import Message
from tickets.registry import import_manifest

__all__ = ["imap_server"]  # the fixture, shared with the conversation tests


def test_the_engine_files_replies_from_the_polled_mailbox(
    tmp_path: Path,
    unique: str,
    start_engine,
    imap_server,  # noqa: ANN001
) -> None:
    port, user, password = imap_server
    settings = engine_settings(tmp_path, unique)
    inbound = settings.inbound.model_copy(
        update={
            "imap_url": f"imap://{user}@127.0.0.1:{port}/INBOX",
            "imap_password": SecretStr(password),
            "imap_every_s": 0.2,
        }
    )
    engine = start_engine(settings.model_copy(update={"inbound": inbound}), "mqtt://127.0.0.1:1883")
    device = f"ac-{unique}"
    import_manifest(
        engine.session_factory,
        {
            "customers": [
                {
                    "id": f"c-{unique}",
                    "name": "Alex",
                    "locale": "en",
                    "timezone": "UTC",
                    "contacts": [{"url": f"mailto://alex-{unique}@example.com"}],
                }
            ],
            "devices": [{"id": device, "model": "aircon-x1", "customer_id": f"c-{unique}"}],
        },
    )
    engine.start()
    case_id = engine.cases.handle(make_event(device, at=datetime.now(UTC))).case_id
    assert case_id is not None

    reply = EmailMessage()
    reply["From"], reply["Subject"] = f"alex-{unique}@example.com", f"Re: [Case #{case_id}]"
    reply.set_content("It started rattling again.\n\n> earlier text")
    mailbox = imaplib.IMAP4("127.0.0.1", port)
    mailbox.login(user, password)
    mailbox.append("INBOX", None, None, reply.as_bytes())
    mailbox.logout()

    def filed() -> list[str]:
        with engine.session_factory() as session:
            query = select(Message.body).where(
                Message.case_id == case_id, Message.direction == "in"
            )
            return list(session.scalars(query))

    wait_until(lambda: bool(filed()), 30, "the reply to land in the case")
    assert filed() == ["It started rattling again."]
