"""Does an agent fit a case? Product line, failure-mode skill and the customer's language.

Manual assignment to an agent who lacks any of them is refused unless the assigner
gives a reason (``CaseService.assign(..., override=...)``), which goes on the timeline.
"""

from __future__ import annotations

from tickets.models import Agent
from tickets.registry import language_of
from tickets.routing import Need


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
