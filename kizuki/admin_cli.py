"""``kizuki user``, ``kizuki agent`` and ``kizuki maintenance``: provision the service team.

Each command opens (and migrates) the case database named by the settings, so it works
on a fresh install before ``kizuki run`` has ever started.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from sqlalchemy.orm import Session, sessionmaker

user_app = typer.Typer(help="Web logins of the service team.", no_args_is_help=True)
agent_app = typer.Typer(help="Agents cases are routed to.", no_args_is_help=True)
maintenance_app = typer.Typer(
    help="Maintenance windows: anomalies of a device in one open no case (suppress) or "
    "a case without a customer notice (quiet).",
    no_args_is_help=True,
)


class AdminError(Exception):
    """A provisioning request that cannot be done; printed as one line (exit 2)."""


def _db() -> sessionmaker[Session]:
    from kizuki.cli_settings import settings_or_exit
    from kizuki.runner import open_cases_db

    return open_cases_db(settings_or_exit())


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


# -- users ------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="viewer, agent or admin.")] = "agent",
    agent: Annotated[
        str | None, typer.Option(help="Link the login to this agent (id or e-mail).")
    ] = None,
    locale: Annotated[str, typer.Option(help="Language of the pages: en or ja.")] = "en",
    ask: Annotated[
        bool, typer.Option("--ask", help="Type the password instead of generating one.")
    ] = False,
) -> None:
    """Add a login (or reset an existing one's password and role). Without --ask a random
    password is generated and printed once; only its hash is stored."""
    from api.auth import create_user, new_password
    from tickets.team import AgentError, find_agent

    factory = _db()
    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True) if ask else ""
    agent_id = None
    if agent is not None:
        with factory() as session:
            try:
                agent_id = find_agent(session, agent).id
            except AgentError as exc:
                raise AdminError(str(exc)) from None
    generated = new_password() if not password else None
    try:
        create_user(factory, username, password or str(generated), role, locale, agent_id)
    except ValueError as exc:
        raise AdminError(str(exc)) from None
    typer.echo(f"user {username} ({role}) ready")
    if generated:
        typer.echo(f"password (shown once): {generated}")


@user_app.command("list")
def user_list() -> None:
    """Every login with its role, linked agent and whether it may log in."""
    from api.auth import list_users

    for user in list_users(_db()):
        state = "active" if user.active else "disabled"
        agent = f" agent #{user.agent_id}" if user.agent_id else ""
        typer.echo(f"{user.username}\t{user.role}\t{state}{agent}")


@user_app.command("disable")
def user_disable(username: str) -> None:
    """Stop a login from logging in (its sessions end; `user add` enables it again)."""
    from api.auth import set_user_active

    if not set_user_active(_db(), username, active=False):
        raise AdminError(f"no user {username!r}")
    typer.echo(f"user {username} disabled")


# -- agents -----------------------------------------------------------------------------


@agent_app.command("add")
def agent_add(
    name: str,
    email: Annotated[str, typer.Option(help="The agent's e-mail address (their key).")],
    skill: Annotated[
        list[str] | None, typer.Option(help="Failure-mode skill, e.g. aircon-repair (repeat).")
    ] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="Language spoken with customers (repeat).")
    ] = None,
    product_line: Annotated[
        list[str] | None, typer.Option(help="Product line covered, e.g. pumps (repeat).")
    ] = None,
    team: Annotated[list[str] | None, typer.Option(help="Team name (repeat).")] = None,
    tier: Annotated[
        int,
        typer.Option(
            help="Support level: 1 first line .. 3 expert. Routing gives each severity "
            "agents of the tier cases.min_tier names (critical: 2)."
        ),
    ] = 1,
    capacity: Annotated[int, typer.Option(help="Open cases the agent can hold.")] = 5,
) -> None:
    """Add an agent (or update the one with this e-mail); routable at once."""
    from tickets.team import AgentError, AgentSpec, add_agent

    spec = AgentSpec(
        name,
        email,
        skills=_split(skill),
        languages=_split(language) or ["en"],
        product_lines=_split(product_line),
        capacity=capacity,
        tier=tier,
        teams=_split(team),
    )
    try:
        agent_id = add_agent(_db(), spec)
    except AgentError as exc:
        raise AdminError(str(exc)) from None
    typer.echo(f"agent #{agent_id} {name} <{email}> ready")


@agent_app.command("list")
def agent_list() -> None:
    """Every agent with skills, languages, product lines, tier, capacity and teams."""
    from tickets.team import list_agents

    for a in list_agents(_db()):
        state = "active" if a.active else "disabled"
        typer.echo(
            f"#{a.id}\t{a.name} <{a.email}>\t{state}\ttier {a.tier}\tcapacity {a.capacity}\t"
            f"skills {','.join(a.skills) or '-'}\tlanguages {','.join(a.languages) or '-'}\t"
            f"lines {','.join(a.product_lines) or '-'}\tteams {','.join(a.teams) or '-'}"
        )


@agent_app.command("disable")
def agent_disable(agent: Annotated[str, typer.Argument(help="Agent id or e-mail.")]) -> None:
    """Route no new case to this agent (their open cases stay theirs)."""
    from tickets.team import AgentChange, AgentError, change_agent

    try:
        row = change_agent(_db(), agent, AgentChange(active=False))
    except AgentError as exc:
        raise AdminError(str(exc)) from None
    typer.echo(f"agent #{row.id} {row.name} disabled")


# -- maintenance ------------------------------------------------------------------------


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise AdminError(
            f"{text!r} is not an ISO date-time (e.g. 2026-12-24T08:00+09:00)"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@maintenance_app.command("add")
def maintenance_add(
    device: str,
    start: Annotated[str, typer.Option(help="ISO date-time; without offset it is UTC.")],
    end: Annotated[str, typer.Option(help="ISO date-time; without offset it is UTC.")],
    mode: Annotated[str, typer.Option(help="suppress or quiet.")] = "suppress",
    reason: Annotated[str, typer.Option(help="Shown on the device's page.")] = "",
) -> None:
    """Schedule a maintenance window on a device."""
    from tickets.registry import RegistryError, schedule_maintenance

    try:
        window = schedule_maintenance(_db(), device, _when(start), _when(end), mode, reason)
    except RegistryError as exc:
        raise AdminError(str(exc)) from None
    typer.echo(f"maintenance window #{window} on {device} scheduled")


@maintenance_app.command("list")
def maintenance_list(
    device: Annotated[str | None, typer.Argument(help="Only this device.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include windows that ended.")] = False,
) -> None:
    """Maintenance windows that have not ended yet (all with --all)."""
    from tickets.team import list_maintenance

    after = None if all_ else datetime.now(UTC)
    for w in list_maintenance(_db(), device, after):
        typer.echo(
            f"#{w.id}\t{w.device_id}\t{w.starts_at.isoformat()} .. {w.ends_at.isoformat()}\t"
            f"{w.mode}\t{w.reason}"
        )


@maintenance_app.command("cancel")
def maintenance_cancel(window_id: int) -> None:
    """Delete a maintenance window."""
    from tickets.team import cancel_maintenance

    if not cancel_maintenance(_db(), window_id):
        raise AdminError(f"no maintenance window #{window_id}")
    typer.echo(f"maintenance window #{window_id} cancelled")


notify_app = typer.Typer(help="Notification delivery.", no_args_is_help=True)


@notify_app.command("test")
def notify_test(
    contact: Annotated[
        str, typer.Argument(help="A contact URL (mailto://a@b, slack://...) or an address.")
    ],
) -> None:
    """Send one test notice to CONTACT now, through the configured relay or service;
    exit status 1 when it was not delivered."""
    from kizuki.cli_settings import settings_or_exit
    from tickets.channels.trial import contact_url, route_of, send_test
    from tickets.settings import TicketsConfig

    config = TicketsConfig.of(settings_or_exit())
    url = contact_url(contact)
    result = send_test(config, url)
    if not result.ok:
        typer.echo(f"kizuki: not delivered via {route_of(config, url)}: {result.error}", err=True)
        raise typer.Exit(1)
    typer.echo(f"test notice delivered via {route_of(config, url)}")


def register(app: typer.Typer) -> None:
    """Add the provisioning command groups to ``app``."""
    app.add_typer(user_app, name="user")
    app.add_typer(agent_app, name="agent")
    app.add_typer(maintenance_app, name="maintenance")
    app.add_typer(notify_app, name="notify")
