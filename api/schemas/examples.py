"""Example bodies for the OpenAPI document, one per schema; list wrappers reuse them.

Kept apart from the models so each model reads as its fields. The values describe one
story: case 7, a clogging air filter on ac-00001, assigned to Sato.
"""

from __future__ import annotations

from typing import Any

T0 = "2026-11-20T08:00:00Z"
T1 = "2026-11-20T08:05:00Z"

AGENT_BRIEF: dict[str, Any] = {"id": 2, "name": "Sato"}
EXPLANATION: dict[str, Any] = {
    "metric": "filter_dp_pa",
    "unit": "Pa",
    "expected": 55.0,
    "observed": 96.0,
    "trend_per_day": 6.1,
    "limit": 150.0,
    "eta_ts": 1796300000.0,
    "eta_range": [1796040000.0, 1796730000.0],
    "detectors": ["cusum", "trend"],
    "text": "filter_dp_pa 96 Pa (expected 55 Pa, limit 150 Pa), trend +6.1 Pa/day; "
    "limit reached in ~8.9 days (2026-12-01 08:53 UTC)",
}
CASE: dict[str, Any] = {
    "id": 7,
    "device_id": "ac-00001",
    "customer_id": "c-0001",
    "model": "aircon-x1",
    "product_line": "air-conditioning",
    "failure_mode": "filter_clog",
    "failure_mode_title": "Clogged air filter",
    "kb_article": "ac-filter-clog",
    "status": "open",
    "severity": "low",
    "priority": 4,
    "title": "Clogged air filter (ac-00001)",
    "score": 0.93,
    "quiet": False,
    "assignee": AGENT_BRIEF,
    "sla_due_at": "2026-11-27T08:00:00Z",
    "opened_at": T0,
    "updated_at": T0,
    "started_at": "2026-11-18T02:00:00Z",
    "last_anomaly_at": T0,
    "anomaly_count": 3,
    "acknowledged_at": None,
    "resolved_at": None,
    "closed_at": None,
}
CASE_EVENT: dict[str, Any] = {
    "id": 2,
    "at": T0,
    "actor": "kizuki",
    "kind": "assigned",
    "detail": {
        "agent_id": 2,
        "agent_name": "Sato",
        "reason": "least loaded of 2 skilled agents with free capacity (1/5 open cases)",
    },
}
DELIVERY_ATTEMPT: dict[str, Any] = {
    "id": 5,
    "at": T1,
    "channel": "email",
    "ok": True,
    "error": "",
    "recoverable": False,
}
NOTIFICATION: dict[str, Any] = {
    "id": 3,
    "kind": "detected",
    "locale": "ja",
    "channel": "email",
    "status": "sent",
    "subject": "[案件 #7] エアフィルターの目詰まり（ルームエアコン X1）",
    "short_body": "エアフィルターの目詰まり（ルームエアコン X1 ac-00001）。… "
    "役に立った: [評価リンク] 誤り: [評価リンク]",
    "long_body": "山田 太郎 様\n\n…\nこのお知らせは役に立ちましたか？ はい: [評価リンク]\n",
    "attempts": 1,
    "last_error": "",
    "created_at": T0,
    "sent_at": T1,
    "delivery_attempts": [DELIVERY_ATTEMPT],
}
FEEDBACK: dict[str, Any] = {
    "id": 1,
    "notification_id": 3,
    "vote": "up",
    "comment": "Thanks, I cleaned the filter.",
    "at": "2026-11-20T09:12:00Z",
}
CASE_DETAIL: dict[str, Any] = {
    **CASE,
    "explanation": EXPLANATION,
    "timeline": [CASE_EVENT],
    "notifications": [NOTIFICATION],
    "feedback": [FEEDBACK],
}
ANOMALY: dict[str, Any] = {
    "case_id": 7,
    "device_id": "ac-00001",
    "model": "aircon-x1",
    "failure_mode": "filter_clog",
    "severity": "low",
    "score": 0.93,
    "started_at": "2026-11-18T02:00:00Z",
    "last_anomaly_at": T0,
    "anomaly_count": 3,
    "explanation": EXPLANATION,
}
READING: dict[str, Any] = {
    "device_id": "ac-00001",
    "ts": 1795680000.0,
    "metrics": {"filter_dp_pa": 88.5, "fan_rpm": 1190.0},
}
DEVICE: dict[str, Any] = {
    "id": "ac-00001",
    "model": "aircon-x1",
    "product_line": "air-conditioning",
    "customer_id": "c-0001",
    "health": "degraded",
    "open_cases": 1,
    "latest": READING,
}
TELEMETRY: dict[str, Any] = {
    "device_id": "ac-00001",
    "metric": "filter_dp_pa",
    "unit": "Pa",
    "start": 1795600000.0,
    "end": 1795680000.0,
    "every": 3600.0,
    "points": [[1795600000.0, 61.2], [1795603600.0, 62.0]],
}
CONTACT: dict[str, Any] = {
    "id": 1,
    "channel": "email",
    "url": "mailto://yamada@example.com",
    "preference": 0,
    "enabled": True,
}
CUSTOMER: dict[str, Any] = {
    "id": "c-0001",
    "name": "Yamada Taro",
    "locale": "ja",
    "timezone": "Asia/Tokyo",
    "tier": "standard",
    "opted_out": False,
    "contacts": [CONTACT],
}
AGENT: dict[str, Any] = {
    "id": 2,
    "name": "Sato",
    "email": "sato@example.com",
    "product_lines": ["air-conditioning"],
    "skills": ["aircon-maintenance"],
    "languages": ["ja", "en"],
    "capacity": 5,
    "active": True,
    "open_cases": 2,
    "tier": 1,
    "teams": ["tokyo"],
}
KB_ARTICLE: dict[str, Any] = {
    "id": "ac-filter-clog",
    "locale": "en",
    "title": "The air filter is clogging",
    "summary": "Dust is building up in the air filter, so less air gets through.",
    "action": "Please clean the air filter.",
    "steps": ["Switch the unit off.", "Take out the filter and vacuum it."],
    "call_us": "If it is still weak after cleaning, call us.",
    "failure_modes": ["aircon-x1/filter_clog"],
}
DEAD_LETTER: dict[str, Any] = {
    "id": 12,
    "topic": "devices/ac-00001/telemetry",
    "reason": "bad_json",
    "detail": "Expecting value: line 1 column 1",
    "received_at": 1795680000.0,
    "payload": "{not json",
    "payload_bytes": 9,
    "payload_base64": "e25vdCBqc29u",
    "truncated": False,
    "sha256": "5d1ab1a0e8bd4c8b0d3c4e9f71f0e1f52c2c8f1d1b1d0c3e5f3c2b1a09080706",
}
API_KEY: dict[str, Any] = {
    "id": 4,
    "name": "grafana",
    "prefix": "3f9a1c2e",
    "role": "viewer",
    "created_at": T0,
    "last_used_at": T1,
    "revoked_at": None,
}
API_KEY_CREATED: dict[str, Any] = {
    "name": "grafana",
    "role": "viewer",
    "key": "kz_3f9a1c2e_Jd0bq6Xl2v9Hc1mQ4rYtW8sKpF7uN3aE",
}
PROBLEM: dict[str, Any] = {
    "type": "about:blank",
    "title": "Forbidden",
    "status": 403,
    "detail": "This needs the agent role.",
    "instance": "/api/v1/cases/7/resolve",
}


def listing(item: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A list wrapper's example: one item, its count, and any extra fields."""
    return {"data": [item], "count": 1, **extra}
