"""The life of a case, as every layer names it."""

from __future__ import annotations

from typing import Literal

CaseStatus = Literal["open", "acknowledged", "in_progress", "resolved", "closed"]
OPEN_STATUSES: tuple[CaseStatus, ...] = ("open", "acknowledged", "in_progress")
CASE_STATUSES: tuple[CaseStatus, ...] = (*OPEN_STATUSES, "resolved", "closed")
