"""IMAP polling of an existing mailbox for customers' e-mail replies.

When the reply address is a mailbox at a mail provider (no MX to point at the SMTP
endpoint), Kizuki polls it instead: every ``inbound.imap_every_s`` it logs in, takes the
folder's unseen messages, files each one as the SMTP endpoint would
(:func:`tickets.inbound_mail.parse`, then ``accept``) and marks it seen. A message that
can never be filed (an unknown sender, too large, refused by the conversation rules) is
marked seen too, and logged, so it is not read again at every poll. When the server or
the case DB fails, the rest stays unseen for the next poll.

``inbound.imap_url``: ``imaps://user@host[:993][/folder]`` (TLS) or
``imap://user@host[:143][/folder]`` (STARTTLS when the server offers it); the folder is
``INBOX`` unless named; the password is ``inbound.imap_password``.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
import threading
from dataclasses import dataclass

from tickets.conversation import ConversationError
from tickets.inbound_mail import Accept, parse
from tickets.mailbox import Mailbox

log = logging.getLogger(__name__)


class ImapError(Exception):
    """The mailbox cannot be read (connection, log-in or folder)."""


@dataclass
class ImapPoller:
    """Files the unseen messages of one mailbox folder; ``poll_once()`` for one pass."""

    accept: Accept
    mailbox: Mailbox
    password: str
    max_bytes: int
    timeout_s: float = 30.0

    def poll_once(self) -> int:
        """File what is unseen; returns how many messages landed in a case."""
        client = self._open()
        try:
            typ, found = client.uid("SEARCH", "UNSEEN")
            uids = found[0].split() if typ == "OK" and found and found[0] else []
            return sum(self._file(client, uid.decode()) for uid in uids)
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                client.logout()

    def run_forever(self, stop: threading.Event, every_s: float) -> None:
        while not stop.is_set():
            try:
                self.poll_once()
            except ImapError as exc:
                log.warning("IMAP %s: %s; trying again later", self.mailbox.host, exc)
            except Exception:  # the case DB may be down: keep polling, it is logged
                log.exception("IMAP poll failed; trying again later")
            stop.wait(every_s)

    def _open(self) -> imaplib.IMAP4:
        box = self.mailbox
        try:
            if box.tls:
                context = ssl.create_default_context()
                client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    box.host, box.port, ssl_context=context, timeout=self.timeout_s
                )
            else:
                client = imaplib.IMAP4(box.host, box.port, timeout=self.timeout_s)
                if "STARTTLS" in client.capabilities:
                    client.starttls(ssl.create_default_context())
            client.login(box.user, self.password)
            typ, detail = client.select(_quoted(box.folder))
        except (imaplib.IMAP4.error, OSError) as exc:
            raise ImapError(str(exc)) from None
        if typ != "OK":
            raise ImapError(f"cannot open folder {box.folder!r}: {detail!r}")
        return client

    def _file(self, client: imaplib.IMAP4, uid: str) -> bool:
        """File one message; True if it landed in a case. Seen unless it may succeed
        later (then the exception goes up and the poll stops)."""
        typ, data = client.uid("FETCH", uid, "(BODY.PEEK[])")
        raw = next((item[1] for item in data if isinstance(item, tuple)), b"")
        landed = False
        if typ != "OK" or not raw:
            log.warning("IMAP message %s could not be fetched; skipped", uid)
        elif len(raw) > self.max_bytes:
            log.info("IMAP message %s refused: %d bytes is over the limit", uid, len(raw))
        else:
            landed = self._accept(uid, raw)
        client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        return landed

    def _accept(self, uid: str, raw: bytes) -> bool:
        try:
            accepted = self.accept(parse(raw))
        except ConversationError as exc:  # an unknown sender (NoMatchingCase) included
            log.info("IMAP message %s refused: %s", uid, exc)
            return False
        log.info("IMAP message %s -> case %s (%s)", uid, accepted.case_id, accepted.reply.outcome)
        return True


def _quoted(folder: str) -> str:
    """A folder name as an IMAP astring (quoted when it has spaces or quotes)."""
    if folder.isalnum():
        return folder
    return '"' + folder.replace("\\", "\\\\").replace('"', '\\"') + '"'
