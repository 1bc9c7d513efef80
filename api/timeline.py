"""A case's timeline for the case page, in the reader's language.

The case service records events with structured details (tickets/); routing reasons
arrive as English sentences from ``tickets.routing``, so their known shapes are matched
here and said again in the page's language. Anything unrecognised is shown as it was
recorded, marked ``lang="en"``; what people typed (notes, reasons, comments) is shown as
they typed it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from api.i18n import translator
from api.schemas import CaseEventPublic
from api.templating import duration, term, when_in

Tr = Callable[..., str]
REASONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"least loaded of (?P<n>\d+) skilled agents with free capacity "
            r"\((?P<load>\d+)/(?P<cap>\d+) open cases\)"
        ),
        "rr_least_loaded",
    ),
    (re.compile(r"all (?P<n>\d+) skilled agents at capacity \((?P<names>.*)\)"), "rr_all_busy"),
    (
        re.compile(
            r"no active agent with (?P<what>product line|skill|language) "
            r"""['"](?P<wanted>.*)['"] \(and the other skills needed\)"""
        ),
        "rr_missing",
    ),
    (re.compile(r"no active agents"), "rr_no_agents"),
    (re.compile(r"assigned by (?P<actor>\S+)"), "rr_assigned_by"),
    (re.compile(r"unassigned by (?P<actor>\S+)"), "rr_unassigned_by"),
]


@dataclass
class Line:
    text: str
    lang: str | None = None  # None: the page's language
    note: bool = False  # something a person wrote


@dataclass
class Entry:
    kind: str
    at: datetime
    label: str
    actor: str
    raw_actor: str
    lines: list[Line] = field(default_factory=list)


def actor_label(actor: str, _: Tr) -> str:
    """'user:sato' -> 'sato', 'key:grafana' -> 'API key grafana', 'kizuki' -> 'Kizuki'."""
    kind, _sep, name = actor.partition(":")
    if kind == "user" and name:
        return name
    if kind == "key" and name:
        return _("actor_key", name=name)
    if kind == "customer" and name:
        return _("actor_customer", id=name)
    if actor == "bot":
        return _("bot_name")
    return "Kizuki" if actor == "kizuki" else term(_, "actor", actor)


def routing_reason(reason: str, _: Tr) -> Line:
    """A routing reason in the page's language, or as recorded if its shape is unknown."""
    for pattern, key in REASONS:
        if match := pattern.fullmatch(reason):
            values = match.groupdict()
            if "what" in values:
                values["what"] = _("need_" + values["what"])
            if "actor" in values:
                values["actor"] = actor_label(values["actor"], _)
            return Line(_(key, **values))
    return Line(reason, lang="en")


def _status_lines(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    """acknowledge, start, resolve, close, reopen: how, and what the agent wrote."""
    lines = [Line(term(_, "rc", d["code"]))] if d.get("code") else []
    if d.get("device_out_of_range") and d.get("code") != "recovered":
        lines.append(Line(_("tl_out_of_range")))
    if d.get("auto") and isinstance(d.get("healthy_for_s"), int | float):
        lines.append(Line(_("tl_auto_resolved", t=duration(d["healthy_for_s"], locale))))
    for key in ("note", "reason"):  # typed by the agent
        if d.get(key):
            lines.append(Line(str(d[key]), note=True))
    return lines


def _opened(d: dict[str, Any], _: Tr, locale: str, tz: str = "UTC") -> list[Line]:
    severity, priority = _(str(d.get("severity", ""))), d.get("priority", "")
    lines = [Line(_("tl_opened", severity=severity, priority=priority))]
    if locale == "en" and d.get("why"):  # detection's own words are English
        lines.append(Line(in_zone(str(d["why"]), tz), lang="en"))
    return lines


UTC_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d) UTC")


def in_zone(text: str, tz: str) -> str:
    """``text`` with each "2026-12-05 11:43 UTC" in it said in the zone ``tz``, named
    (detection writes its explanations in UTC)."""

    def local(match: re.Match[str]) -> str:
        at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        return when_in(at, tz)

    return UTC_TIME.sub(local, text)


def _severity(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    a, b = _(str(d.get("severity_from"))), _(str(d.get("severity_to")))
    return [Line(_("tl_severity", a=a, b=b))]


def _escalated(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    return [*_severity(d, _, locale), Line(term(_, "tl_reason", d.get("reason", "")))]


def _limit(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    observed, limit = d.get("observed"), d.get("limit")
    if not isinstance(observed, int | float) or not isinstance(limit, int | float):
        return []
    return [Line(_("tl_observed_limit", observed=f"{observed:.4g}", limit=f"{limit:.4g}"))]


def _again(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    score = d.get("score")
    return [Line(_("tl_score", score=f"{score:.2f}"))] if isinstance(score, int | float) else []


def _recovering(d: dict[str, Any], _: Tr, locale: str, tz: str = "UTC") -> list[Line]:
    if not d.get("healthy_since"):
        return []
    since = when_in(datetime.fromisoformat(str(d["healthy_since"])), tz)
    return [Line(_("tl_healthy_since", when=since))]


def _assigned(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    who = [Line(_("tl_agent", name=d["agent_name"]))] if d.get("agent_name") else []
    return who + ([routing_reason(str(d["reason"]), _)] if d.get("reason") else [])


def _notified(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    kind, channel = _(str(d.get("kind", ""))), term(_, "ch", d.get("channel", ""))
    again = [Line(_("tl_resent"))] if d.get("duplicate") else []
    return [Line(_("tl_notified", kind=kind, channel=channel)), *again]


def _feedback(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    vote = [Line(_("tl_vote_" + str(d["vote"])))] if d.get("vote") in ("up", "down") else []
    return vote + ([Line(str(d["comment"]), note=True)] if d.get("comment") else [])


def _note(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    return [Line(str(d.get("text", "")), note=True)]


def _message(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    via = [Line(_("tl_via", channel=term(_, "ch", d.get("channel", ""))))]
    return via + ([Line(str(d["text"]), note=True)] if d.get("text") else [])


LACK_TERMS = {"skill": "skill", "language": "lang", "product": "pl"}


def _override(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    parts = [str(x).partition(":") for x in d.get("lacks") or []]
    lacks = ", ".join(term(_, LACK_TERMS.get(kind, kind), value) for kind, _s, value in parts)
    return [Line(_("tl_lacks", what=lacks)), Line(str(d.get("reason", "")), note=True)]


def _handoff(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    return [Line(str(d.get("reason", "")), lang="en")] if d.get("reason") else []


def _rerouted(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    names = {k: d.get(k, "") for k in ("from_agent_name", "to_agent_name", "tier_needed")}
    return [Line(_("tl_rerouted", **names))]


def _reroute_wanted(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    facts = {k: d.get(k, "") for k in ("agent_name", "agent_tier", "tier_needed")}
    return [Line(_("tl_reroute_wanted", **facts))]


def _agent_told(d: dict[str, Any], _: Tr, locale: str) -> list[Line]:
    about = term(_, "tl_told", d.get("about", ""))
    return [Line(_("tl_agent_told", name=d.get("agent_name", ""), about=about))]


DETAILS: dict[str, Callable[[dict[str, Any], Tr, str], list[Line]]] = {
    "rerouted": _rerouted,
    "reroute_wanted": _reroute_wanted,
    "agent_told": _agent_told,
    "opened": _opened,
    "severity_raised": _severity,
    "escalated": _escalated,
    "limit_crossed": _limit,
    "anomaly_again": _again,
    "recovering": _recovering,
    "assigned": _assigned,
    "unassigned": _assigned,
    "notified": _notified,
    "feedback": _feedback,
    "note": _note,
    "message_in": _message,
    "message_out": _message,
    "assign_override": _override,
    "handoff": _handoff,
    "linked": lambda d, _, locale: [Line(str(d.get("external_ref") or "—"))],
    "sla_restarted": lambda d, _, locale: [Line(_("tl_sla_demo"))],
}


def timeline(events: list[CaseEventPublic], locale: str, tz: str = "UTC") -> list[Entry]:
    """Newest first, each with its label, actor and detail lines (times in ``tz``)."""
    _ = translator(locale)
    details = DETAILS | {
        "recovering": partial(_recovering, tz=tz),
        "opened": partial(_opened, tz=tz),
    }
    entries = []
    for e in reversed(events):
        label = _("ev_" + e.kind)
        entries.append(
            Entry(
                kind=e.kind,
                at=e.at,
                label=e.kind.replace("_", " ") if label.startswith("ev_") else label,
                actor=actor_label(e.actor, _),
                raw_actor=e.actor,
                lines=details.get(e.kind, _status_lines)(e.detail, _, locale),
            )
        )
    return entries
