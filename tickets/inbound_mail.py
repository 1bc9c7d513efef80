"""An SMTP endpoint (aiosmtpd) that files customers' e-mail replies into their cases.

The sender (``From``, else the envelope sender) must be a customer's contact point; the
case is the one named in the subject (``[Case #12]``, as Kizuki's notices and messages
are titled), else the customer's latest open case. Quoted text below the reply is cut.
Unknown senders are refused with ``550``; messages over ``max_bytes`` with ``552``.
Binds to loopback by default; put a real MTA in front of it in production.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

from aiosmtpd.controller import Controller

from tickets.conversation import ConversationError, Inbound, NoMatchingCase
from tickets.inbox import Accepted

log = logging.getLogger(__name__)
QUOTE_START = re.compile(
    r"^(>|On .+ wrote:$|-----Original Message-----|.+さんは書きました|.+wrote:$)", re.MULTILINE
)
Accept = Callable[[Inbound], Accepted]


def reply_text(body: str) -> str:
    """The new part of an e-mail reply: everything above the first quoted line."""
    match = QUOTE_START.search(body)
    return (body[: match.start()] if match else body).strip()


def parse(raw: bytes, envelope_from: str = "") -> Inbound:
    """The customer message in a raw e-mail (plain-text part preferred)."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = msg.get_body(preferencelist=("plain", "html"))
    text = str(part.get_content()).replace("\r\n", "\n") if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", " ", text)
    sender = parseaddr(str(msg.get("From", "")))[1] or envelope_from
    return Inbound("email", sender, reply_text(str(text)), subject=str(msg.get("Subject", "")))


class _Handler:
    def __init__(self, accept: Accept, max_bytes: int) -> None:
        self.accept = accept
        self.max_bytes = max_bytes

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        raw = envelope.original_content or envelope.content
        if len(raw) > self.max_bytes:
            return "552 Message too large"
        try:
            accepted = self.accept(parse(raw, envelope.mail_from or ""))
        except NoMatchingCase as exc:
            log.info("inbound e-mail refused: %s", exc)
            return "550 No case for this sender"
        except ConversationError as exc:
            return f"554 {exc}"
        log.info("inbound e-mail -> case %s (%s)", accepted.case_id, accepted.reply.outcome)
        return "250 OK"


class MailEndpoint:
    """The SMTP endpoint; ``start()`` binds ``host:port``, ``stop()`` releases it."""

    def __init__(self, accept: Accept, host: str, port: int, max_bytes: int) -> None:
        self.host, self.port = host, port
        self._controller = Controller(
            _Handler(accept, max_bytes),
            hostname=host,
            port=port,
            data_size_limit=max_bytes,
            decode_data=False,
        )

    def start(self) -> None:
        """Listen (raises OSError when the port is taken)."""
        self._controller.start()
        log.info("SMTP endpoint for customer replies on %s:%s", self.host, self.port)

    def stop(self) -> None:
        self._controller.stop()
