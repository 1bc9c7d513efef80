"""The demo's customer inbox: what each channel delivered, side by side, and a reply box
that answers *as the customer* through the real inbound paths.

E-mail replies go by SMTP to Kizuki's SMTP endpoint; SMS and LINE replies are signed
webhooks to ``/hooks/inbound/{channel}``. Nothing here shortcuts into the case DB: a
visitor sees a reply arrive in the case exactly as a real one would.
"""

from __future__ import annotations

import json
import smtplib
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, FileSystemLoader
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from api.deps import CtxDep, PageAgentForm, PageUser, SessionDep
from api.i18n import pick_locale, translator
from api.templating import flash, render, term
from tickets.conversation import addresses
from tickets.models import Notification
from tickets.settings import InboundSettings
from tickets.signing import headers as signed

COLUMNS = ("email", "sms", "line")
SHOWN = 40  # latest notices per channel
router = APIRouter(prefix="/demo", include_in_schema=False)


def _inbound(request: Request) -> tuple[InboundSettings, str]:
    settings: InboundSettings = request.app.state.ctx.config.tickets.inbound
    api = request.app.state.ctx.config.api
    return settings, f"http://{api.host}:{api.port}"


@router.get("/inbox", response_class=HTMLResponse)
def inbox(request: Request, user: PageUser, ctx: CtxDep, db: SessionDep) -> Response:
    """The latest notices per channel, as each customer received them."""
    rows = db.scalars(
        select(Notification)
        .where(Notification.status == "sent")
        .order_by(Notification.sent_at.desc(), Notification.id.desc())
        .options(selectinload(Notification.customer), selectinload(Notification.contact_point))
        .limit(SHOWN * len(COLUMNS) * 3)
    ).all()
    columns: dict[str, list[Notification]] = {c: [] for c in COLUMNS}
    for row in rows:
        if row.channel in columns and len(columns[row.channel]) < SHOWN:
            columns[row.channel].append(row)
    return render(request, "demo_inbox.html", user, nav="inbox", now=ctx.now(), columns=columns)


def _reply_by_mail(settings: InboundSettings, row: Notification, sender: str, text: str) -> None:
    mail = EmailMessage()
    mail["From"], mail["To"] = sender, "service@kizuki.example"
    mail["Subject"] = f"Re: {row.subject}"
    mail.set_content(text)
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as client:
        client.send_message(mail)


def _reply_by_hook(
    settings: InboundSettings, base: str, channel: str, sender: str, text: str
) -> dict[str, Any]:
    raw = json.dumps({"from": sender, "text": text}).encode()
    secret = settings.webhook_secret.get_secret_value()
    head = signed(secret, int(time.time()), raw) | {"Content-Type": "application/json"}
    response = httpx.post(f"{base}/hooks/inbound/{channel}", content=raw, headers=head, timeout=10)
    if response.status_code != 202:
        raise HTTPException(502, f"the webhook answered {response.status_code}: {response.text}")
    return dict(response.json())


@router.post("/inbox/reply")
def reply(
    request: Request,
    who: PageAgentForm,
    db: SessionDep,
    notification_id: Annotated[int, Form(ge=1)],
    text: Annotated[str, Form(min_length=1, max_length=2000)],
) -> Response:
    """Answer a notice as its customer, on the channel it came by."""
    row = db.get(Notification, notification_id)
    if row is None or row.contact_point is None:
        raise HTTPException(404, f"No delivered notice {notification_id}.")
    settings, base = _inbound(request)
    sender = sorted(addresses(row.contact_point.url))[0]
    if row.channel == "email":
        if not settings.smtp_port:
            raise HTTPException(503, "The SMTP endpoint is off (inbound.smtp_port = 0).")
        _reply_by_mail(settings, row, sender, text)
    else:
        _reply_by_hook(settings, base, row.channel, sender, text)
    _ = translator(pick_locale(request, who.locale))
    channel = term(_, "ch", row.channel)
    flash(request, _("inbox_replied", name=row.customer.name, channel=channel, case=row.case_id))
    return RedirectResponse(f"/cases/{row.case_id}#conversation", status_code=303)


def install(app: FastAPI) -> None:
    """Add the demo inbox to a Kizuki app (``kizuki demo`` only)."""
    templates = app.state.templates
    here = FileSystemLoader(Path(__file__).with_name("templates"))
    templates.env.loader = ChoiceLoader([templates.env.loader, here])
    app.state.extra_nav = [("/demo/inbox", "inbox_nav", "inbox")]  # label: a message key
    app.include_router(router)
