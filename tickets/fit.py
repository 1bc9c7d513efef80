"""Does an agent fit a case? Product line, failure-mode skill and the customer's language.

Manual assignment to an agent who lacks any of them is refused unless the assigner
gives a reason (``CaseService.assign(..., override=...)``), which goes on the timeline.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tickets.language import language_of
from tickets.lifecycle import CaseError
from tickets.models import Agent, Case
from tickets.routing import Need


class AgentMismatch(CaseError):
    """Manual assignment to an agent who lacks the case's product, skill or language."""


def lacks(agent: Agent, need: Need) -> list[str]:
    """What ``agent`` lacks for ``need``, as ``kind:value`` ("skill:pump-mechanical")."""
    missing = []
    if need.product_line and need.product_line not in agent.product_lines:
        missing.append(f"product:{need.product_line}")
    if need.skill and need.skill not in agent.skills:
        missing.append(f"skill:{need.skill}")
    language = language_of(need.language) if need.language else ""
    if language and language not in agent.languages:
        missing.append(f"language:{language}")
    return missing


def check_fit(
    session: Session, case: Case, agent_id: int | None, need: Need, override: str
) -> list[str]:
    """What the agent lacks for ``case``; raises ``AgentMismatch`` if anything and no
    ``override`` reason was given."""
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    missing = lacks(agent, need) if agent is not None else []
    if missing and not override.strip():
        name = agent.name if agent is not None else agent_id
        raise AgentMismatch(f"{name} lacks {', '.join(missing)}: give a reason to assign anyway")
    return missing
