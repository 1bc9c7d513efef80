"""Provider settings kept out of contact URLs: a contact names only its recipient and
``notify.providers`` says which account (Apprise URL template) it goes out through."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from kizuki.config import Settings
from tests.tickets.conftest import WebhookReceiver, make_event
from tickets.channels import providers
from tickets.dispatcher import Dispatcher
from tickets.registry import import_manifest
from tickets.service import CaseService
from tickets.settings import TicketsConfig


def test_examples() -> None:
    assert doctest.testmod(providers).failed == 0


def test_a_bare_recipient_goes_out_through_the_configured_account(
    session_factory,
    profiles,
    clock,
    webhook: WebhookReceiver,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    import_manifest(
        session_factory,
        {
            "customers": [
                {"id": "c-9", "name": "Kai", "contacts": [{"url": "sms://+15550001234"}]}
            ],
            "devices": [{"id": "ac-p", "model": "aircon-x1", "customer_id": "c-9"}],
        },
    )
    template = f"json://127.0.0.1:{webhook.port}/hook?recipient={{target}}"
    root = Settings(
        data_dir=tmp_path,
        notify={
            "mode": "apprise",
            "public_base_url": "https://kizuki.example",
            "providers": {"sms": template},
        },
    )
    config = TicketsConfig.of(root)
    CaseService(session_factory, profiles, config, clock=clock).handle(make_event("ac-p"))
    assert Dispatcher(session_factory, config, clock=clock).run_once() == 1
    assert webhook.hits == 1 and len(webhook.delivered()) == 1


def test_a_template_without_target_is_refused() -> None:
    with pytest.raises(ValueError, match="notify.providers.sms must be an Apprise URL"):
        Settings(notify={"providers": {"sms": "twilio://sid:token@+1555"}})
